// Finite results from finite inputs: the error thrown when float64 overflows, and a norm whose
// squares cannot overflow.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <stdexcept>
#include <string>

namespace flatcore {

// Thrown when finite inputs give inf or NaN (float64 overflow); the bindings raise it as Python's
// FloatingPointError. The message says what overflowed and what to do about it.
struct NonFiniteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ||v||_2 (Frobenius for a matrix), finite whenever the true norm is. The plain sum of squares
// overflows for entries above about 1e154 and loses the small ones below about 1e-154; then
// Eigen's scaled stableNorm is used instead. The common case costs one pass and gives the same
// bits as v.norm().
template <class Derived>
double safe_norm(const Eigen::MatrixBase<Derived>& v) {
  const double n = v.norm();
  if (std::isfinite(n) && n > 1e-140) return n;
  return v.stableNorm();
}

}  // namespace flatcore
