// Full-batch gradient descent, the whole trajectory in one call (docs/math.md, section 2).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "flatcore/interrupt.hpp"
#include "flatcore/network.hpp"
#include "flatcore/resources.hpp"

namespace flatcore {

// What a run does. Optional settings are off when empty.
struct TrainOptions {
  double lr = 0.01;                      // step size eta > 0
  long steps = 1000;                     // GD updates at most (>= 0)
  double weight_decay = 0.0;             // lambda in L + lambda/2 (||W||^2 + ||v||^2)
  bool decay_biases = false;             // also decay b and beta
  std::optional<double> clip_grad_norm;  // rescale grad L (before weight decay) to at most this norm
  long record_every = 1;                 // a history row every this many steps (and the last)
  std::optional<double> tol;             // stop once ||grad L_lambda|| <= tol
  std::optional<double> max_loss;        // a loss above this is divergence (default 1e8 max(1, L_0))
  std::optional<long> sharpness_every;   // lambda_max(H) every this many steps (and the last)
  double sharpness_tol = 1e-10;          // relative tolerance of those eigensolves (residual rule)
  int n_threads = default_num_threads();

  // Throws std::invalid_argument naming the first setting out of its range.
  void check() const;
};

// One column per recorded quantity; row j describes theta at step `step[j]`.
struct TrainHistory {
  std::vector<long> step;
  std::vector<double> loss;       // L(theta) (without the weight-decay term)
  std::vector<double> grad_norm;  // ||grad L_lambda(theta)||, before clipping
  std::vector<double> W_norm;     // ||W||_F
  std::vector<double> b_norm;     // ||b||
  std::vector<double> v_norm;     // ||v||
  std::vector<double> beta;
  std::vector<double> active_fraction;  // mean_ik a_ik
  // Filled when sharpness is tracked: lambda_max at the row's step, NaN on rows where it was not
  // computed; and the Hessian-vector products that solve used (0 where not computed).
  std::vector<double> sharpness;
  std::vector<long> sharpness_n_hvp;

  bool tracks_sharpness() const { return !sharpness.empty() || tracking_; }
  // The columns in order (the two sharpness columns only when tracked).
  static std::vector<std::string> column_names(bool tracks_sharpness);
  // Memory of one row.
  static double bytes_per_row(bool tracks_sharpness);

  void reserve(std::size_t n, bool tracks_sharpness);
  std::size_t size() const { return step.size(); }

 private:
  bool tracking_ = false;
};

struct TrainResult {
  Network net;  // the last iterate whose loss was finite
  TrainHistory history;
  long steps_run = 0;      // number of GD updates that produced `net`
  bool converged = false;  // ||grad L_lambda|| <= tol reached
  bool diverged = false;
  long diverged_step = -1;   // step whose loss was non-finite or above max_loss (-1: none)
  bool interrupted = false;  // should_stop returned true
  double final_loss = 0.0;
  double final_grad_norm = 0.0;
};

TrainResult train(const Network& init, const ConstMatrixRef& X, const ConstVectorRef& y,
                  const TrainOptions& options, const StopCallback& should_stop = nullptr);

}  // namespace flatcore
