#include "flatcore/numerics.hpp"

#include <algorithm>
#include <cstring>

#include "kernels.hpp"
#include "thread_id.hpp"

namespace flatcore {

int simd_lanes() { return kernels::kLanes; }

const char* simd_kind() {
#if defined(FLATCORE_GENERIC_SIMD)
  return "generic";
#elif defined(__AVX512F__)
  return "avx512";
#elif defined(__AVX__)
  return "avx";
#else
  return "sse2";
#endif
}


Vector predict(const Network& net, const ConstMatrixRef& X, int n_threads) {
  using namespace kernels;
  net.check();
  if (X.cols() != net.d()) throw std::invalid_argument("X must have d columns");
  const int nt = threads_for_work(n_threads, 2.0 * X.rows() * net.width() * net.d());
  const Index n = X.rows(), d = net.d();
  PackedWeights w(d, net.width());
  w.load(net);
  const Index Kp = w.Kp, ld = w.ld;
  Vector out(n);
  const RowChunks ch = make_row_chunks(n);
  std::vector<Vector> phi(nt, Vector(kRowTile * ld));
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> Xc;
  const double* Xd = X.data();
  if (X.outerStride() != d || X.innerStride() != 1) {
    Xc = X;
    Xd = Xc.data();
  }
#pragma omp parallel for schedule(dynamic) num_threads(nt)
  for (Index c = 0; c < ch.n_chunks; ++c) {
    double* buf = phi[detail::thread_id()].data();
    for_row_tiles(ch.begin(c), ch.end(c), [&](Index i, auto R) {
      output_tile<decltype(R)::value>(Xd + i * d, d, ld, Kp, w.WT.data(), w.b.data(), w.v.data(), net.beta,
                                      buf, out.data() + i);
    });
  }
  return out;
}

double loss(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y, int n_threads) {
  check_data(net, X, y);
  const Vector r = predict(net, X, n_threads) - y;
  return 0.5 * r.squaredNorm() / static_cast<double>(X.rows());
}

GradientWorkspace::GradientWorkspace(Index n, Index d, Index width, int n_threads)
    : n_threads_(threads_for_work(n_threads, 4.0 * n * width * d)),
      chunks_(make_row_chunks(n)),
      w_(d, width) {
  // The gradient of W^T and the activation buffer use the row stride of the packed weights.
  const Index acc_size = d * w_.ld + 2 * w_.Kp;
  chunk_acc_.assign(chunks_.n_chunks, Vector::Zero(acc_size));
  chunk_loss_.assign(chunks_.n_chunks, 0.0);
  chunk_res_.assign(chunks_.n_chunks, 0.0);
  chunk_active_.assign(chunks_.n_chunks, 0.0);
  thread_phi_.assign(n_threads_, Vector::Zero(kernels::kRowBlock * w_.ld));
  acc_ = Vector::Zero(acc_size);
}

double GradientWorkspace::bytes(Index n, Index d, Index width, int n_threads) {
  const double ld = static_cast<double>(PackedWeights::stride(width));
  const double chunks = static_cast<double>(make_row_chunks(n).n_chunks);
  return 8.0 * (chunks * ((d + 2) * ld + 1) + n_threads * kernels::kRowBlock * ld + 2 * d * ld + n);
}

namespace {

using namespace kernels;

// One block of m <= kRowBlock rows starting at row i0: forward, residuals, backward.
inline void fused_row_block(const double* X, const double* y, Index m, Index d, Index Kp, Index ld,
                            const double* WT, const double* b, const double* v, double beta,
                            double* phi, double* gWT, double* gb, double* gv, double& loss_sum,
                            double& res_sum, vmask& act) {
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
    loss_sum += res[i] * res[i];
    res_sum += res[i];
  }
  for (Index k_begin = 0; k_begin < Kp; k_begin += kb) {
    const Index k_end = std::min(Kp, k_begin + kb);
    for_row_tiles(0, m, [&](Index i, auto R) {
      backward_tile<decltype(R)::value>(X + i * d, res + i, d, ld, k_begin, k_end, phi + i * ld, gWT, gb,
                                        gv, act);
    });
  }
}

}  // namespace

void loss_and_gradient_into(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                            GradientWorkspace& ws, LossGradient& out) {
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
  const Index stride = X.outerStride();
  if (stride != d) throw std::invalid_argument("X must be C-contiguous");

#pragma omp parallel for schedule(dynamic) num_threads(ws.n_threads_)
  for (Index c = 0; c < ch.n_chunks; ++c) {
    double* phi = ws.thread_phi_[detail::thread_id()].data();
    Vector& acc = ws.chunk_acc_[c];
    acc.setZero();
    double* gWT = acc.data();
    double* gb = gWT + d * ld;
    double* gv = gb + Kp;
    double loss_sum = 0.0, res_sum = 0.0;
    vmask act = {};
    for (Index i = ch.begin(c); i < ch.end(c); i += kRowBlock) {
      const Index m = std::min(kRowBlock, ch.end(c) - i);
      fused_row_block(Xd + i * d, y.data() + i, m, d, Kp, ld, WT, b, v, beta, phi, gWT, gb, gv, loss_sum,
                      res_sum, act);
    }
    double active = 0.0;
    for (int l = 0; l < kLanes; ++l) active += static_cast<double>(act[l]);
    ws.chunk_loss_[c] = loss_sum;
    ws.chunk_res_[c] = res_sum;
    ws.chunk_active_[c] = active;
  }

  detail::reduce_in_order(ws.chunk_acc_, ws.acc_.data(), ws.acc_.size(), ws.n_threads_);
  double loss_sum = 0.0, res_sum = 0.0, active = 0.0;
  for (Index c = 0; c < ch.n_chunks; ++c) {
    loss_sum += ws.chunk_loss_[c];
    res_sum += ws.chunk_res_[c];
    active += ws.chunk_active_[c];
  }

  const double inv_n = 1.0 / static_cast<double>(n);
  out.grad.resize(L.size());
  const double* gWT = ws.acc_.data();
  const double* gb = gWT + d * ld;
  const double* gv = gb + Kp;
  for (Index k = 0; k < K; ++k) {
    const double s = net.v[k] * inv_n;  // dL/dw_k and dL/db_k carry the factor v_k / n
    for (Index j = 0; j < d; ++j) out.grad[L.W() + k * d + j] = s * gWT[j * ld + k];
    out.grad[L.b() + k] = s * gb[k];
    out.grad[L.v() + k] = inv_n * gv[k];
  }
  out.grad[L.beta()] = res_sum * inv_n;
  out.loss = 0.5 * loss_sum * inv_n;
  out.active_fraction = active * inv_n / static_cast<double>(K);
}

LossGradient loss_and_gradient(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                               int n_threads) {
  check_data(net, X, y);
  GradientWorkspace ws(X.rows(), net.d(), net.width(), n_threads);
  LossGradient out;
  loss_and_gradient_into(net, X, y, ws, out);
  return out;
}

}  // namespace flatcore
