// The exact trace of the Hessian (docs/math.md, section 3.4).
#include <vector>

#include "flatcore/trace.hpp"
#include "forward.hpp"

namespace flatcore {

TraceTerms trace_terms(const Network& net, const ConstMatrixRef& X, int n_threads) {
  check_inputs(net, X);
  const Index n = X.rows(), K = net.width();
  const int nt = threads_for_work(n_threads, 2.0 * n * K * (net.d() + 2));
  const Forward forward(net);
  const Index ld = forward.ld();
  const ContiguousRows rows(X);
  const RowChunks ch = make_row_chunks(n);
  std::vector<Vector> phi = thread_buffers(nt, kernels::kRowBlock * ld);
  std::vector<Vector> f = thread_buffers(nt, kernels::kRowBlock);
  // Per chunk: sum_i phi_ik^2 (K) | sum_i a_ik (||x_i||^2 + 1) (K).
  std::vector<Vector> acc(ch.n_chunks, Vector::Zero(2 * K));
  for_each_row_block(ch, nt, [&](Index c, Index i0, Index m, int thread) {
    const double* p = phi[thread].data();
    forward.outputs(rows.row(i0), m, phi[thread].data(), f[thread].data());
    double* a = acc[c].data();
    for (Index i = 0; i < m; ++i) {
      const double x2 = Eigen::Map<const Vector>(rows.row(i0 + i), net.d()).squaredNorm() + 1.0;
      const double* pi = p + i * ld;
      for (Index k = 0; k < K; ++k) {
        a[k] += pi[k] * pi[k];
        a[K + k] += pi[k] > 0.0 ? x2 : 0.0;
      }
    }
  });
  Vector total(2 * K);
  detail::reduce_in_order(acc, total.data(), 2 * K, nt);
  total /= static_cast<double>(n);
  return TraceTerms{total.head(K), net.v.array().square() * total.tail(K).array()};
}

double hessian_trace(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y, HessianPart part,
                     int n_threads) {
  check_data(net, X, y);
  if (part == HessianPart::Residual) {
    check_num_threads(n_threads);
    return 0.0;
  }
  const TraceTerms t = trace_terms(net, X, n_threads);
  return 1.0 + t.A.sum() + t.B.sum();
}

}  // namespace flatcore
