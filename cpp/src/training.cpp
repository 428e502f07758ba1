#include "flatcore/training.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "certified_step.hpp"
#include "flatcore/eigensolver.hpp"
#include "flatcore/finite.hpp"
#include "flatcore/hessian.hpp"
#include "forward.hpp"
#include "gradient_workspace.hpp"
#include "names.hpp"
#include "thread_tuner.hpp"

namespace flatcore {

namespace {
constexpr EnumNames<Kernel, 3> kKernels{
    "kernel", {{{Kernel::Auto, "auto"}, {Kernel::Dense, "dense"}, {Kernel::Certified, "certified"}}}};

// Kernel::Auto switches to the certified step when at most this share of the (point, neuron)
// pairs is active, and back to the dense one above kLeaveCertified (hysteresis), measured at
// steps that are multiples of kKernelCheckEvery: so the choice depends on the trajectory only,
// and a run carried on in pieces takes the same steps as one run (TrainStart::certified).
constexpr double kEnterCertified = kCertifiedShare;
constexpr double kLeaveCertified = 0.10;
}  // namespace

const char* kernel_name(Kernel kernel) { return kKernels.name(kernel); }
std::vector<std::string> kernel_names() { return kKernels.names(); }
Kernel parse_kernel(const std::string& name) { return kKernels.parse(name); }

void TrainOptions::check() const {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (!(lr > 0.0) || !std::isfinite(lr)) fail("lr must be positive and finite");
  if (steps < 0) fail("steps must be non-negative");
  if (!(weight_decay >= 0.0) || !std::isfinite(weight_decay))
    fail("weight_decay must be non-negative and finite");
  if (clip_grad_norm && !(*clip_grad_norm > 0.0)) fail("clip_grad_norm must be positive");
  if (record_every < 1) fail("record_every must be at least 1");
  if (tol && !(*tol >= 0.0)) fail("tol must be non-negative");
  if (max_loss && !(*max_loss > 0.0)) fail("max_loss must be positive");
  if (sharpness_every && *sharpness_every < 1) fail("sharpness_every must be at least 1");
  if (!(sharpness_tol > 0.0)) fail("sharpness_tol must be positive");
  if (!(rare_share >= 0.0 && rare_share <= 1.0)) fail("rare_share must be between 0 and 1");
  check_num_threads(n_threads);
}

std::vector<std::string> TrainHistory::column_names(const HistoryColumns& columns) {
  std::vector<std::string> names = {"step",   "loss", "grad_norm",       "W_norm",        "b_norm",
                                    "v_norm", "beta", "active_fraction", "dead_fraction", "rare_fraction"};
  if (columns.sharpness) {
    names.emplace_back("sharpness");
    names.emplace_back("sharpness_n_hvp");
  }
  if (columns.test_mse) names.emplace_back("test_mse");
  if (columns.clean_mse) names.emplace_back("clean_mse");
  return names;
}

double TrainHistory::bytes_per_row(const HistoryColumns& columns) {
  return 8.0 * static_cast<double>(column_names(columns).size());
}

void TrainHistory::reserve(std::size_t n) {
  for (auto* c : {&loss, &grad_norm, &W_norm, &b_norm, &v_norm, &beta, &active_fraction, &dead_fraction,
                  &rare_fraction})
    c->reserve(n);
  step.reserve(n);
  if (columns.sharpness) {
    sharpness.reserve(n);
    sharpness_n_hvp.reserve(n);
  }
  if (columns.test_mse) test_mse.reserve(n);
  if (columns.clean_mse) clean_mse.reserve(n);
}

TrainStart TrainResult::next_start() const {
  TrainStart s;
  s.net = net;
  s.step = final_step;
  s.recorded = !history.step.empty() && history.step.back() == final_step;
  s.max_loss = max_loss;
  s.sharpness_start = sharpness_vector;
  s.certified = certified;
  return s;
}

namespace {

// mean_i e_i^2 without overflow in the squares when the mean itself is in range.
double mean_square(const Vector& e) {
  const double n = static_cast<double>(e.size());
  const double s = e.squaredNorm();
  if (std::isfinite(s)) return s / n;
  const double rms = safe_norm(e) / std::sqrt(n);
  return rms * rms;
}

// The sharpness lambda_max(H) along the trajectory: Lanczos on the cached Hessian at theta_t,
// warm-started from the previous top eigenvector (consecutive iterates are close, so few
// products are needed) and seeded by the step, so that a run done in pieces solves the same
// problems as one done at once.
class SharpnessTracker {
 public:
  SharpnessTracker(const TrainOptions& opt, const Vector& start, Index n, Index width)
      : opt_(opt), cache_(cache_activations_by_default(n, width)) {
    eo_.k = 1;
    eo_.tol = opt.sharpness_tol;
    eo_.start = start;
  }

  // lambda_max at theta_t (NaN if the solve found nothing) and the products it used. Throws
  // Interrupted when should_stop asks to stop; it is polled with the GD step t.
  double at(long t, const Network& net, const Eigen::Map<const RowMatrix>& X, const ConstVectorRef& y,
            int n_threads, const StopCallback& should_stop, long& hvps) {
    HessianOperator op(net, RowMatrix(X), Vector(y), HessianPart::Full, opt_.loss, n_threads, cache_,
                       opt_.kernel);
    eo_.seed = static_cast<std::uint64_t>(t);
    const StopCallback stop_at_step = [&](long) { return should_stop && should_stop(t); };
    EigResult er;
    try {
      er = lanczos_eigenpairs(op, eo_, stop_at_step);
    } catch (const NonFiniteError& e) {
      throw NonFiniteError("the sharpness at step " + std::to_string(t) + ": " + e.what());
    }
    hvps = er.n_hvp;
    if (er.values.size() == 0) return std::numeric_limits<double>::quiet_NaN();
    eo_.start = er.vectors.col(0);
    return er.values[0];
  }

  const Vector& last_vector() const { return eo_.start; }

 private:
  const TrainOptions& opt_;
  bool cache_;
  EigOptions eo_;
};

// Writes the history rows: the quantities of one iterate, measured where they are recorded.
class Recorder {
 public:
  Recorder(TrainHistory& h, const TrainOptions& opt, const Evaluation& ev, const ConstVectorRef& y, Index n)
      : h_(h), opt_(opt), ev_(ev), y_(y), rare_count_(opt.rare_share * static_cast<double>(n)) {}

  void operator()(long step, const Network& net, const LossGradient& lg, double grad_norm,
                  double sharpness = std::numeric_limits<double>::quiet_NaN(), long sharpness_hvps = 0) {
    h_.step.push_back(step);
    h_.loss.push_back(lg.loss);
    h_.grad_norm.push_back(grad_norm);
    h_.W_norm.push_back(safe_norm(net.W));
    h_.b_norm.push_back(safe_norm(net.b));
    h_.v_norm.push_back(safe_norm(net.v));
    h_.beta.push_back(net.beta);
    h_.active_fraction.push_back(lg.active_fraction);
    const double K = static_cast<double>(lg.active_count.size());
    const double dead = static_cast<double>((lg.active_count.array() == 0.0).count());
    const double rare = static_cast<double>(
        ((lg.active_count.array() > 0.0) && (lg.active_count.array() <= rare_count_)).count());
    h_.dead_fraction.push_back(K > 0 ? dead / K : 0.0);
    h_.rare_fraction.push_back(K > 0 ? rare / K : 0.0);
    if (h_.columns.sharpness) {
      h_.sharpness.push_back(sharpness);
      h_.sharpness_n_hvp.push_back(sharpness_hvps);
    }
    if (h_.columns.test_mse) {
      const Vector f = predict(net, ev_.X_test, opt_.n_threads);
      h_.test_mse.push_back(mean_square(f - ev_.y_test));
    }
    if (h_.columns.clean_mse) {
      // f(x_i) - y_clean_i = r_i + (y_i - y_clean_i), from the gradient pass's residuals.
      h_.clean_mse.push_back(mean_square(lg.residuals + y_ - ev_.y_clean));
    }
  }

 private:
  TrainHistory& h_;
  const TrainOptions& opt_;
  const Evaluation& ev_;
  const ConstVectorRef& y_;
  double rare_count_;
};

void check_evaluation(const Evaluation& ev, Index n, Index d) {
  if (ev.X_test.rows() != ev.y_test.size())
    throw std::invalid_argument("the test set has " + std::to_string(ev.X_test.rows()) + " points but " +
                                std::to_string(ev.y_test.size()) + " test values");
  if (ev.has_test() && ev.X_test.cols() != d)
    throw std::invalid_argument("X_test has " + std::to_string(ev.X_test.cols()) +
                                " columns, the network's inputs have " + std::to_string(d));
  if (ev.has_clean() && ev.y_clean.size() != n)
    throw std::invalid_argument("y_clean has " + std::to_string(ev.y_clean.size()) + " values, X has " +
                                std::to_string(n) + " points");
  if (!ev.X_test.allFinite() || !ev.y_test.allFinite() || !ev.y_clean.allFinite())
    throw std::invalid_argument("the evaluation data (X_test, y_test, y_clean) must be finite");
}

}  // namespace

TrainResult train(const Network& init, const ConstMatrixRef& X, const ConstVectorRef& y,
                  const TrainOptions& options, const StopCallback& should_stop) {
  TrainStart start;
  start.net = init;
  return train(start, X, y, options, Evaluation{}, should_stop);
}

TrainResult train(const TrainStart& start, const ConstMatrixRef& X, const ConstVectorRef& y,
                  const TrainOptions& opt, const Evaluation& ev, const StopCallback& should_stop) {
  const Network& init = start.net;
  check_data(init, X, y);
  opt.check();
  check_evaluation(ev, X.rows(), init.d());
  if (start.step < 0) throw std::invalid_argument("the start step must be non-negative");
  const ContiguousRows rows(X);
  const Eigen::Map<const RowMatrix> Xc(rows.row(0), X.rows(), X.cols());

  const Index n = X.rows(), d = init.d(), K = init.width();
  const ParamLayout L(d, K);
  const Index P = L.size();
  if (start.sharpness_start.size() != 0 && start.sharpness_start.size() != P)
    throw std::invalid_argument("the sharpness warm start has " +
                                std::to_string(start.sharpness_start.size()) +
                                " entries, expected P = " + std::to_string(P));

  // The iterate lives in one flat vector; `net` is loaded from it for the kernels.
  Vector theta = init.params();
  Vector previous = theta;
  Network net = init;
  auto load = [&](const Vector& th) {
    net.W = Eigen::Map<const RowMatrix>(th.data() + L.W(), K, d);
    net.b = th.segment(L.b(), K);
    net.v = th.segment(L.v(), K);
    net.beta = th[L.beta()];
  };

  // Weight decay acts on W and v (and on b, beta when asked): mask of decayed entries.
  Vector decay_mask = Vector::Zero(P);
  decay_mask.segment(L.W(), K * d).setOnes();
  decay_mask.segment(L.v(), K).setOnes();
  if (opt.decay_biases) {
    decay_mask.segment(L.b(), K).setOnes();
    decay_mask[L.beta()] = 1.0;
  }
  const bool decays = opt.weight_decay > 0.0;

  GradientWorkspace ws(n, d, K, opt.n_threads);
  AdaptiveThreads threads(ws.n_threads(), 4.0 * n * K * d);  // opt.n_threads is the most it uses
  std::optional<CertifiedStep> certified_step;
  bool certified = opt.kernel == Kernel::Certified || (opt.kernel == Kernel::Auto && start.certified);
  LossGradient lg;
  lg.grad.resize(P);
  Vector full_grad(P), step_dir(P);
  // ||grad L_lambda|| at the current theta, from the gradient of L in lg (finite for a finite
  // gradient: safe_norm).
  auto regularised_gradient_norm = [&]() {
    if (!decays) return safe_norm(lg.grad);
    full_grad = lg.grad + opt.weight_decay * decay_mask.cwiseProduct(theta);
    return safe_norm(full_grad);
  };

  TrainResult res;
  const bool track = opt.sharpness_every.has_value();
  res.history.columns = HistoryColumns{track, ev.has_test(), ev.has_clean()};
  res.history.reserve(static_cast<std::size_t>(std::min<long>(opt.steps / opt.record_every + 2, 1L << 16)));
  Recorder record(res.history, opt, ev, y, n);
  SharpnessTracker sharpness(opt, start.sharpness_start, n, K);
  const long sharpness_every = opt.sharpness_every.value_or(0);
  double max_loss = opt.max_loss ? *opt.max_loss : start.max_loss.value_or(0.0);
  const double tol = opt.tol.value_or(0.0);
  const long t0 = start.step, t_end = start.step + opt.steps;
  res.final_step = t0;

  for (long t = t0;; ++t) {
    load(theta);
    ws.set_threads(threads.threads());
    if (certified) {
      if (!certified_step) certified_step.emplace(Xc.data(), n, d, K);
      threads.timed([&] { certified_step->loss_and_gradient(net, y.data(), opt.loss, ws.threads(), lg); });
      ++res.certified_steps;
      res.certified_pairs += certified_step->last_pairs();
      res.certified_refreshes += certified_step->last_refreshes();
    } else {
      threads.timed([&] { loss_and_gradient_into(net, Xc, y, opt.loss, ws, lg); });
    }
    if (opt.kernel == Kernel::Auto && t % kKernelCheckEvery == 0)
      certified = lg.active_fraction <= (certified ? kLeaveCertified : kEnterCertified);
    if (t == t0 && !(max_loss > 0.0)) max_loss = 1e8 * std::max(1.0, lg.loss);

    const double gnorm = regularised_gradient_norm();
    // theta * 0 is 0 where theta is finite and NaN elsewhere: one vectorised sum (allFinite's
    // element-by-element test was a few percent of a certified step).
    const bool finite = std::isfinite(lg.loss) && std::isfinite(gnorm) && (theta.array() * 0.0).sum() == 0.0;
    if (!finite || lg.loss > max_loss) {
      res.diverged = true;
      res.diverged_step = t;
      if (t == t0) {
        // theta_0 is what we return: describe it, and record it if its numbers are finite.
        res.final_loss = lg.loss;
        res.final_grad_norm = gnorm;
        if (finite && !start.recorded) record(t, net, lg, gnorm);
      } else {
        theta = previous;
        res.steps_run = t - 1 - t0;
        res.final_step = t - 1;
      }
      break;
    }
    const bool last = t == t_end;
    const bool done = opt.tol.has_value() && gnorm <= tol;
    // A continued run's first iterate is the earlier run's last, already recorded.
    const bool fresh = !(t == t0 && start.recorded);
    const bool sharp_now = fresh && track && P > 1 && (t % sharpness_every == 0 || last || done);
    if (fresh && (t % opt.record_every == 0 || last || done || sharp_now)) {
      long hvps = 0;
      double lam = std::numeric_limits<double>::quiet_NaN();
      if (sharp_now) {
        try {
          lam = sharpness.at(t, net, Xc, y, threads.limit(opt.n_threads), should_stop, hvps);
        } catch (const Interrupted&) {
          res.interrupted = true;
        }
      }
      record(t, net, lg, gnorm, lam, hvps);
      if (res.interrupted) break;
    }
    res.final_loss = lg.loss;
    res.final_grad_norm = gnorm;
    res.steps_run = t - t0;
    res.final_step = t;
    if (done) {
      res.converged = true;
      break;
    }
    if (last) break;
    if (should_stop && should_stop(t)) {
      res.interrupted = true;
      break;
    }

    // theta <- theta - lr (clip(grad L) + lambda * decayed(theta))
    step_dir = lg.grad;
    if (opt.clip_grad_norm) {
      const double gn = safe_norm(lg.grad);
      if (gn > *opt.clip_grad_norm) step_dir *= *opt.clip_grad_norm / gn;
    }
    if (decays) step_dir += opt.weight_decay * decay_mask.cwiseProduct(theta);
    previous = theta;
    theta -= opt.lr * step_dir;
  }

  // After divergence at step t > t0 the last finite iterate is theta_{t-1}: recompute its loss so
  // that final_loss describes `net`, and record it if it was not.
  load(theta);
  if (res.diverged && res.diverged_step > t0) {
    loss_and_gradient_into(net, Xc, y, opt.loss, ws, lg);
    res.final_loss = lg.loss;
    res.final_grad_norm = regularised_gradient_norm();
    const bool recorded = res.history.step.empty() ? (res.final_step == t0 && start.recorded)
                                                   : res.history.step.back() == res.final_step;
    if (!recorded) record(res.final_step, net, lg, res.final_grad_norm);
  }
  res.net = net;
  res.max_loss = max_loss;
  res.sharpness_vector = sharpness.last_vector();
  res.certified = certified;
  return res;
}

}  // namespace flatcore
