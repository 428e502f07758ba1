#include "flatcore/eigensolver.hpp"

#include <Eigen/Eigenvalues>
#include <Spectra/SymEigsSolver.h>
#include <algorithm>
#include <random>

namespace flatcore {

namespace {

// What Spectra applies: the Hessian operator, polling the stop callback before each product.
class PolledOperator {
 public:
  using Scalar = double;
  PolledOperator(const HessianOperator& op, const StopCallback& stop) : op_(op), stop_(stop) {}
  Index rows() const { return op_.rows(); }
  Index cols() const { return op_.cols(); }
  void perform_op(const double* x, double* y) const {
    if (stop_ && stop_(op_.n_products())) throw Interrupted();
    op_.perform_op(x, y);
  }

 private:
  const HessianOperator& op_;
  const StopCallback& stop_;
};

}  // namespace

Vector seeded_start_vector(Index size, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  Vector v(size);
  for (Index i = 0; i < size; ++i)
    v[i] = static_cast<double>(gen() >> 11) * 0x1.0p-53 - 0.5;
  return v;
}

EigResult lanczos_eigenpairs(const HessianOperator& op, const EigOptions& opt,
                             const StopCallback& should_stop) {
  const Index P = op.rows();
  if (opt.k < 1 || opt.k >= P)
    throw std::invalid_argument("Lanczos needs 1 <= k < P (P = " + std::to_string(P) +
                                "); use the dense eigendecomposition for k close to P");
  Index ncv = opt.ncv > 0 ? opt.ncv : std::max<Index>(2 * opt.k + 1, 20);
  ncv = std::min(std::max(ncv, opt.k + 1), P);

  PolledOperator polled(op, should_stop);
  Spectra::SymEigsSolver<PolledOperator> solver(polled, opt.k, ncv);
  Vector start;
  if (opt.start && opt.start->size() == P && opt.start->norm() > 0) {
    start = *opt.start;
  } else {
    start = seeded_start_vector(P, opt.seed);
  }
  solver.init(start.data());
  const long before = op.n_products();
  const auto rule = opt.which == EigWhich::Largest ? Spectra::SortRule::LargestAlge
                                                   : Spectra::SortRule::SmallestAlge;
  solver.compute(rule, opt.max_restarts, opt.tol, rule);

  EigResult res;
  res.converged = solver.info() == Spectra::CompInfo::Successful;
  res.n_restarts = static_cast<long>(solver.num_iterations());
  // Spectra returns only converged pairs; report what it has (possibly fewer than k).
  res.values = solver.eigenvalues();
  res.vectors = solver.eigenvectors();
  const Index m = res.values.size();
  res.residual_norms.resize(m);
  Vector hq(P);
  for (Index j = 0; j < m; ++j) {
    Vector q = res.vectors.col(j);
    polled.perform_op(q.data(), hq.data());
    res.residual_norms[j] = (hq - res.values[j] * q).norm();
  }
  res.n_products = op.n_products() - before;
  return res;
}

EigResult dense_eigenpairs(const Eigen::MatrixXd& H, Index k, EigWhich which) {
  const Index P = H.rows();
  if (k < 1 || k > P) throw std::invalid_argument("k must be between 1 and P");
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(H);
  if (es.info() != Eigen::Success) throw std::runtime_error("dense eigendecomposition failed");
  EigResult res;
  res.values.resize(k);
  res.vectors.resize(P, k);
  for (Index j = 0; j < k; ++j) {
    const Index idx = which == EigWhich::Largest ? P - 1 - j : j;  // ascending order from Eigen
    res.values[j] = es.eigenvalues()[idx];
    res.vectors.col(j) = es.eigenvectors().col(idx);
  }
  res.residual_norms = (H * res.vectors - res.vectors * res.values.asDiagonal()).colwise().norm().transpose();
  res.converged = true;
  return res;
}

}  // namespace flatcore
