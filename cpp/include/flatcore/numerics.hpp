// Forward pass, loss and gradient (MATH.md sections 1-2), fused and blocked over rows of X.
#pragma once

#include <vector>

#include "flatcore/network.hpp"
#include "flatcore/parallel.hpp"

namespace flatcore {

// The kernels' vector width in doubles (8: AVX-512, 4: AVX2, 2: SSE2 or generic) and what
// provides it ("avx512", "avx", "sse2" or "generic").
int simd_lanes();
const char* simd_kind();

// f(X), one value per row of X.
Vector predict(const Network& net, const ConstMatrixRef& X, int n_threads = 0);

// L = 1/(2n) sum_i (f(x_i) - y_i)^2.
double loss(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
            int n_threads = 0);

struct LossGradient {
  double loss = 0.0;
  Vector grad;                   // flat layout, size P
  double active_fraction = 0.0;  // mean over (i, k) of a_ik = 1[w_k . x_i - b_k > 0]
};

// Reusable buffers for loss_and_gradient, so that a training loop does not allocate per step.
// The kernel reads the weights as PackedWeights (transposed, zero-padded).
class GradientWorkspace {
 public:
  GradientWorkspace(Index n, Index d, Index width, int n_threads);
  int n_threads() const { return n_threads_; }
  // Bytes the fused kernels' buffers take for this problem size with up to n_threads threads
  // (what the Python layer checks against the available memory before it calls in).
  static double bytes(Index n, Index d, Index width, int n_threads);

 private:
  friend void loss_and_gradient_into(const Network&, const ConstMatrixRef&, const ConstVectorRef&,
                                     GradientWorkspace&, LossGradient&);
  int n_threads_;
  RowChunks chunks_;
  PackedWeights w_;
  std::vector<Vector> chunk_acc_;      // per chunk: [gW^T (d x ld) | gb (Kp) | gv (Kp)], v-free
  std::vector<double> chunk_loss_, chunk_res_, chunk_active_;
  std::vector<Vector> thread_phi_;     // per thread: rows x Kp activations of one row tile
  Vector acc_;                         // reduced accumulator
};

// One fused pass: pre-activations, mask, outputs, residuals and gradient contributions are
// computed block by block while the block is in cache.
LossGradient loss_and_gradient(const Network& net, const ConstMatrixRef& X,
                               const ConstVectorRef& y, int n_threads = 0);
void loss_and_gradient_into(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                            GradientWorkspace& ws, LossGradient& out);

}  // namespace flatcore
