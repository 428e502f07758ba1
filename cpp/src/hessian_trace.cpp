// The exact trace of the Hessian (docs/math.md, section 3.4).
#include <vector>

#include "flatcore/trace.hpp"
#include "forward.hpp"

namespace flatcore {

TraceTerms trace_terms(const Network& net, const ConstMatrixRef& X, LossConvention convention,
                       int n_threads) {
  const Index K = net.width(), d = net.d();
  // mean_i phi_ik^2 (K) | mean_i a_ik (||x_i||^2 + 1) (K)
  auto add = [&](double* acc, const double* x, const double* phi, Index m, Index ld) {
    for (Index i = 0; i < m; ++i) {
      const double x2 = Eigen::Map<const Vector>(x + i * d, d).squaredNorm() + 1.0;
      const double* p = phi + i * ld;
      for (Index k = 0; k < K; ++k) {
        acc[k] += p[k] * p[k];
        acc[K + k] += p[k] > 0.0 ? x2 : 0.0;
      }
    }
  };
  const Vector means =
      row_means(net, X, n_threads, 2.0 * X.rows() * K * (d + 2), ForwardValues::Activations, 2 * K, add);
  const double scale = loss_scale(convention);
  return TraceTerms{scale * means.head(K), scale * net.v.array().square() * means.tail(K).array(), scale};
}

double hessian_trace(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y, HessianPart part,
                     LossConvention convention, int n_threads) {
  check_data(net, X, y);
  if (part == HessianPart::Residual) {
    check_num_threads(n_threads);
    return 0.0;
  }
  const TraceTerms t = trace_terms(net, X, convention, n_threads);
  return t.beta + t.A.sum() + t.B.sum();
}

}  // namespace flatcore
