// How long computations are stopped early: the caller passes a callback that the core polls
// between units of work (row blocks, Hessian-vector products, GD steps).
#pragma once

#include <exception>
#include <functional>

namespace flatcore {

// Called between units of long work from the calling thread; returning true asks the work to
// stop early (used for Ctrl-C and progress reporting by the bindings). Takes the current step.
using StopCallback = std::function<bool(long)>;

// Thrown out of a computation that cannot return a partial result (an eigensolve) once its
// StopCallback has asked to stop.
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted"; }
};

}  // namespace flatcore
