// The compiled module flatcore._core. Users import flatcore, whose Python layer checks every
// argument and then calls these thin wrappers (keyword arguments past the data). It is built
// once per instruction set, as flatcore._core_<variant> (FLATCORE_MODULE_NAME), and
// flatcore/_simd.py installs the one the CPU runs best as flatcore._core.
#include "common.hpp"
#include "flatcore/finite.hpp"
#include "flatcore/numerics.hpp"

namespace flatcore::bindings {

void bind_resources(py::module_& m) {
  m.def("default_num_threads", &default_num_threads);
  m.def(
      "set_default_num_threads",
      [](std::optional<int> n_threads) {
        if (n_threads)
          set_default_num_threads(*n_threads);
        else
          reset_default_num_threads();
      },
      py::arg("n_threads"), "Set the process-wide default thread count (None: back to the default).");
  m.def("max_num_threads", &max_num_threads);
  m.def("has_openmp", &has_openmp);
  m.def("threads_lost_to_fork", &threads_lost_to_fork,
        "Whether this process was forked after the core had started threads: then every call runs on "
        "one thread (the OpenMP runtime does not survive fork).");
  m.def("available_memory_bytes", []() -> std::optional<double> {
    const double bytes = available_memory_bytes();
    if (bytes < 0.0) return std::nullopt;
    return bytes;
  });
  m.def("simd_lanes", &simd_lanes);
  m.def("simd_kind", &simd_kind);
#ifdef FLATCORE_BUILD_FLAGS
  m.attr("build_flags") = FLATCORE_BUILD_FLAGS;
#else
  m.attr("build_flags") = "";
#endif
#ifdef FLATCORE_VARIANT
  m.attr("variant") = FLATCORE_VARIANT;
#else
  m.attr("variant") = "";
#endif
}

}  // namespace flatcore::bindings

#ifndef FLATCORE_MODULE_NAME
#define FLATCORE_MODULE_NAME _core
#endif

PYBIND11_MODULE(FLATCORE_MODULE_NAME, m) {
  namespace fb = flatcore::bindings;
  m.doc() = "flatcore's compiled core (use the flatcore package instead of this module)";
  // Every variant presents itself as flatcore._core: the classes below take their __module__
  // from this name, so a pickled TrainOptions made on one CPU loads on another.
  m.attr("__name__") = "flatcore._core";
  // Finite inputs whose result overflows float64: Python's FloatingPointError, as the Python
  // layer's own checks raise (flatcore._validation.check_result).
  pybind11::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const flatcore::NonFiniteError& e) {
      PyErr_SetString(PyExc_FloatingPointError, e.what());
    }
  });
  fb::bind_resources(m);
  fb::bind_interrupt(m);
  fb::bind_numerics(m);
  fb::bind_hessian(m);
  fb::bind_training(m);
  fb::bind_spectrum(m);
  fb::bind_thread_tuner(m);
}
