// Shared pieces of the binding layer: the conversion between flatcore.Network and the core's
// Network, thread counts, and the callback that lets long C++ loops notice Ctrl-C and report
// progress.
#pragma once

#include <pybind11/eigen.h>
#include <pybind11/gil_safe_call_once.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <optional>
#include <string>

#include "flatcore/network.hpp"
#include "flatcore/resources.hpp"

namespace flatcore::bindings {

namespace py = pybind11;

using ConstMatrixArg = Eigen::Ref<const RowMatrix>;
using ConstVectorArg = Eigen::Ref<const Vector>;

// A thread count from Python: None is the process default (default_num_threads()). The core
// checks the count where it uses it.
inline int threads(std::optional<int> n_threads) { return n_threads ? *n_threads : default_num_threads(); }

// The binding of a core function f(net, X, n_threads) or f(net, X, y, n_threads): the thread
// count resolved, then f called with the GIL released.
template <class R>
auto on_inputs(R (*f)(const Network&, const ConstMatrixRef&, int)) {
  return [f](const Network& net, const ConstMatrixArg& X, std::optional<int> n_threads) {
    const int nt = threads(n_threads);
    py::gil_scoped_release release;
    return f(net, X, nt);
  };
}
template <class R>
auto on_data(R (*f)(const Network&, const ConstMatrixRef&, const ConstVectorRef&, int)) {
  return [f](const Network& net, const ConstMatrixArg& X, const ConstVectorArg& y,
             std::optional<int> n_threads) {
    const int nt = threads(n_threads);
    py::gil_scoped_release release;
    return f(net, X, y, nt);
  };
}

// Adds to a bound settings class (a keyword constructor whose arguments are its fields) the dict
// of its fields (as_dict), a repr that constructs it again, and pickling through the constructor.
template <class T>
void def_settings_record(py::class_<T>& cls, const char* name, py::dict (*to_dict)(const T&)) {
  cls.def("as_dict", to_dict)
      .def("__repr__",
           [name, to_dict](const T& o) {
             return std::string(name) + "(**" + py::repr(to_dict(o)).template cast<std::string>() + ")";
           })
      .def(py::pickle([to_dict](const T& o) { return to_dict(o); },
                      [](const py::dict& d) { return py::type::of<T>()(**d).template cast<T>(); }));
}

// Polled by the core between units of work while the GIL is released. At most every
// `interval` it takes the GIL, checks for pending signals (Ctrl-C) and calls the optional
// progress callable with the current step. Returns true to stop; the pending Python error
// (KeyboardInterrupt, or whatever the progress callable raised) is then re-raised by
// `raise_if_stopped` once the GIL is held again.
class Poller {
 public:
  explicit Poller(py::object progress = py::none(), double interval_s = 0.05)
      : progress_(std::move(progress)), interval_(interval_s) {}

  bool operator()(long step) {
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_) < interval_) return false;
    last_ = now;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      error_ = true;
      return true;
    }
    if (!progress_.is_none()) {
      try {
        progress_(step);
      } catch (py::error_already_set& e) {
        e.restore();
        error_ = true;
        return true;
      }
    }
    return false;
  }

  // Call with the GIL held.
  void raise_if_stopped() const {
    if (error_) throw py::error_already_set();
  }

 private:
  py::object progress_;
  std::chrono::duration<double> interval_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  bool error_ = false;
};

void bind_resources(py::module_& m);
void bind_numerics(py::module_& m);
void bind_hessian(py::module_& m);
void bind_training(py::module_& m);
void bind_spectrum(py::module_& m);
void bind_thread_tuner(py::module_& m);  // private test hooks

}  // namespace flatcore::bindings

// flatcore.Network (the Python class, python/flatcore/network.py) <-> flatcore::Network: every
// binding takes and returns networks as the Python class, so a network crosses the boundary as
// one object.
namespace pybind11::detail {

template <>
struct type_caster<flatcore::Network> {
  PYBIND11_TYPE_CASTER(flatcore::Network, const_name("flatcore.Network"));

  // The Python class, looked up once per process.
  static const object& network_class() {
    PYBIND11_CONSTINIT static gil_safe_call_once_and_store<object> storage;
    return storage
        .call_once_and_store_result([] { return module_::import("flatcore.network").attr("Network"); })
        .get_stored();
  }

  // A float64 array of the given ndim (the Python class keeps them so; anything else converts).
  static array_t<double, array::c_style | array::forcecast> as_array(handle h, ssize_t ndim) {
    auto a = array_t<double, array::c_style | array::forcecast>::ensure(h);
    if (!a || a.ndim() != ndim) throw type_error("flatcore.Network holds an array of the wrong kind");
    return a;
  }

  bool load(handle src, bool) {
    if (!isinstance(src, network_class())) return false;
    const auto W = as_array(src.attr("W"), 2), b = as_array(src.attr("b"), 1), v = as_array(src.attr("v"), 1);
    value.W = Eigen::Map<const flatcore::RowMatrix>(W.data(), W.shape(0), W.shape(1));
    value.b = Eigen::Map<const flatcore::Vector>(b.data(), b.shape(0));
    value.v = Eigen::Map<const flatcore::Vector>(v.data(), v.shape(0));
    value.beta = src.attr("beta").cast<double>();
    value.check();
    return true;
  }

  static handle cast(const flatcore::Network& net, return_value_policy, handle) {
    return network_class()(net.W, net.b, net.v, net.beta).release();
  }
};

}  // namespace pybind11::detail
