#include "flatcore/hessian.hpp"

#include <algorithm>
#include <vector>

#include "flatcore/numerics.hpp"
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

HessianOperator::HessianOperator(Network net, RowMatrix X, Vector y, HessianPart part,
                                 int n_threads, bool cache_activations)
    : net_(std::move(net)),
      X_(std::move(X)),
      y_(std::move(y)),
      part_(part),
      n_threads_(resolve_num_threads(n_threads)),
      chunks_(make_row_chunks(X_.rows())),
      block_(block_rows(net_.width())) {
  check_data(net_, X_, y_);
  r_ = predict(net_, X_, n_threads_) - y_;
  if (cache_activations) {
    phi_.resize(X_.rows(), net_.width());
    const Index B = block_;
#pragma omp parallel num_threads(n_threads_)
    {
      RowMatrix buf(B, net_.width());
#pragma omp for schedule(dynamic)
      for (Index c = 0; c < chunks_.n_chunks; ++c) {
        for (Index i0 = chunks_.begin(c); i0 < chunks_.end(c); i0 += B) {
          const Index m = std::min(B, chunks_.end(c) - i0);
          relu_block(net_, X_, i0, m, buf);
          phi_.middleRows(i0, m) = buf.topRows(m);
        }
      }
    }
  }
}

void HessianOperator::activations_block(Index i0, Index m, RowMatrix& phi) const {
  relu_block(net_, X_, i0, m, phi);
}

void HessianOperator::perform_op(const double* u, double* out) const {
  const Index d = net_.d(), K = net_.width(), n = X_.rows(), B = block_;
  const ParamLayout L(d, K);
  const Index P = L.size();
  const bool gn = part_ != HessianPart::Residual;
  const bool res = part_ != HessianPart::GaussNewton;
  const Eigen::Map<const RowMatrix> UW(u + L.W(), K, d);
  const double* ub = u + L.b();
  const double* uv = u + L.v();
  const double ubeta = u[L.beta()];
  const double* v = net_.v.data();
  const bool cached = caches_activations();

  std::vector<Vector> acc(chunks_.n_chunks, Vector(P));
  std::vector<RowMatrix> T_buf(n_threads_), phi_buf(n_threads_);

#pragma omp parallel num_threads(n_threads_)
  {
    const int tid = detail::thread_id();
    T_buf[tid].resize(B, K);
    if (!cached) phi_buf[tid].resize(B, K);
#pragma omp for schedule(dynamic)
    for (Index c = 0; c < chunks_.n_chunks; ++c) {
      RowMatrix& T = T_buf[tid];
      Vector& g = acc[c];
      g.setZero();
      Eigen::Map<RowMatrix> gW(g.data() + L.W(), K, d);
      double* gb = g.data() + L.b();
      double* gv = g.data() + L.v();
      double gbeta = 0.0;
      for (Index i0 = chunks_.begin(c); i0 < chunks_.end(c); i0 += B) {
        const Index m = std::min(B, chunks_.end(c) - i0);
        auto Xb = X_.middleRows(i0, m);
        const double* phi_rows;
        Index phi_stride;
        if (cached) {
          phi_rows = phi_.row(i0).data();
        } else {
          activations_block(i0, m, phi_buf[tid]);
          phi_rows = phi_buf[tid].data();
        }
        phi_stride = K;
        auto Tb = T.topRows(m);
        Tb.noalias() = Xb * UW.transpose();  // T_ik = x_i . U_W,k
        for (Index i = 0; i < m; ++i) {
          const double* p = phi_rows + i * phi_stride;
          double* t = Tb.row(i).data();
          const double ri = r_[i0 + i];
          // s_i = (J u)_i
          double s = 0.0;
          if (gn) {
            s = ubeta;
            for (Index k = 0; k < K; ++k) {
              const double jw = p[k] > 0.0 ? v[k] * (t[k] - ub[k]) : 0.0;
              s += uv[k] * p[k] + jw;
            }
            gbeta += s;
          }
          for (Index k = 0; k < K; ++k) {
            const bool on = p[k] > 0.0;
            double hv = gn ? s * p[k] : 0.0;
            double coef = 0.0;  // multiplies x_i in (Hu)_w_k and -1 in (Hu)_b_k
            if (on) {
              if (gn) coef += v[k] * s;
              if (res) {
                hv += ri * (t[k] - ub[k]);
                coef += uv[k] * ri;
              }
            }
            gv[k] += hv;
            t[k] = coef;
            gb[k] -= coef;
          }
        }
        gW.noalias() += Tb.transpose() * Xb;
      }
      g[L.beta()] = gbeta;
    }
  }
  detail::reduce_in_order(acc, out, P, n_threads_);
  const double inv_n = 1.0 / static_cast<double>(n);
  for (Index j = 0; j < P; ++j) out[j] *= inv_n;
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
  const int nt = resolve_num_threads(n_threads);
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
