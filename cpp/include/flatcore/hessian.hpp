// The Hessian of the loss in closed form (MATH.md section 3): dense matrix, matrix-free
// Hessian-vector products and the exact trace.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "flatcore/network.hpp"
#include "flatcore/parallel.hpp"

namespace flatcore {

// H = (1/n) sum_i g_i g_i^T + (1/n) sum_i r_i Hf_i, or one of its two parts. P x P, symmetric.
// `should_stop` (optional) is polled between row chunks; the result is then incomplete and
// `stopped` is set.
Eigen::MatrixXd dense_hessian(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                              HessianPart part = HessianPart::Full, int n_threads = 0,
                              const StopCallback& should_stop = nullptr, bool* stopped = nullptr);

// The Hessian at a fixed theta as a linear operator: it knows its size and how to apply itself
// (rows(), perform_op), so an eigensolver can be written against it. The residuals, and when
// `cache_activations` is set the n x width activations relu(w_k . x_i - b_k), are computed once
// at construction; each product is then one n x d x width product with the direction plus one
// back-projection. Owns copies of the network and the data.
class HessianOperator {
 public:
  using Scalar = double;  // what an eigensolver written against the operator expects

  HessianOperator(Network net, RowMatrix X, Vector y, HessianPart part = HessianPart::Full,
                  int n_threads = 0, bool cache_activations = true);
  ~HessianOperator();
  HessianOperator(const HessianOperator&) = delete;
  HessianOperator& operator=(const HessianOperator&) = delete;

  Index rows() const { return net_.n_params(); }
  Index cols() const { return rows(); }
  // out = H u; u and out have size P and must not alias.
  void perform_op(const double* u, double* out) const;
  Vector apply(const ConstVectorRef& u) const;

  const Vector& residuals() const { return r_; }
  const Network& network() const { return net_; }
  HessianPart part() const { return part_; }
  bool caches_activations() const { return cached_; }
  long n_products() const { return n_products_.load(); }

 private:
  Network net_;
  RowMatrix X_;
  Vector y_;
  HessianPart part_;
  int n_threads_;
  RowChunks chunks_;
  PackedWeights w_;   // the network's weights as the kernels read them
  Vector r_;           // residuals f(x_i) - y_i
  // n x ld activations when cached, else null. The buffer is handed to the next operator when
  // this one is destroyed (one spare, at most 128 MiB, kept process-wide): a fresh one of tens
  // of MiB costs more in page faults than the forward pass that fills it, and eigensolves build
  // operators again and again (sharpness tracking during training, sweeps).
  std::unique_ptr<double[]> phi_;
  std::size_t phi_size_ = 0;
  bool cached_ = false;
  mutable std::atomic<long> n_products_{0};  // operators may be applied from several threads

  // Buffers of one product, kept between products (an eigensolve applies the operator many
  // times; fresh buffers each time cost page faults). A concurrent call that finds them in use
  // allocates its own.
  struct Workspace {
    PackedWeights direction;  // (U_W, u_b, u_v) of the direction, packed like the weights
    Vector total;
    std::vector<Vector> acc;            // per row chunk
    std::vector<Vector> tt, phi_buf;    // per thread
  };
  void init_workspace(Workspace& ws) const;
  mutable std::mutex workspace_mutex_;
  mutable std::unique_ptr<Workspace> workspace_;
};

// H u (one product; builds the operator without caching).
Vector hessian_vector_product(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                              const ConstVectorRef& u, HessianPart part = HessianPart::Full,
                              int n_threads = 0);

// Per-neuron pieces of the exact trace (MATH.md sections 3 and 8):
//   A_k = mean_i phi_ik^2,   M_k = mean_i a_ik (||x_i||^2 + 1),
// so that tr H = 1 + sum_k (A_k + v_k^2 M_k).
struct TraceTerms {
  Vector A;
  Vector M;
};
TraceTerms trace_terms(const Network& net, const ConstMatrixRef& X, int n_threads = 0);

// tr H, exact. The residual part has a zero diagonal, so tr(H) = tr(Gauss-Newton part).
double hessian_trace(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                     HessianPart part = HessianPart::Full, int n_threads = 0);

}  // namespace flatcore
