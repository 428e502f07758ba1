// Full-batch gradient descent, the whole trajectory in one call (MATH.md section 2).
#pragma once

#include <vector>

#include "flatcore/network.hpp"
#include "flatcore/parallel.hpp"

namespace flatcore {

struct TrainOptions {
  double lr = 0.01;
  long steps = 1000;
  double weight_decay = 0.0;  // lambda in L + lambda/2 (||W||^2 + ||v||^2)
  bool decay_biases = false;  // also decay b and beta
  double clip_grad_norm = 0.0;  // <= 0: no clipping. Clips grad L (before weight decay).
  long record_every = 1;
  double tol = 0.0;             // > 0: stop once ||grad L_lambda|| <= tol
  double max_loss = 0.0;        // > 0: a loss above this counts as divergence
  long sharpness_every = 0;     // > 0: lambda_max(H) every this many steps (and at the last step)
  double sharpness_tol = 1e-10;  // relative tolerance of those eigensolves (residual rule)
  int n_threads = 0;
};

// One column per recorded quantity; row j describes theta at step `step[j]`.
struct TrainHistory {
  std::vector<long> step;
  std::vector<double> loss;           // L(theta) (without the weight-decay term)
  std::vector<double> grad_norm;      // ||grad L_lambda(theta)||, before clipping
  std::vector<double> W_norm;         // ||W||_F
  std::vector<double> b_norm;         // ||b||
  std::vector<double> v_norm;         // ||v||
  std::vector<double> beta;
  std::vector<double> active_fraction;  // mean_ik a_ik
  // Filled when sharpness is tracked: lambda_max at the row's step, NaN on rows where it was not
  // computed; and the Hessian-vector products that solve used (0 where not computed).
  std::vector<double> sharpness;
  std::vector<long> sharpness_hvps;
  void reserve(std::size_t n);
};

struct TrainResult {
  Network net;  // the last iterate whose loss was finite
  TrainHistory history;
  long steps_run = 0;       // number of GD updates that produced `net`
  bool converged = false;   // ||grad L_lambda|| <= tol reached
  bool diverged = false;
  long diverged_step = -1;  // step whose loss was non-finite or above max_loss
  bool interrupted = false;  // should_stop returned true
  double final_loss = 0.0;
  double final_grad_norm = 0.0;
};

TrainResult train(const Network& init, const ConstMatrixRef& X, const ConstVectorRef& y,
                  const TrainOptions& options, const StopCallback& should_stop = nullptr);

}  // namespace flatcore
