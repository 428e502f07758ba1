// Private: the reusable buffers of the fused loss-and-gradient pass, so that a training loop does
// not allocate per step.
#pragma once

#include <algorithm>
#include <vector>

#include "flatcore/numerics.hpp"
#include "packed_weights.hpp"
#include "parallel.hpp"

namespace flatcore {

class GradientWorkspace {
 public:
  GradientWorkspace(Index n, Index d, Index width, int n_threads);
  int n_threads() const { return n_threads_; }  // the most threads a call can use (its buffers)
  // Threads the next calls use, 1 to n_threads() (default n_threads()); results do not depend on it.
  void set_threads(int n) { threads_ = std::clamp(n, 1, n_threads_); }
  int threads() const { return threads_ > 0 ? threads_ : n_threads_; }

 private:
  friend void loss_and_gradient_into(const Network&, const ConstMatrixRef&, const ConstVectorRef&,
                                     LossConvention, GradientWorkspace&, LossGradient&);
  int n_threads_;
  int threads_ = 0;  // 0: n_threads_
  RowChunks chunks_;
  PackedWeights w_;
  // Per chunk: [gW^T (d x ld) | gb (Kp) | gv (Kp) | active count (Kp)], v-free.
  std::vector<Vector> chunk_acc_;
  std::vector<double> chunk_loss_, chunk_res_;
  std::vector<Vector> thread_phi_;  // per thread: rows x Kp activations of one row block
  Vector acc_;                      // reduced accumulator
};

// loss_and_gradient into `out`, with the buffers of `ws` (made for this problem's size). X must
// be C-contiguous.
void loss_and_gradient_into(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                            LossConvention convention, GradientWorkspace& ws, LossGradient& out);

}  // namespace flatcore
