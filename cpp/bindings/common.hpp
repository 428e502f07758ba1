// Shared helpers of the binding layer: building a core Network from arrays, and the callback
// that lets long C++ loops notice Ctrl-C and report progress.
#pragma once

#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>

#include <chrono>
#include <string>

#include "flatcore/network.hpp"

namespace flatcore::bindings {

namespace py = pybind11;

using ConstMatrixArg = Eigen::Ref<const RowMatrix>;
using ConstVectorArg = Eigen::Ref<const Vector>;

inline Network make_network(const ConstMatrixArg& W, const ConstVectorArg& b, const ConstVectorArg& v,
                            double beta) {
  Network net;
  net.W = W;
  net.b = b;
  net.v = v;
  net.beta = beta;
  net.check();
  return net;
}

inline HessianPart parse_part(const std::string& part) {
  if (part == "full") return HessianPart::Full;
  if (part == "gauss_newton") return HessianPart::GaussNewton;
  if (part == "residual") return HessianPart::Residual;
  throw py::value_error("part must be 'full', 'gauss_newton' or 'residual', got '" + part + "'");
}

// Polled by the core between units of work while the GIL is released. At most every
// `interval` it takes the GIL, checks for pending signals (Ctrl-C) and calls the optional
// progress callable with the current step. Returns true to stop; the pending Python error
// (KeyboardInterrupt, or whatever the progress callable raised) is then re-raised by
// `raise_if_stopped` once the GIL is held again.
class Poller {
 public:
  explicit Poller(py::object progress, double interval_s = 0.05)
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

void bind_numerics(py::module_& m);
void bind_hessian(py::module_& m);
void bind_training(py::module_& m);
void bind_spectrum(py::module_& m);

}  // namespace flatcore::bindings
