#include "flatcore/numerics.hpp"

#include <algorithm>

#include "thread_id.hpp"

namespace flatcore {

namespace {

// phi = relu(X_block W^T - b) for rows [i0, i0 + m), into the first m rows of `phi`.
inline void activations(const Network& net, const ConstMatrixRef& X, Index i0, Index m,
                        RowMatrix& phi) {
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

Vector predict(const Network& net, const ConstMatrixRef& X, int n_threads) {
  net.check();
  if (X.cols() != net.d()) throw std::invalid_argument("X must have d columns");
  const int nt = resolve_num_threads(n_threads);
  const Index n = X.rows(), K = net.width(), B = block_rows(K);
  Vector out(n);
  const RowChunks ch = make_row_chunks(n);
  std::vector<RowMatrix> phi(nt, RowMatrix(B, K));
#pragma omp parallel for schedule(dynamic) num_threads(nt)
  for (Index c = 0; c < ch.n_chunks; ++c) {
    RowMatrix& buf = phi[detail::thread_id()];
    for (Index i0 = ch.begin(c); i0 < ch.end(c); i0 += B) {
      const Index m = std::min(B, ch.end(c) - i0);
      activations(net, X, i0, m, buf);
      out.segment(i0, m).noalias() = buf.topRows(m) * net.v;
      out.segment(i0, m).array() += net.beta;
    }
  }
  return out;
}

double loss(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y, int n_threads) {
  check_data(net, X, y);
  const Vector r = predict(net, X, n_threads) - y;
  return 0.5 * r.squaredNorm() / static_cast<double>(X.rows());
}

GradientWorkspace::GradientWorkspace(Index n, Index d, Index width, int n_threads)
    : n_threads_(resolve_num_threads(n_threads)),
      chunks_(make_row_chunks(n)),
      block_(block_rows(width)) {
  const Index P = width * (d + 2) + 1;
  chunk_grad_.assign(chunks_.n_chunks, Vector::Zero(P));
  chunk_loss_.assign(chunks_.n_chunks, 0.0);
  chunk_active_.assign(chunks_.n_chunks, 0.0);
  thread_phi_.assign(n_threads_, RowMatrix(block_, width));
}

void loss_and_gradient_into(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                            GradientWorkspace& ws, LossGradient& out) {
  const Index n = X.rows(), d = net.d(), K = net.width(), B = ws.block_;
  const ParamLayout L(d, K);
  const RowChunks& ch = ws.chunks_;
  if (ch.n != n || static_cast<Index>(ws.chunk_grad_.empty() ? 0 : ws.chunk_grad_[0].size()) != L.size())
    throw std::invalid_argument("GradientWorkspace does not match the problem size");
  const double* b = net.b.data();
  const double* v = net.v.data();

#pragma omp parallel for schedule(dynamic) num_threads(ws.n_threads_)
  for (Index c = 0; c < ch.n_chunks; ++c) {
    RowMatrix& phi = ws.thread_phi_[detail::thread_id()];
    Vector& g = ws.chunk_grad_[c];
    g.setZero();
    Eigen::Map<RowMatrix> gW(g.data() + L.W(), K, d);
    double* gb = g.data() + L.b();
    double* gv = g.data() + L.v();
    double loss_sum = 0.0, active = 0.0, gbeta = 0.0;
    for (Index i0 = ch.begin(c); i0 < ch.end(c); i0 += B) {
      const Index m = std::min(B, ch.end(c) - i0);
      auto Xb = X.middleRows(i0, m);
      auto P = phi.topRows(m);
      P.noalias() = Xb * net.W.transpose();
      for (Index i = 0; i < m; ++i) {
        double* row = P.row(i).data();
        double f = net.beta;
        for (Index k = 0; k < K; ++k) {
          const double z = row[k] - b[k];
          const double a = z > 0.0 ? z : 0.0;
          row[k] = a;
          f += v[k] * a;
        }
        const double r = f - y[i0 + i];
        loss_sum += r * r;
        gbeta += r;
        // dL/dv_k gets r phi_ik; the row is then reused for C_ik = r a_ik, from which
        // dL/dw_k = v_k/n sum_i C_ik x_i and dL/db_k = -v_k/n sum_i C_ik.
        for (Index k = 0; k < K; ++k) {
          const double p = row[k];
          gv[k] += r * p;
          const bool on = p > 0.0;
          active += on ? 1.0 : 0.0;
          row[k] = on ? r : 0.0;
          gb[k] -= row[k];
        }
      }
      gW.noalias() += P.transpose() * Xb;
    }
    g[L.beta()] = gbeta;
    ws.chunk_loss_[c] = loss_sum;
    ws.chunk_active_[c] = active;
  }

  const Index P = L.size();
  out.grad.resize(P);
  detail::reduce_in_order(ws.chunk_grad_, out.grad.data(), P, ws.n_threads_);
  double loss_sum = 0.0, active = 0.0;
  for (Index c = 0; c < ch.n_chunks; ++c) {
    loss_sum += ws.chunk_loss_[c];
    active += ws.chunk_active_[c];
  }
  const double inv_n = 1.0 / static_cast<double>(n);
  Eigen::Map<RowMatrix> gW(out.grad.data() + L.W(), K, d);
  for (Index k = 0; k < K; ++k) {
    const double s = v[k] * inv_n;
    gW.row(k) *= s;
    out.grad[L.b() + k] *= s;
    out.grad[L.v() + k] *= inv_n;
  }
  out.grad[L.beta()] *= inv_n;
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
