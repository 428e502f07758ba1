// The compiled module flatcore._core. Users import flatcore, whose Python layer checks every
// argument and then calls these thin wrappers.
#include "common.hpp"
#include "flatcore/numerics.hpp"
#include "flatcore/parallel.hpp"

PYBIND11_MODULE(_core, m) {
  namespace fb = flatcore::bindings;
  m.doc() = "flatcore's compiled core (use the flatcore package instead of this module)";
  m.def("default_num_threads", &flatcore::default_num_threads);
  m.def("has_openmp", &flatcore::has_openmp);
  m.def("simd_lanes", &flatcore::simd_lanes);
  m.def("simd_kind", &flatcore::simd_kind);
#ifdef FLATCORE_BUILD_FLAGS
  m.attr("build_flags") = FLATCORE_BUILD_FLAGS;
#else
  m.attr("build_flags") = "";
#endif
  fb::bind_numerics(m);
  fb::bind_hessian(m);
  fb::bind_training(m);
  fb::bind_spectrum(m);
}
