#include "certified_step.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "forward.hpp"
#include "gradient_workspace.hpp"
#include "kernels.hpp"
#include "parallel.hpp"
#include "thread_id.hpp"

namespace flatcore {

namespace {

// Neurons per group: the unit of work among threads and of the outputs' partial sums (whose
// reduction in group order makes the outputs independent of the thread count).
constexpr Index kGroup = 128;

// A neuron's first radius, relative to the size of its pre-activations (||w|| R + |b|); then
// doubled when its reference must be taken again soon, halved when it holds for long.
constexpr double kFirstScale = 1.0 / 64.0;
constexpr double kMinScale = 1.0 / 16384.0;
constexpr double kMaxScale = 4.0;
constexpr long kSoon = 16;   // calls: a reference that lasts fewer calls doubles the radius
constexpr long kLong = 128;  // calls: one that lasts more halves it

}  // namespace

CertifiedStep::CertifiedStep(const double* X, Index n, Index d, Index width)
    : X_(X),
      n_(n),
      d_(d),
      K_(width),
      w_ref_(width, d),
      b_ref_(Vector::Zero(width)),
      w_ref_norm_(Vector::Zero(width)),
      tau_(Vector::Constant(width, -1.0)),  // negative: no reference yet
      tau_scale_(Vector::Constant(width, kFirstScale)),
      refreshed_at_(width, -1),
      candidates_(width),
      active_i_(width),
      active_z_(width),
      f_part_((width + kGroup - 1) / kGroup, n),
      z_scratch_((width + kGroup - 1) / kGroup, n),
      group_pairs_((width + kGroup - 1) / kGroup, 0.0),
      group_refreshes_((width + kGroup - 1) / kGroup, 0) {
  const double u = std::numeric_limits<double>::epsilon() / 2;
  double r = 0.0;
  for (Index i = 0; i < n; ++i) {
    double s = 0.0;
    for (Index j = 0; j < d; ++j) s += X[i * d + j] * X[i * d + j];
    r = std::max(r, std::sqrt(s));
  }
  R_ = r * (1.0 + 4.0 * (d + 2) * u);  // above the exact max norm despite rounding
  XT_ = Eigen::Map<const RowMatrix>(X, n, d).transpose();
}

void CertifiedStep::refresh(Index k, const double* w, double b, double w_norm,
                            std::vector<std::int32_t>& act_i, std::vector<double>& act_z) {
  // The radius adapts to how long the last reference lasted.
  double& scale = tau_scale_[k];
  if (refreshed_at_[k] >= 0) {
    const long lasted = calls_ - refreshed_at_[k];
    if (lasted < kSoon) scale = std::min(kMaxScale, 2.0 * scale);
    if (lasted > kLong) scale = std::max(kMinScale, 0.5 * scale);
  }
  refreshed_at_[k] = calls_;
  const double tau = std::max(scale * (w_norm * R_ + std::abs(b)), std::numeric_limits<double>::min());
  std::vector<std::int32_t>& cand = candidates_[k];
  cand.clear();
  double* z = z_scratch_.row(k / kGroup).data();
  kernels::preactivations_at(XT_.data(), n_, d_, w, b, nullptr, 0, n_, z);
  for (Index i = 0; i < n_; ++i) {
    if (z[i] > -tau) cand.push_back(static_cast<std::int32_t>(i));
    if (z[i] > 0.0) {
      act_i.push_back(static_cast<std::int32_t>(i));
      act_z.push_back(z[i]);
    }
  }
  std::copy(w, w + d_, w_ref_.row(k).data());
  b_ref_[k] = b;
  w_ref_norm_[k] = w_norm;
  tau_[k] = tau;
}

void CertifiedStep::loss_and_gradient(const Network& net, const double* y, LossConvention convention,
                                      int threads, LossGradient& out) {
  const Index n = n_, d = d_, K = K_;
  const ParamLayout L(d, K);
  const Index groups = f_part_.rows();
  // Rounding of one pre-activation, relative to ||w|| ||x|| + |b|, with room to spare (the
  // standard bound for a sum of d + 1 terms is (d + 1) u / (1 - (d + 1) u)).
  const double gam = 2.0 * static_cast<double>(d + 2) * (std::numeric_limits<double>::epsilon() / 2);
  const RowMatrix& W = net.W;

#pragma omp parallel for schedule(dynamic) num_threads(team_size(threads))
  for (Index g = 0; g < groups; ++g) {
    double* fp = f_part_.row(g).data();
    std::fill(fp, fp + n, 0.0);
    double pairs = 0.0;
    long refreshes = 0;
    for (Index k = g * kGroup; k < std::min(K, (g + 1) * kGroup); ++k) {
      const double* w = W.row(k).data();
      const double b = net.b[k];
      std::vector<std::int32_t>& act_i = active_i_[k];
      std::vector<double>& act_z = active_z_[k];
      act_i.clear();
      act_z.clear();
      double w_norm = 0.0, dw = 0.0;
      const double* wr = w_ref_.row(k).data();
      for (Index j = 0; j < d; ++j) {
        w_norm += w[j] * w[j];
        dw += (w[j] - wr[j]) * (w[j] - wr[j]);
      }
      w_norm = std::sqrt(w_norm);
      // The certificate's bound on how far any pre-activation moved since the reference:
      // ||w - w_ref|| R + |b - b_ref| plus the rounding of both pre-activations, rounded up.
      const double drift = (std::sqrt(dw) * R_ + std::abs(b - b_ref_[k]) +
                            gam * (w_norm * R_ + std::abs(b) + w_ref_norm_[k] * R_ + std::abs(b_ref_[k]))) *
                           (1.0 + 4.0 * gam);
      if (tau_[k] < 0.0 || !(drift < tau_[k])) {
        refresh(k, w, b, w_norm, act_i, act_z);
        pairs += static_cast<double>(n);
        ++refreshes;
      } else {
        const std::vector<std::int32_t>& cand = candidates_[k];
        const Index m = static_cast<Index>(cand.size());
        double* z = z_scratch_.row(g).data();
        kernels::preactivations_at(XT_.data(), n, d, w, b, cand.data(), 0, m, z);
        for (Index a = 0; a < m; ++a) {
          if (z[a] > 0.0) {
            act_i.push_back(cand[a]);
            act_z.push_back(z[a]);
          }
        }
        pairs += static_cast<double>(candidates_[k].size());
      }
      const double vk = net.v[k];
      for (std::size_t a = 0; a < act_i.size(); ++a) fp[act_i[a]] += vk * act_z[a];
    }
    group_pairs_[g] = pairs;
    group_refreshes_[g] = refreshes;
  }

  // Outputs, residuals and the loss: the groups' parts added in group order.
  out.residuals.resize(n);
  double loss_sum = 0.0, res_sum = 0.0;
  for (Index i = 0; i < n; ++i) {
    double f = 0.0;
    for (Index g = 0; g < groups; ++g) f += f_part_(g, i);
    const double r = net.beta + f - y[i];
    out.residuals[i] = r;
    loss_sum += r * r;
    res_sum += r;
  }

  // The gradient, neuron by neuron from its active points (v-free sums, then the factors).
  const double inv_n = 1.0 / static_cast<double>(n);
  const double scale = loss_scale(convention);
  out.grad.resize(L.size());
  out.active_count.resize(K);
  const double* res = out.residuals.data();
#pragma omp parallel for schedule(dynamic) num_threads(team_size(threads))
  for (Index g = 0; g < groups; ++g) {
    double gw[64];
    std::vector<double> gw_big(d > 64 ? d : 0);
    double* gwp = d > 64 ? gw_big.data() : gw;
    for (Index k = g * kGroup; k < std::min(K, (g + 1) * kGroup); ++k) {
      const std::vector<std::int32_t>& act_i = active_i_[k];
      const std::vector<double>& act_z = active_z_[k];
      std::fill(gwp, gwp + d, 0.0);
      double gb = 0.0, gv = 0.0;
      for (std::size_t a = 0; a < act_i.size(); ++a) {
        const Index i = act_i[a];
        const double r = res[i];
        const double* x = X_ + i * d;
        for (Index j = 0; j < d; ++j) gwp[j] += r * x[j];
        gb -= r;
        gv += r * act_z[a];
      }
      const double s = scale * net.v[k] * inv_n;
      for (Index j = 0; j < d; ++j) out.grad[L.W() + k * d + j] = s * gwp[j];
      out.grad[L.b() + k] = s * gb;
      out.grad[L.v() + k] = scale * inv_n * gv;
      out.active_count[k] = static_cast<double>(act_i.size());
    }
  }
  out.grad[L.beta()] = scale * res_sum * inv_n;
  out.loss = scale * 0.5 * loss_sum * inv_n;
  out.active_fraction = out.active_count.sum() * inv_n / static_cast<double>(K);

  last_pairs_ = 0.0;
  last_refreshes_ = 0;
  for (Index g = 0; g < groups; ++g) {
    last_pairs_ += group_pairs_[g];
    last_refreshes_ += group_refreshes_[g];
  }
  ++calls_;
}

CertifiedCheck check_certified_steps(const Network& init, const ConstMatrixRef& X, const ConstVectorRef& y,
                                     double lr, long steps, LossConvention convention, double weight_decay,
                                     std::optional<double> clip_grad_norm, int n_threads) {
  check_data(init, X, y);
  const ContiguousRows rows(X);
  const Eigen::Map<const RowMatrix> Xc(rows.row(0), X.rows(), X.cols());
  const Index n = X.rows(), d = init.d(), K = init.width();
  const ParamLayout L(d, K);
  CertifiedStep step(Xc.data(), n, d, K);
  GradientWorkspace ws(n, d, K, n_threads);
  CertifiedCheck out;
  Network net = init;
  LossGradient cert, dense;
  RowMatrix z;
  for (long t = 0; t <= steps; ++t) {
    step.loss_and_gradient(net, y.data(), convention, n_threads, cert);
    loss_and_gradient_into(net, Xc, y, convention, ws, dense);
    // The dense kernel's pre-activations of every pair, against the certified active sets.
    const Forward forward(net);
    z.resize(n, forward.ld());
    for (Index i0 = 0; i0 < n; i0 += kernels::kRowBlock)
      forward.preactivations(rows.row(i0), std::min(kernels::kRowBlock, n - i0), z.row(i0).data());
    for (Index k = 0; k < K; ++k) {
      const auto& pts = step.active_points(k);
      const auto& vals = step.active_values(k);
      std::size_t a = 0;
      for (Index i = 0; i < n; ++i) {
        const bool on = z(i, k) > 0.0;
        const bool listed = a < pts.size() && pts[a] == i;
        if (on != listed) ++out.mask_mismatches;
        if (on && listed && std::memcmp(&vals[a], &z(i, k), sizeof(double)) != 0) ++out.value_mismatches;
        if (listed) ++a;
      }
    }
    // The errors relative to the size of the terms summed (the same sums on absolute values), the
    // scale that rounding is relative to: R_i = |r_i| + |beta| + sum_k |v_k| phi_ik + |y_i| bounds
    // the residual's terms, and each gradient entry sums R_i times its factors.
    Vector R(n);
    for (Index i = 0; i < n; ++i) {
      double t = std::abs(dense.residuals[i]) + std::abs(net.beta) + std::abs(y[i]);
      for (Index k = 0; k < K; ++k) t += std::abs(net.v[k]) * std::max(z(i, k), 0.0);
      R[i] = t;
    }
    Vector gscale = Vector::Zero(L.size());
    double lscale = 0.0;
    for (Index i = 0; i < n; ++i) {
      // |r^2 - r'^2| = |r - r'| |r + r'|, with |r - r'| a few rounding units of R_i
      lscale += (std::abs(dense.residuals[i]) + std::numeric_limits<double>::epsilon() * R[i]) * R[i];
      gscale[L.beta()] += R[i];
      for (Index k = 0; k < K; ++k) {
        if (!(z(i, k) > 0.0)) continue;
        const double vk = std::abs(net.v[k]);
        for (Index j = 0; j < d; ++j) gscale[L.W() + k * d + j] += vk * R[i] * std::abs(Xc(i, j));
        gscale[L.b() + k] += vk * R[i];
        gscale[L.v() + k] += R[i] * z(i, k);
      }
    }
    const double conv = loss_scale(convention) / static_cast<double>(n);
    out.max_loss_error = std::max(out.max_loss_error,
                                  std::abs(cert.loss - dense.loss) / std::max(0.5 * conv * lscale, 1e-300));
    for (Index p = 0; p < L.size(); ++p)
      out.max_gradient_error = std::max(out.max_gradient_error, std::abs(cert.grad[p] - dense.grad[p]) /
                                                                    std::max(conv * gscale[p], 1e-300));
    out.pairs += step.last_pairs();
    out.refreshes += step.last_refreshes();
    out.losses.push_back(cert.loss);
    out.steps = t;
    if (t == steps || !std::isfinite(cert.loss)) break;
    // theta <- theta - lr (clip(grad L) + lambda (W, v)), along the certified gradient
    Vector g = cert.grad;
    if (clip_grad_norm && g.norm() > *clip_grad_norm) g *= *clip_grad_norm / g.norm();
    Vector theta = net.params();
    g.segment(L.W(), K * d) += weight_decay * theta.segment(L.W(), K * d);
    g.segment(L.v(), K) += weight_decay * theta.segment(L.v(), K);
    theta -= lr * g;
    net = Network::from_params(theta, d, K);
  }
  return out;
}

}  // namespace flatcore
