// The exact trace of the Hessian and its per-neuron terms (docs/math.md, sections 3 and 8).
#pragma once

#include "flatcore/hessian.hpp"

namespace flatcore {

// Per-neuron terms of the exact trace, tr H = beta + sum_k (A_k + B_k), for "half_mse":
//   A_k = mean_i phi_ik^2                         (from v_k's diagonal: phi = relu(z)),
//   B_k = v_k^2 mean_i a_ik (||x_i||^2 + 1)       (from w_k and b_k's),
//   beta = 1                                      (from the output bias's),
// all twice that for "mse". Rescaling neuron k by alpha_k (w, b times alpha_k, v over alpha_k)
// maps them to alpha_k^2 A_k and B_k / alpha_k^2.
struct TraceTerms {
  Vector A;
  Vector B;
  double beta = 1.0;
};
TraceTerms trace_terms(const Network& net, const ConstMatrixRef& X,
                       LossConvention convention = LossConvention::HalfMse,
                       int n_threads = default_num_threads());

// tr H, exact. The residual part has a zero diagonal, so tr(H) = tr(Gauss-Newton part).
double hessian_trace(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                     HessianPart part = HessianPart::Full,
                     LossConvention convention = LossConvention::HalfMse,
                     int n_threads = default_num_threads());

}  // namespace flatcore
