#include "flatcore/eigensolver.hpp"

#include <Spectra/SymEigsSolver.h>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "flatcore/finite.hpp"
#include "names.hpp"

namespace flatcore {

namespace {
constexpr EnumNames<EigWhich, 2> kWhich{"which",
                                        {{{EigWhich::Largest, "largest"}, {EigWhich::Smallest, "smallest"}}}};
constexpr EnumNames<EigStop, 2> kStop{
    "stop", {{{EigStop::Residual, "residual"}, {EigStop::Eigenvalue, "eigenvalue"}}}};
}  // namespace

const char* which_name(EigWhich which) { return kWhich.name(which); }
std::vector<std::string> which_names() { return kWhich.names(); }
EigWhich parse_which(const std::string& name) { return kWhich.parse(name); }

const char* stop_name(EigStop stop) { return kStop.name(stop); }
std::vector<std::string> stop_names() { return kStop.names(); }
EigStop parse_stop(const std::string& name) { return kStop.parse(name); }

namespace {

constexpr const char* kProductOverflow =
    "a Hessian-vector product overflowed float64 (inf or NaN) although the network and the data are "
    "finite: the Hessian's entries are too large at this scale of the data and the weights; rescale "
    "them (e.g. divide X by its largest norm, or the weights by a constant)";

// Products whose largest entry lies outside [2^-200, 2^200] are scaled by a power of two, so that
// the squares in the solvers' norms and in the tridiagonal eigensolver neither overflow nor
// underflow: a finite Hessian then has finite eigenvalues at any scale. Powers of two are exact (but
// for entries pushed below 2^-1022), so the scaled solve gives the unscaled one's bits; the results
// are multiplied back at the end.
constexpr double kScaleLimit = 0x1.0p200;

// The factor the solvers' products are multiplied by, shared by the operators of one solve: chosen
// at the first non-zero product (zero products look the same at any scale), then fixed.
struct Scaling {
  double factor = 0.0;  // 0: not chosen yet
  double unscale() const { return factor > 0.0 ? 1.0 / factor : 1.0; }
  // A power of two bringing the largest entry m of a matrix to [1, 2) when m is extreme, else 1.
  static double for_max_entry(double m) {
    return (m > kScaleLimit || m < 1.0 / kScaleLimit) ? std::ldexp(1.0, -std::ilogb(m)) : 1.0;
  }
};

// What the solvers apply: H, or (I - Q Q^T) H (I - Q Q^T) when Q (orthonormal columns, the
// eigenvectors found so far) is given, times the solve's Scaling. The stop callback is polled
// before each product; a non-finite product throws NonFiniteError at once.
class SolverOperator {
 public:
  using Scalar = double;
  SolverOperator(const HessianOperator& op, const StopCallback& stop, Scaling& scaling,
                 const Eigen::MatrixXd* Q = nullptr)
      : op_(op), stop_(stop), scaling_(scaling), Q_(Q) {}
  Index rows() const { return op_.rows(); }
  Index cols() const { return op_.cols(); }
  void perform_op(const double* x, double* y) const {
    if (stop_ && stop_(op_.n_hvp())) throw Interrupted();
    Eigen::Map<Vector> ym(y, rows());
    if (!Q_) {
      op_.perform_op(x, y);
    } else {
      const Eigen::Map<const Vector> xm(x, rows());
      Vector t = xm - *Q_ * (Q_->transpose() * xm);
      op_.perform_op(t.data(), y);
      ym -= *Q_ * (Q_->transpose() * ym);
    }
    if (!ym.allFinite()) throw NonFiniteError(kProductOverflow);
    if (scaling_.factor == 0.0) {
      const double m = ym.cwiseAbs().maxCoeff();
      if (m > 0.0) scaling_.factor = Scaling::for_max_entry(m);
    }
    if (scaling_.factor > 0.0 && scaling_.factor != 1.0) {
      ym *= scaling_.factor;
      if (!ym.allFinite())  // scaled up for a tiny first product, and this one is huge
        throw NonFiniteError(
            "the Hessian's entries span too many orders of magnitude for float64 (a product below 1e-60 "
            "and another more than 1e308 times larger); rescale the data or the weights");
    }
  }

 private:
  const HessianOperator& op_;
  const StopCallback& stop_;
  Scaling& scaling_;
  const Eigen::MatrixXd* Q_;
};

struct Pairs {
  Vector values;
  Eigen::MatrixXd vectors;
  bool converged = false;
  long restarts = 0;
};

Pairs run_spectra(SolverOperator& A, Index k, Index ncv, const Vector& start, EigWhich which, double tol,
                  Index max_restarts) {
  Spectra::SymEigsSolver<SolverOperator> solver(A, k, ncv);
  solver.init(start.data());
  const auto rule =
      which == EigWhich::Largest ? Spectra::SortRule::LargestAlge : Spectra::SortRule::SmallestAlge;
  solver.compute(rule, max_restarts, tol, rule);
  Pairs p;
  p.converged = solver.info() == Spectra::CompInfo::Successful;
  p.restarts = static_cast<long>(solver.num_iterations());
  // Spectra returns only the converged pairs (possibly fewer than k).
  p.values = solver.eigenvalues();
  p.vectors = solver.eigenvectors();
  if (!p.values.allFinite() || !p.vectors.allFinite()) throw std::runtime_error("non-finite Ritz pairs");
  return p;
}

Index default_ncv(Index k, Index P, Index requested) {
  Index ncv = requested > 0 ? requested : std::max<Index>(2 * k + 1, 20);
  return std::min(std::max(ncv, k + 1), P);
}

// Applies H to the unit vectors and solves densely (for degenerate Krylov spaces, small P).
EigResult dense_through_products(const SolverOperator& A, Index k, EigWhich which) {
  const Index P = A.rows();
  Eigen::MatrixXd H(P, P);
  Vector unit = Vector::Zero(P), col(P);
  for (Index j = 0; j < P; ++j) {
    unit[j] = 1.0;
    A.perform_op(unit.data(), col.data());
    H.col(j) = col;
    unit[j] = 0.0;
  }
  H = (0.5 * (H + H.transpose())).eval();
  return dense_eigenpairs(H, k, which);
}

// One extreme eigenpair by Lanczos with full reorthogonalisation, checking convergence after every
// product (Spectra builds its whole basis before the first check, which for a well-separated top
// eigenvalue costs two to three times the products needed). Restarts from the current Ritz
// vector when the basis reaches max_basis vectors.
//
// The residual comes from the Lanczos relation H Q_j = Q_j T_j + beta_j q_{j+1} e_j^T, which full
// reorthogonalisation keeps exact up to rounding: ||H x - theta x|| = beta_j |s_j| for the Ritz
// vector x = Q_j s, so no product is spent on checking it.
EigResult lanczos_single(const SolverOperator& A, bool largest, double tol, EigStop stop, Index max_restarts,
                         const Vector& start) {
  const Index P = A.rows();
  const Index m_max = std::min<Index>(P, 64);
  Eigen::MatrixXd Q(P, m_max);
  Vector alpha(m_max), beta(m_max), w(P), x = start / safe_norm(start);
  EigResult res;
  res.values.resize(1);
  res.vectors.resize(P, 1);
  res.residual_norms.resize(1);
  res.error_bounds.resize(1);
  res.self_checked = true;
  for (Index restart = 0; restart <= max_restarts; ++restart) {
    Q.col(0) = x;
    for (Index j = 0; j < m_max; ++j) {
      A.perform_op(Q.col(j).data(), w.data());
      alpha[j] = Q.col(j).dot(w);
      // Full reorthogonalisation (twice is enough, Kahan-Parlett) keeps Q orthonormal.
      for (int pass = 0; pass < 2; ++pass) w -= Q.leftCols(j + 1) * (Q.leftCols(j + 1).transpose() * w);
      beta[j] = safe_norm(w);
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> tri;
      tri.computeFromTridiagonal(alpha.head(j + 1), beta.head(j), Eigen::ComputeEigenvectors);
      const Index pick = largest ? j : 0;  // eigenvalues come in ascending order
      const double theta = tri.eigenvalues()[pick];
      const double s_last = tri.eigenvectors()(j, pick);
      const double residual = beta[j] * std::abs(s_last);  // = ||H x - theta x||
      // Kato-Temple: |lambda - theta| <= r^2 / gap when gap separates theta from the rest of the
      // spectrum. The next eigenvalue is not known: theta' + r' (the next Ritz value and its
      // residual) stands in for it, which shrinks the gap while theta' is still moving but is no
      // bound: a close eigenvalue the Krylov space has not resolved yet is missed (EigStop).
      double error = residual;
      if (j > 1) {
        const Index next = largest ? j - 1 : 1;
        const double next_residual = beta[j] * std::abs(tri.eigenvectors()(j, next));
        const double gap = std::abs(theta - tri.eigenvalues()[next]) - next_residual;
        if (gap > residual) error = std::min(error, residual * residual / gap);
      }
      // Relative to |theta|; an eigenvalue near 0 is known only to the rounding level of H,
      // eps ||H|| (||H|| estimated by the Ritz values), so a measure within 1e3 of that counts too.
      // Right after a restart the 1- or 2-dimensional Krylov space says nothing about the gap.
      const double spread = std::max(std::abs(tri.eigenvalues()[0]), std::abs(tri.eigenvalues()[j]));
      const double scale = std::abs(theta);
      const double rounding = 1e3 * std::numeric_limits<double>::epsilon() * spread;
      const double measure = stop == EigStop::Eigenvalue ? error : residual;
      // Converged, or the Krylov space is invariant (then the Ritz pair is exact in it), or the
      // basis spans the whole space.
      const bool done = measure <= std::max(tol * scale, rounding) ||
                        beta[j] <= 1e-14 * std::max(spread, std::abs(alpha[j])) || j + 1 == P;
      if (done || j + 1 == m_max) {
        x = Q.leftCols(j + 1) * tri.eigenvectors().col(pick);
        x /= safe_norm(x);
        res.values[0] = theta;
        res.vectors.col(0) = x;
        res.residual_norms[0] = residual;
        res.error_bounds[0] = error;
        res.n_restarts = static_cast<long>(restart);
        if (done) {
          res.converged = true;
          return res;
        }
        break;
      }
      Q.col(j + 1) = w / beta[j];
    }
  }
  res.converged = false;
  return res;
}

}  // namespace

Vector seeded_start_vector(Index size, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  Vector v(size);
  for (Index i = 0; i < size; ++i) v[i] = static_cast<double>(gen() >> 11) * 0x1.0p-53 - 0.5;
  return v;
}

EigResult lanczos_eigenpairs(const HessianOperator& op, const EigOptions& opt,
                             const StopCallback& should_stop) {
  const Index P = op.rows();
  if (opt.k < 1 || opt.k >= P)
    throw std::invalid_argument("Lanczos needs 1 <= k < P (P = " + std::to_string(P) +
                                "); use the dense eigendecomposition for k close to P");
  if (opt.start.size() != 0 && opt.start.size() != P)
    throw std::invalid_argument("the start vector has " + std::to_string(opt.start.size()) +
                                " entries, expected P = " + std::to_string(P));
  if (opt.start.size() != 0 && !opt.start.allFinite())
    throw std::invalid_argument("the start vector contains NaN or Inf");
  const long before = op.n_hvp();
  // The solvers work on H times scaling.factor; every value, residual and bound is multiplied back
  // at the end.
  Scaling scaling;
  SolverOperator plain(op, should_stop, scaling);
  Vector start = seeded_start_vector(P, opt.seed);
  if (opt.start.size() == P && safe_norm(opt.start) > 0) {
    // A warm start that is already an eigenvector spans an invariant Krylov space and stalls
    // Lanczos; a small random admixture keeps the space growing at almost no cost.
    start = opt.start / safe_norm(opt.start) + 1e-2 * start / start.norm();
  }
  const bool largest = opt.which == EigWhich::Largest;
  auto better = [&](double a, double b) { return largest ? a > b : a < b; };

  EigResult res;
  if (opt.k == 1) {
    res = lanczos_single(plain, largest, opt.tol, opt.stop, opt.max_restarts, start);
  } else
    try {
      Pairs p = run_spectra(plain, opt.k, default_ncv(opt.k, P, opt.ncv), start, opt.which, opt.tol,
                            opt.max_restarts);
      res.values = p.values;
      res.vectors = p.vectors;
      res.converged = p.converged && p.values.size() == opt.k;
      res.n_restarts = p.restarts;
    } catch (const Interrupted&) {
      throw;
    } catch (const NonFiniteError&) {
      throw;
    } catch (const std::exception& e) {
      // Spectra gives up on degenerate Krylov spaces (e.g. the zero operator, which the residual
      // part is when no neuron is active). Up to a moderate size, solve densely instead.
      if (P > 4096)
        throw std::runtime_error(std::string("Lanczos failed (") + e.what() +
                                 "); try another seed or a dense eigendecomposition");
      res = dense_through_products(plain, opt.k, opt.which);
    }

  // A single start vector sees each eigenspace once, so an exactly repeated eigenvalue among
  // the k wanted would be reported once and a lesser one returned in its place. Check: solve
  // again on the complement of the vectors found (fresh start vector); anything better than the
  // k-th value found there was missed. Not needed for k = 1 (the value is right either way).
  if (opt.k >= 2 && res.converged) {
    for (int pass = 0; pass < 3; ++pass) {
      const Index m = res.values.size();
      const Index k2 = std::min(opt.k, P - m - 1);
      if (k2 < 1) break;
      const Eigen::MatrixXd Q = res.vectors;
      SolverOperator deflated(op, should_stop, scaling, &Q);
      Vector s2 = seeded_start_vector(P, opt.seed + 1000003ULL * (pass + 1));
      s2 -= Q * (Q.transpose() * s2);
      Pairs extra;
      try {
        extra = run_spectra(deflated, k2, default_ncv(k2, P, 0), s2, opt.which, opt.tol, opt.max_restarts);
      } catch (const Interrupted&) {
        throw;
      } catch (const NonFiniteError&) {
        throw;
      } catch (const std::exception&) {
        break;
      }
      res.n_restarts += extra.restarts;
      const double scale = std::max(res.values.cwiseAbs().maxCoeff(), 1e-300);
      const double worst = res.values[m - 1];
      std::vector<std::pair<double, Vector>> pool;
      for (Index j = 0; j < m; ++j) pool.emplace_back(res.values[j], res.vectors.col(j));
      bool missed = false;
      for (Index j = 0; j < extra.values.size(); ++j) {
        const Vector x = extra.vectors.col(j);
        if ((Q.transpose() * x).norm() > 1e-6) continue;  // an artefact of the projection
        if (better(extra.values[j], worst + (largest ? 1 : -1) * 1e-12 * scale)) {
          missed = true;
          pool.emplace_back(extra.values[j], x);
        }
      }
      if (!missed) break;
      std::stable_sort(pool.begin(), pool.end(),
                       [&](const auto& a, const auto& b) { return better(a.first, b.first); });
      for (Index j = 0; j < opt.k; ++j) {
        res.values[j] = pool[j].first;
        res.vectors.col(j) = pool[j].second;
      }
    }
  }

  if (!res.self_checked) {
    // Trust the true residuals over the solver's own estimates (Spectra and the dense fallback).
    const Index m = res.values.size();
    res.residual_norms.resize(m);
    Vector hq(P);
    for (Index j = 0; j < m; ++j) {
      const Vector q = res.vectors.col(j);
      plain.perform_op(q.data(), hq.data());
      res.residual_norms[j] = (hq - res.values[j] * q).norm();
    }
    res.error_bounds = res.residual_norms;
    const double scale = m > 0 ? std::max(res.values.cwiseAbs().maxCoeff(), 1e-300) : 1.0;
    for (Index j = 0; j < m; ++j)
      if (!(res.residual_norms[j] <= std::max(1e3 * opt.tol, 1e-6) * scale)) res.converged = false;
  }
  const double unscale = scaling.unscale();
  if (unscale != 1.0) {
    res.values *= unscale;
    res.residual_norms *= unscale;
    res.error_bounds *= unscale;
  }
  if (!res.values.allFinite() || !res.residual_norms.allFinite() || !res.error_bounds.allFinite() ||
      !res.vectors.allFinite())
    throw NonFiniteError(
        "the Hessian's eigenvalues exceed float64's range (about 1.8e308) although its products are "
        "finite; rescale the data or the weights");
  res.n_hvp = op.n_hvp() - before;
  return res;
}

EigResult dense_eigenpairs(const Eigen::MatrixXd& H, Index k, EigWhich which) {
  const Index P = H.rows();
  if (k < 1 || k > P) throw std::invalid_argument("k must be between 1 and P");
  if (!H.allFinite())
    throw NonFiniteError(
        "the Hessian contains inf or NaN (float64 overflow): its entries are too large at this scale of "
        "the data and the weights; rescale them");
  // An extreme H is solved scaled by a power of two (exact), so that the residuals' squares neither
  // overflow nor underflow; the values and residuals are multiplied back.
  const double m = H.cwiseAbs().maxCoeff();
  const double factor = m > 0.0 ? Scaling::for_max_entry(m) : 1.0;
  Eigen::MatrixXd scaled;
  if (factor != 1.0) scaled = H * factor;
  const Eigen::MatrixXd& Hs = factor != 1.0 ? scaled : H;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(Hs);
  if (es.info() != Eigen::Success) throw std::runtime_error("dense eigendecomposition failed");
  EigResult res;
  res.values.resize(k);
  res.vectors.resize(P, k);
  for (Index j = 0; j < k; ++j) {
    const Index idx = which == EigWhich::Largest ? P - 1 - j : j;  // Eigen sorts ascending
    res.values[j] = es.eigenvalues()[idx];
    res.vectors.col(j) = es.eigenvectors().col(idx);
  }
  res.residual_norms =
      (Hs * res.vectors - res.vectors * res.values.asDiagonal()).colwise().norm().transpose();
  if (factor != 1.0) {
    res.values /= factor;
    res.residual_norms /= factor;
  }
  if (!res.values.allFinite() || !res.residual_norms.allFinite())
    throw NonFiniteError(
        "the Hessian's eigenvalues exceed float64's range (about 1.8e308) although its entries are finite; "
        "rescale the data or the weights");
  res.error_bounds = res.residual_norms;
  res.converged = true;
  return res;
}

}  // namespace flatcore
