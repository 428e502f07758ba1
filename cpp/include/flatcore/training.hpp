// Full-batch gradient descent, the whole trajectory in one call (docs/math.md, section 2).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "flatcore/interrupt.hpp"
#include "flatcore/network.hpp"
#include "flatcore/numerics.hpp"
#include "flatcore/resources.hpp"

namespace flatcore {

// train's kernels (Kernel, numerics.hpp): Auto checks the share of active pairs every this many
// steps.
constexpr long kKernelCheckEvery = 64;

// What a run does. Optional settings are off when empty.
struct TrainOptions {
  double lr = 0.01;                               // step size eta > 0
  long steps = 1000;                              // GD updates at most (>= 0)
  LossConvention loss = LossConvention::HalfMse;  // the L that GD descends (numerics.hpp)
  double weight_decay = 0.0;                      // lambda in L + lambda/2 (||W||^2 + ||v||^2)
  bool decay_biases = false;                      // also decay b and beta
  std::optional<double> clip_grad_norm;           // rescale grad L (before weight decay) to at most this norm
  long record_every = 1;                          // a history row every this many steps (and the last)
  std::optional<double> tol;                      // stop once ||grad L_lambda|| <= tol
  std::optional<double> max_loss;                 // a loss above this is divergence (default 1e8 max(1, L_0))
  std::optional<long> sharpness_every;            // lambda_max(H) every this many steps (and the last)
  double sharpness_tol = 1e-10;                   // relative tolerance of those eigensolves (residual rule)
  double rare_share = 0.1;                        // a neuron active on at most this share of the points
                                                  // (and on one at least) is rarely active
  Kernel kernel = Kernel::Auto;                   // how steps compute the gradient (above)
  int n_threads = default_num_threads();

  // Throws std::invalid_argument naming the first setting out of its range.
  void check() const;
};

// Where a run starts: theta_0, and to carry on an earlier run, where that one stopped.
struct TrainStart {
  Network net;
  long step = 0;                   // the GD step of net: history rows and eigensolver seeds count from it
  bool recorded = false;           // net's row is already in the earlier history: not recorded again
  std::optional<double> max_loss;  // the earlier run's divergence threshold (default: from L(net))
  Vector sharpness_start;          // warm start of the first sharpness solve (empty: none)
  bool certified = false;          // Kernel::Auto: the earlier run's steps were certified at its end
};

// What train measures at each history row besides the loss, when given (each part optional):
//   test_mse  = mean_j (f(x_j) - y_test_j)^2 over a test set (X_test, y_test), and
//   clean_mse = mean_i (f(x_i) - y_clean_i)^2 at the training points, y_clean the noiseless
//               targets there (the error that the theory bounds).
// Plain mean squared errors, whatever the loss convention.
struct Evaluation {
  RowMatrix X_test;  // m x d (0 rows: no test MSE)
  Vector y_test;     // m
  Vector y_clean;    // n (empty: no clean MSE)

  bool has_test() const { return X_test.rows() > 0; }
  bool has_clean() const { return y_clean.size() > 0; }
};

// Which optional columns a history has.
struct HistoryColumns {
  bool sharpness = false;
  bool test_mse = false;
  bool clean_mse = false;
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
  std::vector<double> dead_fraction;    // share of the neurons active on no training point
  std::vector<double> rare_fraction;    // share active on at least one point and at most rare_share
  // Filled when sharpness is tracked: lambda_max at the row's step, NaN on rows where it was not
  // computed; and the Hessian-vector products that solve used (0 where not computed).
  std::vector<double> sharpness;
  std::vector<long> sharpness_n_hvp;
  std::vector<double> test_mse;   // filled when an evaluation has a test set
  std::vector<double> clean_mse;  // filled when an evaluation has y_clean

  HistoryColumns columns;  // which optional columns are filled

  // The column names in order: the optional ones only when present.
  static std::vector<std::string> column_names(const HistoryColumns& columns);
  // Memory of one row.
  static double bytes_per_row(const HistoryColumns& columns);

  void reserve(std::size_t n);
  std::size_t size() const { return step.size(); }
};

struct TrainResult {
  Network net;  // the last iterate whose loss was finite
  TrainHistory history;
  long steps_run = 0;      // number of GD updates (in this call) that produced `net`
  long final_step = 0;     // the GD step of `net`, counted from the first run's theta_0
  bool converged = false;  // ||grad L_lambda|| <= tol reached
  bool diverged = false;
  long diverged_step = -1;   // step whose loss was non-finite or above max_loss (-1: none)
  bool interrupted = false;  // should_stop returned true
  double final_loss = 0.0;
  double final_grad_norm = 0.0;
  double max_loss = 0.0;         // the divergence threshold used
  Vector sharpness_vector;       // the last sharpness solve's top eigenvector (empty: none)
  long certified_steps = 0;      // steps whose gradient the certified kernel computed
  double certified_pairs = 0;    // (point, neuron) pairs those steps evaluated, in all
  long certified_refreshes = 0;  // neuron references taken afresh in those steps
  bool certified = false;        // the kernel in effect at the end (Kernel::Auto)

  // Where a run that carries this one on starts.
  TrainStart next_start() const;
};

// Gradient descent from start.net; `evaluation` adds the test and clean MSE columns.
TrainResult train(const TrainStart& start, const ConstMatrixRef& X, const ConstVectorRef& y,
                  const TrainOptions& options, const Evaluation& evaluation = {},
                  const StopCallback& should_stop = nullptr);
TrainResult train(const Network& init, const ConstMatrixRef& X, const ConstVectorRef& y,
                  const TrainOptions& options, const StopCallback& should_stop = nullptr);

}  // namespace flatcore
