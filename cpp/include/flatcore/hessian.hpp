// The Hessian of the loss in closed form (docs/math.md, section 3): the dense matrix and the
// matrix-free operator with its Hessian-vector products. The exact trace is in trace.hpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "flatcore/interrupt.hpp"
#include "flatcore/network.hpp"
#include "flatcore/numerics.hpp"
#include "flatcore/resources.hpp"

namespace flatcore {

// Which part of H = Gauss-Newton part + residual part (docs/math.md, section 3) to compute.
enum class HessianPart { Full, GaussNewton, Residual };
// The part's name ("full", "gauss_newton", "residual"), the names in that order, and the part
// of a name (std::invalid_argument listing the names otherwise).
const char* part_name(HessianPart part);
std::vector<std::string> part_names();
HessianPart parse_part(const std::string& name);

// H = (1/n) sum_i g_i g_i^T + (1/n) sum_i r_i Hf_i, or one of its two parts; twice that for
// LossConvention::Mse. P x P, symmetric.
// `should_stop` (optional) is polled between row blocks; the result is then incomplete and
// `stopped` is set.
Eigen::MatrixXd dense_hessian(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                              HessianPart part = HessianPart::Full,
                              LossConvention convention = LossConvention::HalfMse,
                              int n_threads = default_num_threads(),
                              const StopCallback& should_stop = nullptr, bool* stopped = nullptr);
// Bytes dense_hessian allocates for P parameters: the matrix and its working buffers.
double dense_hessian_bytes(Index n_params, Index width);

// Bytes of the n x width activations a HessianOperator caches (rows padded like the kernels').
double activation_cache_bytes(Index n, Index width);
// Whether operators cache the activations by default: always below 64 MiB; up to 512 MiB when
// that is less than a quarter of the memory available now. Caching makes each product skip the
// forward pass; products are bitwise the same either way.
bool cache_activations_by_default(Index n, Index width);

// The Hessian at a fixed theta as a linear operator: it knows its size and how to apply itself
// (rows(), perform_op), so an eigensolver can be written against it. The residuals, and when
// `cache_activations` is set the n x width activations relu(w_k . x_i - b_k), are computed once
// at construction; each product is then one n x d x width product with the direction plus one
// back-projection. Owns copies of the network and the data. Products may be computed from
// several threads at once.
class HessianOperator {
 public:
  using Scalar = double;  // what an eigensolver written against the operator expects

  // kernel: Dense evaluates every pair in each product; Certified lists each neuron's active
  // points once (the mask at a fixed point is known exactly) and each product then costs what
  // the active pairs cost; Auto does so when at most kCertifiedShare of the pairs are active.
  // The listed path needs the cached activations (it falls back to Dense without them).
  HessianOperator(Network net, RowMatrix X, Vector y, HessianPart part = HessianPart::Full,
                  LossConvention convention = LossConvention::HalfMse, int n_threads = default_num_threads(),
                  bool cache_activations = true, Kernel kernel = Kernel::Auto);
  ~HessianOperator();
  HessianOperator(const HessianOperator&) = delete;
  HessianOperator& operator=(const HessianOperator&) = delete;

  Index rows() const;
  Index cols() const { return rows(); }
  // out = H u; u and out have size P and must not alias.
  void perform_op(const double* u, double* out) const;
  Vector apply(const ConstVectorRef& u) const;

  const Vector& residuals() const;
  const Network& network() const;
  HessianPart part() const;
  LossConvention convention() const;
  bool caches_activations() const;
  bool lists_active_pairs() const;  // products take the listed (certified) path
  long n_hvp() const;               // products computed so far

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// H u (one product; builds an operator without caching).
Vector hessian_vector_product(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                              const ConstVectorRef& u, HessianPart part = HessianPart::Full,
                              LossConvention convention = LossConvention::HalfMse,
                              int n_threads = default_num_threads());

}  // namespace flatcore
