#include "flatcore/hessian.hpp"

#include <algorithm>
#include <vector>

#include "flatcore/numerics.hpp"
#include "kernels.hpp"
#include "thread_id.hpp"

namespace flatcore {

namespace {

void relu_block(const Network& net, const ConstMatrixRef& X, Index i0, Index m, RowMatrix& phi) {
  auto P = phi.topRows(m);
  P.noalias() = X.middleRows(i0, m) * net.W.transpose();
  const Index K = net.width();
  const double* b = net.b.data();
  for (Index i = 0; i < m; ++i) {
    double* row = P.row(i).data();
    for (Index k = 0; k < K; ++k) {
      const double z = row[k] - b[k];
      row[k] = z > 0.0 ? z : 0.0;
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Dense Hessian
// ---------------------------------------------------------------------------------------------

Eigen::MatrixXd dense_hessian(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                              HessianPart part, int n_threads, const StopCallback& should_stop,
                              bool* stopped) {
  check_data(net, X, y);
  const int nt = resolve_num_threads(n_threads);
  const Index n = X.rows(), d = net.d(), K = net.width();
  const ParamLayout L(d, K);
  const Index P = L.size();
  if (stopped) *stopped = false;
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(P, P);
  const Vector r = predict(net, X, nt) - y;

  // Rows of the Jacobian J (g_i^T) are formed a block at a time; H += J_b^T J_b is split over
  // fixed column blocks of H, so every entry is summed in the same order for any thread count.
  const Index rows_per_block = 128;
  const Index col_block = 64;
  const Index n_col_blocks = (P + col_block - 1) / col_block;
  RowMatrix phi(rows_per_block, K);
  RowMatrix J(rows_per_block, P);
  RowMatrix RW = RowMatrix::Zero(K, d);  // sum_i r_i a_ik x_i
  Vector Rb = Vector::Zero(K);           // sum_i r_i a_ik

  for (Index i0 = 0; i0 < n; i0 += rows_per_block) {
    const Index m = std::min(rows_per_block, n - i0);
    relu_block(net, X, i0, m, phi);
    if (part != HessianPart::Residual) {
      J.topRows(m).setZero();
      for (Index i = 0; i < m; ++i) {
        const double* x = X.row(i0 + i).data();
        double* g = J.row(i).data();
        for (Index k = 0; k < K; ++k) {
          const double p = phi(i, k);
          g[L.v() + k] = p;
          if (p > 0.0) {
            const double vk = net.v[k];
            for (Index j = 0; j < d; ++j) g[L.W() + k * d + j] = vk * x[j];
            g[L.b() + k] = -vk;
          }
        }
        g[L.beta()] = 1.0;
      }
      auto Jb = J.topRows(m);
#pragma omp parallel for schedule(dynamic) num_threads(nt)
      for (Index cb = 0; cb < n_col_blocks; ++cb) {
        const Index c0 = cb * col_block, w = std::min(col_block, P - c0);
        H.middleCols(c0, w).noalias() += Jb.transpose() * Jb.middleCols(c0, w);
      }
    }
    if (part != HessianPart::GaussNewton) {
      for (Index i = 0; i < m; ++i) {
        const double ri = r[i0 + i];
        for (Index k = 0; k < K; ++k) {
          if (phi(i, k) > 0.0) {
            RW.row(k) += ri * X.row(i0 + i);
            Rb[k] += ri;
          }
        }
      }
    }
    if (should_stop && should_stop(static_cast<long>(i0))) {
      if (stopped) *stopped = true;
      return H;
    }
  }

  const double inv_n = 1.0 / static_cast<double>(n);
  H *= inv_n;
  if (part != HessianPart::GaussNewton) {
    // Hf_i couples v_k with (w_k, b_k) only: d2f/dv_k dw_k = a_ik x_i, d2f/dv_k db_k = -a_ik.
    for (Index k = 0; k < K; ++k) {
      const Index iv = L.v() + k;
      for (Index j = 0; j < d; ++j) {
        const Index iw = L.W() + k * d + j;
        const double h = RW(k, j) * inv_n;
        H(iv, iw) += h;
        H(iw, iv) += h;
      }
      const double h = -Rb[k] * inv_n;
      H(iv, L.b() + k) += h;
      H(L.b() + k, iv) += h;
    }
  }
  return H;
}

// ---------------------------------------------------------------------------------------------
// Matrix-free Hessian-vector products
// ---------------------------------------------------------------------------------------------

namespace {

// The spare activation buffer (see HessianOperator::phi_).
struct SpareBuffer {
  std::mutex mutex;
  std::unique_ptr<double[]> data;
  std::size_t size = 0;
};
SpareBuffer& spare_buffer() {
  static SpareBuffer spare;
  return spare;
}
constexpr std::size_t kMaxSpareDoubles = (std::size_t{128} << 20) / sizeof(double);

// An uninitialised buffer of at least `need` doubles: the spare when it fits (not more than
// twice the need), else a new one.
std::unique_ptr<double[]> take_buffer(std::size_t need, std::size_t& size) {
  SpareBuffer& spare = spare_buffer();
  {
    std::lock_guard<std::mutex> lock(spare.mutex);
    if (spare.data && spare.size >= need && spare.size <= 2 * need) {
      size = spare.size;
      spare.size = 0;
      return std::move(spare.data);
    }
  }
  size = need;
  return std::unique_ptr<double[]>(new double[need]);
}

void give_back_buffer(std::unique_ptr<double[]> data, std::size_t size) {
  if (!data || size > kMaxSpareDoubles) return;
  SpareBuffer& spare = spare_buffer();
  std::unique_ptr<double[]> old;  // freed outside the lock
  std::lock_guard<std::mutex> lock(spare.mutex);
  old = std::move(spare.data);
  spare.data = std::move(data);
  spare.size = size;
}

}  // namespace

HessianOperator::~HessianOperator() { give_back_buffer(std::move(phi_), phi_size_); }

HessianOperator::HessianOperator(Network net, RowMatrix X, Vector y, HessianPart part,
                                 int n_threads, bool cache_activations)
    : net_(std::move(net)),
      X_(std::move(X)),
      y_(std::move(y)),
      part_(part),
      n_threads_(threads_for_work(n_threads, 6.0 * X_.rows() * net_.width() * net_.d())),
      chunks_(make_row_chunks(X_.rows())) {
  using namespace kernels;
  check_data(net_, X_, y_);
  const Index n = X_.rows(), d = net_.d();
  w_ = PackedWeights(d, net_.width());
  w_.load(net_);
  cached_ = cache_activations;
  if (!cached_) {
    r_ = predict(net_, X_, n_threads_) - y_;
    return;
  }
  // One forward pass gives both the cached activations and the residuals.
  // Every entry the kernels read (columns below Kp) is written by the forward pass below.
  phi_ = take_buffer(static_cast<std::size_t>(n * w_.ld), phi_size_);
  r_.resize(n);
  const Index ld = w_.ld, Kp = w_.Kp;
#pragma omp parallel for schedule(dynamic) num_threads(n_threads_)
  for (Index c = 0; c < chunks_.n_chunks; ++c) {
    for_row_tiles(chunks_.begin(c), chunks_.end(c), [&](Index i, auto R) {
      constexpr int rows = decltype(R)::value;
      output_tile<rows>(X_.row(i).data(), d, ld, Kp, w_.WT.data(), w_.b.data(), w_.v.data(), net_.beta,
                        phi_.get() + i * ld, r_.data() + i);
      for (int r = 0; r < rows; ++r) r_[i + r] -= y_[i + r];
    });
  }
}

void HessianOperator::init_workspace(Workspace& ws) const {
  using namespace kernels;
  const Index acc_size = net_.d() * w_.ld + 2 * w_.Kp + 1;
  ws.direction = PackedWeights(net_.d(), net_.width());
  ws.total = Vector::Zero(acc_size);
  ws.acc.assign(chunks_.n_chunks, Vector::Zero(acc_size));
  ws.tt.assign(n_threads_, Vector::Zero(kRowBlock * w_.ld));
  ws.phi_buf.assign(n_threads_, Vector::Zero(cached_ ? 0 : kRowBlock * w_.ld));
}

void HessianOperator::perform_op(const double* u, double* out) const {
  using namespace kernels;
  std::unique_lock<std::mutex> lock(workspace_mutex_, std::try_to_lock);
  Workspace own;
  Workspace* wsp = &own;
  if (lock.owns_lock()) {
    if (!workspace_) {
      workspace_ = std::make_unique<Workspace>();
      init_workspace(*workspace_);
    }
    wsp = workspace_.get();
  } else {
    init_workspace(own);
  }
  Workspace& ws = *wsp;
  const Index d = net_.d(), K = net_.width(), n = X_.rows(), Kp = w_.Kp, ld = w_.ld;
  const ParamLayout L(d, K);
  const Index P = L.size();
  const double gn = part_ != HessianPart::Residual ? 1.0 : 0.0;
  const double res = part_ != HessianPart::GaussNewton ? 1.0 : 0.0;

  // The direction, transposed and padded like the weights.
  ws.direction.load(u + L.W(), u + L.b(), u + L.v());
  const Vector& UT = ws.direction.WT;
  const Vector& ub = ws.direction.b;
  const Vector& uv = ws.direction.v;
  const double ubeta = u[L.beta()];
  const Index acc_size = d * ld + 2 * Kp + 1;
  std::vector<Vector>& acc = ws.acc;
  const Index kb = neuron_block(d, Kp);

#pragma omp parallel num_threads(n_threads_)
  {
    Vector& tt = ws.tt[detail::thread_id()];
    Vector& phi_buf = ws.phi_buf[detail::thread_id()];
#pragma omp for schedule(dynamic)
    for (Index c = 0; c < chunks_.n_chunks; ++c) {
      Vector& g = acc[c];
      g.setZero();
      double* gWT = g.data();
      double* gb = gWT + d * ld;
      double* gv = gb + Kp;
      double gbeta = 0.0;
      for (Index i0 = chunks_.begin(c); i0 < chunks_.end(c); i0 += kRowBlock) {
        const Index m = std::min(kRowBlock, chunks_.end(c) - i0);
        const double* Xb = X_.row(i0).data();
        const double* phi;
        if (cached_) {
          phi = phi_.get() + i0 * ld;
        } else {
          double f_unused[kRowTile];
          for_row_tiles(0, m, [&](Index i, auto R) {
            output_tile<decltype(R)::value>(Xb + i * d, d, ld, Kp, w_.WT.data(), w_.b.data(), w_.v.data(), 0.0,
                                            phi_buf.data() + i * ld, f_unused);
          });
          phi = phi_buf.data();
        }
        const vdouble zero = {};
        vdouble spart[kRowBlock];
        for (Index i = 0; i < m; ++i) spart[i] = zero;
        for (Index k_begin = 0; k_begin < Kp; k_begin += kb) {
          const Index k_end = std::min(Kp, k_begin + kb);
          for_row_tiles(0, m, [&](Index i, auto R) {
            hvp_forward_tile<decltype(R)::value>(Xb + i * d, d, ld, k_begin, k_end, UT.data(), ub.data(),
                                                 uv.data(), w_.v.data(), phi + i * ld, ld,
                                                 tt.data() + i * ld, spart + i);
          });
        }
        double s[kRowBlock], rr[kRowBlock];
        for (Index i = 0; i < m; ++i) {
          s[i] = gn * (ubeta + hsum(spart[i]));  // (J u)_i
          rr[i] = res * r_[i0 + i];
          gbeta += s[i];
        }
        for (Index k_begin = 0; k_begin < Kp; k_begin += kb) {
          const Index k_end = std::min(Kp, k_begin + kb);
          for_row_tiles(0, m, [&](Index i, auto R) {
            hvp_backward_tile<decltype(R)::value>(Xb + i * d, s + i, rr + i, d, ld, k_begin, k_end,
                                                  w_.v.data(), uv.data(), phi + i * ld, ld,
                                                  tt.data() + i * ld, gWT, gb, gv);
          });
        }
      }
      g[acc_size - 1] = gbeta;
    }
  }
  Vector& total = ws.total;
  detail::reduce_in_order(acc, total.data(), acc_size, n_threads_);
  const double inv_n = 1.0 / static_cast<double>(n);
  const double* gWT = total.data();
  const double* gb = gWT + d * ld;
  const double* gv = gb + Kp;
  for (Index k = 0; k < K; ++k) {
    for (Index j = 0; j < d; ++j) out[L.W() + k * d + j] = gWT[j * ld + k] * inv_n;
    out[L.b() + k] = gb[k] * inv_n;
    out[L.v() + k] = gv[k] * inv_n;
  }
  out[L.beta()] = total[acc_size - 1] * inv_n;
  (void)P;
  ++n_products_;
}

Vector HessianOperator::apply(const ConstVectorRef& u) const {
  if (u.size() != rows())
    throw std::invalid_argument("direction has " + std::to_string(u.size()) +
                                " entries, expected P = " + std::to_string(rows()));
  Vector in = u;  // contiguous copy, never aliasing `out`
  Vector out(rows());
  perform_op(in.data(), out.data());
  return out;
}

Vector hessian_vector_product(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                              const ConstVectorRef& u, HessianPart part, int n_threads) {
  check_data(net, X, y);
  HessianOperator op(net, RowMatrix(X), Vector(y), part, n_threads, /*cache_activations=*/false);
  return op.apply(u);
}

// ---------------------------------------------------------------------------------------------
// Exact trace
// ---------------------------------------------------------------------------------------------

TraceTerms trace_terms(const Network& net, const ConstMatrixRef& X, int n_threads) {
  net.check();
  if (X.cols() != net.d()) throw std::invalid_argument("X must have d columns");
  const int nt = threads_for_work(n_threads, 2.0 * X.rows() * net.width() * (net.d() + 2));
  const Index n = X.rows(), K = net.width(), B = block_rows(K);
  const RowChunks ch = make_row_chunks(n);
  std::vector<Vector> acc(ch.n_chunks, Vector(2 * K));
  std::vector<RowMatrix> phi(nt, RowMatrix(B, K));
#pragma omp parallel for schedule(dynamic) num_threads(nt)
  for (Index c = 0; c < ch.n_chunks; ++c) {
    RowMatrix& buf = phi[detail::thread_id()];
    Vector& a = acc[c];
    a.setZero();
    for (Index i0 = ch.begin(c); i0 < ch.end(c); i0 += B) {
      const Index m = std::min(B, ch.end(c) - i0);
      relu_block(net, X, i0, m, buf);
      for (Index i = 0; i < m; ++i) {
        const double x2 = X.row(i0 + i).squaredNorm() + 1.0;
        const double* p = buf.row(i).data();
        for (Index k = 0; k < K; ++k) {
          a[k] += p[k] * p[k];
          a[K + k] += p[k] > 0.0 ? x2 : 0.0;
        }
      }
    }
  }
  Vector total(2 * K);
  detail::reduce_in_order(acc, total.data(), 2 * K, nt);
  total /= static_cast<double>(n);
  return TraceTerms{total.head(K), total.tail(K)};
}

double hessian_trace(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                     HessianPart part, int n_threads) {
  check_data(net, X, y);
  if (part == HessianPart::Residual) return 0.0;
  const TraceTerms t = trace_terms(net, X, n_threads);
  return 1.0 + t.A.sum() + (net.v.array().square() * t.M.array()).sum();
}

}  // namespace flatcore
