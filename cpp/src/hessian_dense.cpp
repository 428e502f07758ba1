// The dense Hessian in closed form (docs/math.md, sections 3.1-3.2).
#include <algorithm>
#include <vector>

#include "flatcore/hessian.hpp"
#include "forward.hpp"

namespace flatcore {

namespace {

// Rows of the Jacobian formed at a time, and the column blocks of H that threads share.
constexpr Index kJacobianRows = 128;
constexpr Index kColumnBlock = 64;

// The Jacobian rows g_i^T = df(x_i)/dtheta of the m rows whose activations are phi (stride ld).
void jacobian_rows(const Network& net, const double* X, Index m, const double* phi, Index ld, RowMatrix& J) {
  const Index d = net.d(), K = net.width();
  const ParamLayout L(d, K);
  J.topRows(m).setZero();
  for (Index i = 0; i < m; ++i) {
    const double* x = X + i * d;
    const double* p = phi + i * ld;
    double* g = J.row(i).data();
    for (Index k = 0; k < K; ++k) {
      g[L.v() + k] = p[k];
      if (p[k] > 0.0) {
        const double vk = net.v[k];
        for (Index j = 0; j < d; ++j) g[L.W() + k * d + j] = vk * x[j];
        g[L.b() + k] = -vk;
      }
    }
    g[L.beta()] = 1.0;
  }
}

// The residual part couples v_k with (w_k, b_k) only: d2f/dv_k dw_k = a_ik x_i and
// d2f/dv_k db_k = -a_ik, so it needs sum_i r_i a_ik (x_i, 1) per neuron.
void add_residual_moments(const double* X, Index m, Index d, Index K, const double* phi, Index ld,
                          const double* r, RowMatrix& RW, Vector& Rb) {
  for (Index i = 0; i < m; ++i) {
    const double* x = X + i * d;
    const double* p = phi + i * ld;
    for (Index k = 0; k < K; ++k) {
      if (p[k] > 0.0) {
        for (Index j = 0; j < d; ++j) RW(k, j) += r[i] * x[j];
        Rb[k] += r[i];
      }
    }
  }
}

void add_residual_part(const RowMatrix& RW, const Vector& Rb, double inv_n, Eigen::MatrixXd& H) {
  const Index K = RW.rows(), d = RW.cols();
  const ParamLayout L(d, K);
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

}  // namespace

double dense_hessian_bytes(Index n_params, Index width) {
  const double P = static_cast<double>(n_params);
  return 8.0 * (P * P + kJacobianRows * P + kJacobianRows * PackedWeights::stride(width));
}

Eigen::MatrixXd dense_hessian(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                              HessianPart part, LossConvention convention, int n_threads,
                              const StopCallback& should_stop, bool* stopped) {
  check_data(net, X, y);
  check_num_threads(n_threads);
  const int nt = team_size(n_threads);  // O(n P^2) work: always worth the threads
  const Index n = X.rows(), d = net.d(), K = net.width();
  const Index P = net.n_params();
  if (stopped) *stopped = false;
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(P, P);
  const Forward forward(net);
  const Index ld = forward.ld();
  const ContiguousRows rows(X);

  // H += J_b^T J_b block by block of rows, split over fixed column blocks of H, so that every
  // entry is summed in the same order for any thread count.
  const Index n_col_blocks = (P + kColumnBlock - 1) / kColumnBlock;
  Vector phi(kJacobianRows * ld), r(kJacobianRows);
  RowMatrix J(kJacobianRows, P);
  RowMatrix RW = RowMatrix::Zero(K, d);  // sum_i r_i a_ik x_i
  Vector Rb = Vector::Zero(K);           // sum_i r_i a_ik

  for (Index i0 = 0; i0 < n; i0 += kJacobianRows) {
    const Index m = std::min(kJacobianRows, n - i0);
    forward.outputs(rows.row(i0), m, phi.data(), r.data());
    if (part != HessianPart::Residual) {
      jacobian_rows(net, rows.row(i0), m, phi.data(), ld, J);
      auto Jb = J.topRows(m);
#pragma omp parallel for schedule(dynamic) num_threads(nt)
      for (Index cb = 0; cb < n_col_blocks; ++cb) {
        const Index c0 = cb * kColumnBlock, w = std::min(kColumnBlock, P - c0);
        H.middleCols(c0, w).noalias() += Jb.transpose() * Jb.middleCols(c0, w);
      }
    }
    if (part != HessianPart::GaussNewton) {
      for (Index i = 0; i < m; ++i) r[i] -= y[i0 + i];
      add_residual_moments(rows.row(i0), m, d, K, phi.data(), ld, r.data(), RW, Rb);
    }
    if (should_stop && should_stop(static_cast<long>(i0))) {
      if (stopped) *stopped = true;
      return H;
    }
  }

  const double inv_n = loss_scale(convention) / static_cast<double>(n);  // 1/n or 2/n: the convention's
  H *= inv_n;
  if (part != HessianPart::GaussNewton) add_residual_part(RW, Rb, inv_n, H);
  return H;
}

}  // namespace flatcore
