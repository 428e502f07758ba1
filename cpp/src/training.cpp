#include "flatcore/training.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "flatcore/eigensolver.hpp"
#include "flatcore/hessian.hpp"
#include "forward.hpp"
#include "gradient_workspace.hpp"
#include "thread_tuner.hpp"

namespace flatcore {

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
  check_num_threads(n_threads);
}

std::vector<std::string> TrainHistory::column_names(bool tracks_sharpness) {
  std::vector<std::string> names = {"step",   "loss",   "grad_norm", "W_norm",
                                    "b_norm", "v_norm", "beta",      "active_fraction"};
  if (tracks_sharpness) {
    names.emplace_back("sharpness");
    names.emplace_back("sharpness_n_hvp");
  }
  return names;
}

double TrainHistory::bytes_per_row(bool tracks_sharpness) {
  return 8.0 * static_cast<double>(column_names(tracks_sharpness).size());
}

void TrainHistory::reserve(std::size_t n, bool tracks_sharpness) {
  tracking_ = tracks_sharpness;
  step.reserve(n);
  loss.reserve(n);
  grad_norm.reserve(n);
  W_norm.reserve(n);
  b_norm.reserve(n);
  v_norm.reserve(n);
  beta.reserve(n);
  active_fraction.reserve(n);
  if (tracks_sharpness) {
    sharpness.reserve(n);
    sharpness_n_hvp.reserve(n);
  }
}

namespace {

// Appends one history row. With sharpness tracking on, the row also gets lambda_max and the
// products its solve used (NaN and 0 where it was not computed).
void record(TrainHistory& h, long step, const LossGradient& lg, double grad_norm,
            const Eigen::Map<RowMatrix>& W, const Eigen::Map<Vector>& b, const Eigen::Map<Vector>& v,
            double beta, bool track, double sharpness = std::numeric_limits<double>::quiet_NaN(),
            long sharpness_hvps = 0) {
  h.step.push_back(step);
  h.loss.push_back(lg.loss);
  h.grad_norm.push_back(grad_norm);
  h.W_norm.push_back(W.norm());
  h.b_norm.push_back(b.norm());
  h.v_norm.push_back(v.norm());
  h.beta.push_back(beta);
  h.active_fraction.push_back(lg.active_fraction);
  if (track) {
    h.sharpness.push_back(sharpness);
    h.sharpness_n_hvp.push_back(sharpness_hvps);
  }
}

}  // namespace

TrainResult train(const Network& init, const ConstMatrixRef& X, const ConstVectorRef& y,
                  const TrainOptions& opt, const StopCallback& should_stop) {
  check_data(init, X, y);
  opt.check();
  const ContiguousRows rows(X);
  const Eigen::Map<const RowMatrix> Xc(rows.row(0), X.rows(), X.cols());

  const Index n = X.rows(), d = init.d(), K = init.width();
  const ParamLayout L(d, K);
  const Index P = L.size();

  // The iterate lives in one flat vector; `net` views it through maps for the kernels.
  Vector theta = init.params();
  Vector previous = theta;
  Network net = init;
  auto load = [&](const Vector& th) {
    net.W = Eigen::Map<const RowMatrix>(th.data() + L.W(), K, d);
    net.b = th.segment(L.b(), K);
    net.v = th.segment(L.v(), K);
    net.beta = th[L.beta()];
  };
  Eigen::Map<RowMatrix> W_view(theta.data() + L.W(), K, d);
  Eigen::Map<Vector> b_view(theta.data() + L.b(), K);
  Eigen::Map<Vector> v_view(theta.data() + L.v(), K);

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
  LossGradient lg;
  lg.grad.resize(P);
  Vector full_grad(P), step_dir(P);
  // ||grad L_lambda|| at the current theta, from the gradient of L in lg.
  auto regularised_gradient_norm = [&]() {
    if (!decays) return lg.grad.norm();
    full_grad = lg.grad + opt.weight_decay * decay_mask.cwiseProduct(theta);
    return full_grad.norm();
  };

  TrainResult res;
  // Sharpness tracking: Lanczos on the cached Hessian at theta_t, warm-started from the previous
  // top eigenvector (consecutive iterates are close, so few products are needed).
  const bool track = opt.sharpness_every.has_value();
  res.history.reserve(static_cast<std::size_t>(std::min<long>(opt.steps / opt.record_every + 2, 1L << 16)),
                      track);
  const long sharpness_every = opt.sharpness_every.value_or(0);
  EigOptions eo;
  eo.k = 1;
  eo.tol = opt.sharpness_tol;
  const bool cache = cache_activations_by_default(n, K);
  auto sharpness_at = [&](long t, long& hvps) -> double {
    HessianOperator op(net, RowMatrix(Xc), Vector(y), HessianPart::Full, threads.limit(opt.n_threads), cache);
    eo.seed = static_cast<std::uint64_t>(t);
    // Polled between products; it reports the GD step, not the product count, to the caller.
    const StopCallback stop_at_step = [&](long) { return should_stop && should_stop(t); };
    EigResult er = lanczos_eigenpairs(op, eo, stop_at_step);
    hvps = er.n_hvp;
    if (er.values.size() == 0) return std::numeric_limits<double>::quiet_NaN();
    eo.start = er.vectors.col(0);
    return er.values[0];
  };
  double max_loss = opt.max_loss.value_or(0.0);
  const double tol = opt.tol.value_or(0.0);

  for (long t = 0;; ++t) {
    load(theta);
    ws.set_threads(threads.threads());
    threads.timed([&] { loss_and_gradient_into(net, Xc, y, ws, lg); });
    if (t == 0 && !(max_loss > 0.0)) max_loss = 1e8 * std::max(1.0, lg.loss);

    const double gnorm = regularised_gradient_norm();
    const bool finite = std::isfinite(lg.loss) && std::isfinite(gnorm) && theta.allFinite();
    if (!finite || lg.loss > max_loss) {
      res.diverged = true;
      res.diverged_step = t;
      if (t == 0) {
        // theta_0 is what we return: describe it, and record it if its numbers are finite.
        res.final_loss = lg.loss;
        res.final_grad_norm = gnorm;
        if (finite) record(res.history, 0, lg, gnorm, W_view, b_view, v_view, theta[L.beta()], track);
      }
      if (t > 0) {
        theta = previous;
        res.steps_run = t - 1;
      }
      break;
    }
    const bool last = t == opt.steps;
    const bool done = opt.tol.has_value() && gnorm <= tol;
    const bool sharp_now = track && P > 1 && (t % sharpness_every == 0 || last || done);
    if (t % opt.record_every == 0 || last || done || sharp_now) {
      long hvps = 0;
      double lam = std::numeric_limits<double>::quiet_NaN();
      if (sharp_now) {
        try {
          lam = sharpness_at(t, hvps);
        } catch (const Interrupted&) {
          res.interrupted = true;
        }
      }
      record(res.history, t, lg, gnorm, W_view, b_view, v_view, theta[L.beta()], track, lam, hvps);
      if (res.interrupted) break;
    }
    res.final_loss = lg.loss;
    res.final_grad_norm = gnorm;
    res.steps_run = t;
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
      const double gn = lg.grad.norm();
      if (gn > *opt.clip_grad_norm) step_dir *= *opt.clip_grad_norm / gn;
    }
    if (decays) step_dir += opt.weight_decay * decay_mask.cwiseProduct(theta);
    previous = theta;
    theta -= opt.lr * step_dir;
  }

  // After divergence at step t > 0 the last finite iterate is theta_{t-1}; its loss is the last
  // recorded-or-not finite loss, recompute it so final_loss describes `net`.
  load(theta);
  if (res.diverged && res.diverged_step > 0) {
    loss_and_gradient_into(net, Xc, y, ws, lg);
    res.final_loss = lg.loss;
    res.final_grad_norm = regularised_gradient_norm();
    if (res.history.step.empty() || res.history.step.back() != res.steps_run)
      record(res.history, res.steps_run, lg, res.final_grad_norm, W_view, b_view, v_view, theta[L.beta()],
             track);
  }
  res.net = net;
  return res;
}

}  // namespace flatcore
