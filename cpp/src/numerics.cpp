#include "flatcore/numerics.hpp"

#include <algorithm>
#include <cstring>

#include "forward.hpp"
#include "gradient_workspace.hpp"
#include "kernels.hpp"
#include "names.hpp"
#include "thread_id.hpp"

namespace flatcore {

int simd_lanes() { return kernels::kLanes; }

const char* simd_kind() {
#if defined(FLATCORE_GENERIC_SIMD)
  return "generic";
#elif defined(__AVX512F__)
  return "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
  return "avx2";
#elif defined(__AVX__)
  return "avx";
#else
  return "sse2";
#endif
}

Vector predict(const Network& net, const ConstMatrixRef& X, int n_threads) {
  check_inputs(net, X);
  const Index n = X.rows();
  const int nt = threads_for_work(n_threads, 2.0 * n * net.width() * net.d());
  const Forward forward(net);
  const ContiguousRows rows(X);
  std::vector<Vector> phi = thread_buffers(nt, kernels::kRowBlock * forward.ld());
  Vector out(n);
  for_each_row_block(make_row_chunks(n), nt, [&](Index, Index i0, Index m, int thread) {
    forward.outputs(rows.row(i0), m, phi[thread].data(), out.data() + i0);
  });
  return out;
}

namespace {
constexpr EnumNames<LossConvention, 2> kConventions{
    "loss", {{{LossConvention::HalfMse, "half_mse"}, {LossConvention::Mse, "mse"}}}};
}  // namespace

const char* convention_name(LossConvention convention) { return kConventions.name(convention); }
std::vector<std::string> convention_names() { return kConventions.names(); }
LossConvention parse_convention(const std::string& name) { return kConventions.parse(name); }

double loss(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y, LossConvention convention,
            int n_threads) {
  check_data(net, X, y);
  const Vector r = predict(net, X, n_threads) - y;
  return loss_scale(convention) * 0.5 * r.squaredNorm() / static_cast<double>(X.rows());
}

Vector activation_rates(const Network& net, const ConstMatrixRef& X, int n_threads) {
  const Index K = net.width();
  return row_means(net, X, n_threads, 2.0 * X.rows() * K * net.d(), ForwardValues::Activations, K,
                   [&](double* count, const double*, const double* phi, Index m, Index ld) {
                     for (Index i = 0; i < m; ++i)
                       for (Index k = 0; k < K; ++k) count[k] += phi[i * ld + k] > 0.0 ? 1.0 : 0.0;
                   });
}

NeuronSides neuron_sides(const Network& net, const ConstMatrixRef& X, int n_threads) {
  const Index K = net.width(), d = net.d();
  // Per side: excess (K) | share (K) | moment (K x d).
  const Index side = K * (d + 2);
  auto add = [&](double* acc, const double* x, const double* z, Index m, Index ld) {
    for (int s = 0; s < 2; ++s) {
      const double sign = s == 0 ? 1.0 : -1.0;
      double* excess = acc + s * side;
      double* share = excess + K;
      double* moment = share + K;
      for (Index i = 0; i < m; ++i) {
        for (Index k = 0; k < K; ++k) {
          const double zz = sign * z[i * ld + k];
          if (zz > 0.0) {
            excess[k] += zz;
            share[k] += 1.0;
            for (Index j = 0; j < d; ++j) moment[k * d + j] += x[i * d + j];
          }
        }
      }
    }
  };
  const Vector means =
      row_means(net, X, n_threads, 4.0 * X.rows() * K * d, ForwardValues::PreActivations, 2 * side, add);
  NeuronSides out;
  for (int s = 0; s < 2; ++s) {
    NeuronSide& o = s == 0 ? out.active : out.inactive;
    const double* t = means.data() + s * side;
    o.excess = Eigen::Map<const Vector>(t, K);
    o.share = Eigen::Map<const Vector>(t + K, K);
    o.moment = Eigen::Map<const RowMatrix>(t + 2 * K, K, d);
  }
  return out;
}

GradientWorkspace::GradientWorkspace(Index n, Index d, Index width, int n_threads)
    : n_threads_(threads_for_work(n_threads, 4.0 * n * width * d)),
      chunks_(make_row_chunks(n)),
      w_(d, width) {
  // The gradient of W^T and the activation buffer use the row stride of the packed weights.
  const Index acc_size = d * w_.ld + 3 * w_.Kp;
  chunk_acc_.assign(chunks_.n_chunks, Vector::Zero(acc_size));
  chunk_loss_.assign(chunks_.n_chunks, 0.0);
  chunk_res_.assign(chunks_.n_chunks, 0.0);
  thread_phi_.assign(n_threads_, Vector::Zero(kernels::kRowBlock * w_.ld));
  acc_ = Vector::Zero(acc_size);
}

double gradient_workspace_bytes(Index n, Index d, Index width, int n_threads) {
  check_num_threads(n_threads);
  const double ld = static_cast<double>(PackedWeights::stride(width));
  const double chunks = static_cast<double>(make_row_chunks(n).n_chunks);
  return 8.0 * (chunks * ((d + 3) * ld + 1) + n_threads * kernels::kRowBlock * ld + 2 * d * ld + n);
}

namespace {

using namespace kernels;

// One block of m <= kRowBlock rows starting at row i0: forward, residuals, backward.
inline void fused_row_block(const double* X, const double* y, Index m, Index d, Index Kp, Index ld,
                            const double* WT, const double* b, const double* v, double beta, double* phi,
                            double* gWT, double* gb, double* gv, double* count, double* r_out,
                            double& loss_sum, double& res_sum) {
  const Index kb = neuron_block(d, Kp);
  const vdouble zero = {};
  vdouble fpart[kRowBlock];
  for (Index i = 0; i < m; ++i) fpart[i] = zero;
  for (Index k_begin = 0; k_begin < Kp; k_begin += kb) {
    const Index k_end = std::min(Kp, k_begin + kb);
    for_row_tiles(0, m, [&](Index i, auto R) {
      forward_tile<decltype(R)::value>(X + i * d, d, ld, k_begin, k_end, WT, b, v, phi + i * ld, fpart + i);
    });
  }
  double res[kRowBlock];
  for (Index i = 0; i < m; ++i) {
    res[i] = beta + hsum(fpart[i]) - y[i];
    r_out[i] = res[i];
    loss_sum += res[i] * res[i];
    res_sum += res[i];
  }
  for (Index k_begin = 0; k_begin < Kp; k_begin += kb) {
    const Index k_end = std::min(Kp, k_begin + kb);
    for_row_tiles(0, m, [&](Index i, auto R) {
      backward_tile<decltype(R)::value>(X + i * d, res + i, d, ld, k_begin, k_end, phi + i * ld, gWT, gb, gv,
                                        count);
    });
  }
}

}  // namespace

void loss_and_gradient_into(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                            LossConvention convention, GradientWorkspace& ws, LossGradient& out) {
  const Index n = X.rows(), d = net.d(), K = net.width(), Kp = ws.w_.Kp, ld = ws.w_.ld;
  const ParamLayout L(d, K);
  const RowChunks& ch = ws.chunks_;
  if (ch.n != n || ws.w_.d != d || ws.w_.width != K)
    throw std::invalid_argument("GradientWorkspace does not match the problem size");

  // Transposed, padded copies of the weights (O(K d), negligible next to the O(n K d) pass).
  ws.w_.load(net);
  const double* WT = ws.w_.WT.data();
  const double* b = ws.w_.b.data();
  const double* v = ws.w_.v.data();
  const double beta = net.beta;
  const double* Xd = X.data();
  if (X.outerStride() != d && n > 1) throw std::invalid_argument("X must be C-contiguous");

  out.residuals.resize(n);
#pragma omp parallel for schedule(dynamic) num_threads(team_size(ws.threads()))
  for (Index c = 0; c < ch.n_chunks; ++c) {
    double* phi = ws.thread_phi_[detail::thread_id()].data();
    Vector& acc = ws.chunk_acc_[c];
    acc.setZero();
    double* gWT = acc.data();
    double* gb = gWT + d * ld;
    double* gv = gb + Kp;
    double* count = gv + Kp;
    double loss_sum = 0.0, res_sum = 0.0;
    for (Index i = ch.begin(c); i < ch.end(c); i += kRowBlock) {
      const Index m = std::min(kRowBlock, ch.end(c) - i);
      fused_row_block(Xd + i * d, y.data() + i, m, d, Kp, ld, WT, b, v, beta, phi, gWT, gb, gv, count,
                      out.residuals.data() + i, loss_sum, res_sum);
    }
    ws.chunk_loss_[c] = loss_sum;
    ws.chunk_res_[c] = res_sum;
  }

  detail::reduce_in_order(ws.chunk_acc_, ws.acc_.data(), ws.acc_.size(), ws.threads());
  double loss_sum = 0.0, res_sum = 0.0;
  for (Index c = 0; c < ch.n_chunks; ++c) {
    loss_sum += ws.chunk_loss_[c];
    res_sum += ws.chunk_res_[c];
  }

  // The "half_mse" quantities times the convention's factor (1 or 2, exact).
  const double inv_n = 1.0 / static_cast<double>(n);
  const double scale = loss_scale(convention);
  out.grad.resize(L.size());
  const double* gWT = ws.acc_.data();
  const double* gb = gWT + d * ld;
  const double* gv = gb + Kp;
  const double* count = gv + Kp;
  for (Index k = 0; k < K; ++k) {
    const double s = scale * net.v[k] * inv_n;  // dL/dw_k and dL/db_k carry the factor v_k / n
    for (Index j = 0; j < d; ++j) out.grad[L.W() + k * d + j] = s * gWT[j * ld + k];
    out.grad[L.b() + k] = s * gb[k];
    out.grad[L.v() + k] = scale * inv_n * gv[k];
  }
  out.grad[L.beta()] = scale * res_sum * inv_n;
  out.loss = scale * 0.5 * loss_sum * inv_n;
  out.active_count = Eigen::Map<const Vector>(count, K);
  out.active_fraction = out.active_count.sum() * inv_n / static_cast<double>(K);
}

LossGradient loss_and_gradient(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                               LossConvention convention, int n_threads) {
  check_data(net, X, y);
  GradientWorkspace ws(X.rows(), net.d(), net.width(), n_threads);
  LossGradient out;
  const ContiguousRows rows(X);
  loss_and_gradient_into(net, Eigen::Map<const RowMatrix>(rows.row(0), X.rows(), X.cols()), y, convention, ws,
                         out);
  return out;
}

}  // namespace flatcore
