// Private: the certified gradient-descent step. At large step sizes trained networks shatter:
// most neurons are active on a few training points, and only the active (point, neuron) pairs
// contribute to the outputs and the gradient. This step evaluates only the pairs that can be
// active, and proves that the others are not, so its loss, mask and gradient are those of the
// dense step (loss_and_gradient_into): the same pre-activations bit for bit (hence the same
// mask), with the active contributions added in another order.
//
// The certificate (docs/math.md, section 2.4): each neuron keeps a reference state
// (w_ref, b_ref), taken when its candidates were last chosen, and a radius tau. At the current
// weights, |z_ik - z_ik^ref| <= ||w_k - w_ref|| ||x_i|| + |b_k - b_ref|; with R >= max ||x_i||
// and the rounding of both pre-activations added, a point with z_ik^ref <= -tau stays inactive
// while that bound (the drift) is below tau. The candidates are the points with z^ref > -tau;
// when a neuron's drift reaches tau, its reference is taken afresh (one dense column). The
// drift is measured from the reference, not summed over steps, so oscillation at the edge of
// stability does not accumulate.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "flatcore/numerics.hpp"

namespace flatcore {

class CertifiedStep {
 public:
  // X: n x d, row-major and contiguous, kept by pointer (it must outlive this object).
  CertifiedStep(const double* X, Index n, Index d, Index width);

  // What loss_and_gradient_into computes (loss, grad, residuals, active_count, active_fraction),
  // on `threads` threads; the result does not depend on the thread count, nor on the candidate
  // sets, the references or which steps were certified before.
  void loss_and_gradient(const Network& net, const double* y, LossConvention convention, int threads,
                         LossGradient& out);

  // (point, neuron) pairs evaluated by the last call: candidates, plus n for each neuron whose
  // reference was taken afresh.
  double last_pairs() const { return last_pairs_; }
  long last_refreshes() const { return last_refreshes_; }
  // The last call's active points of neuron k, ascending, and their pre-activations.
  const std::vector<std::int32_t>& active_points(Index k) const { return active_i_[k]; }
  const std::vector<double>& active_values(Index k) const { return active_z_[k]; }

 private:
  void refresh(Index k, const double* w, double b, double w_norm, std::vector<std::int32_t>& act_i,
               std::vector<double>& act_z);

  const double* X_;
  Index n_, d_, K_;
  RowMatrix XT_;  // X^T (d x n): a coordinate of consecutive or listed points loads as one vector
  double R_;      // >= max_i ||x_i||, rounded up
  RowMatrix w_ref_;
  Vector b_ref_, w_ref_norm_, tau_, tau_scale_;
  std::vector<long> refreshed_at_;  // the call that last refreshed each neuron (-1: never)
  std::vector<std::vector<std::int32_t>> candidates_;
  std::vector<std::vector<std::int32_t>> active_i_;  // per neuron: its active points, ascending
  std::vector<std::vector<double>> active_z_;        // and their pre-activations
  RowMatrix f_part_;                                 // per neuron group: its part of the outputs
  RowMatrix z_scratch_;                              // per neuron group: pre-activations of one neuron
  std::vector<double> group_pairs_;
  std::vector<long> group_refreshes_;
  long calls_ = 0;
  double last_pairs_ = 0.0;
  long last_refreshes_ = 0;
};

// The certified step checked against the dense one at every step of a GD run (plain GD with
// clipping and weight decay on W and v, as train does): for the tests.
struct CertifiedCheck {
  long steps = 0;
  long mask_mismatches = 0;   // (point, neuron) pairs whose activity differs from the dense mask
  long value_mismatches = 0;  // active pairs whose pre-activation differs in any bit
  // The largest difference over the steps, of the loss and of any gradient entry, relative to the
  // size of the terms summed (the same sum on absolute values): the scale rounding is relative to.
  double max_loss_error = 0.0;
  double max_gradient_error = 0.0;
  double pairs = 0.0;  // pairs the certified steps evaluated, in all
  long refreshes = 0;
  std::vector<double> losses;  // L at each step, from the certified step
};
CertifiedCheck check_certified_steps(const Network& init, const ConstMatrixRef& X, const ConstVectorRef& y,
                                     double lr, long steps, LossConvention convention, double weight_decay,
                                     std::optional<double> clip_grad_norm, int n_threads);

}  // namespace flatcore
