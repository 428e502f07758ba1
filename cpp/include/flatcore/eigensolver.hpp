// Extreme eigenpairs of the Hessian: implicitly restarted Lanczos (Spectra) on the matrix-free
// HessianOperator, or a dense eigendecomposition for small problems (docs/math.md, section 4).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flatcore/hessian.hpp"
#include "flatcore/interrupt.hpp"

namespace flatcore {

// Which end of the spectrum: algebraically largest or smallest.
enum class EigWhich { Largest, Smallest };
const char* which_name(EigWhich which);  // "largest", "smallest"
std::vector<std::string> which_names();
EigWhich parse_which(const std::string& name);

// When an eigenpair counts as converged. Residual (the default): ||H q - lambda q|| <= tol * scale,
// so the pair, vector included, is accurate, whatever the rest of the spectrum. Eigenvalue (faster,
// opt-in): the eigenvalue's error estimate min(r, r^2 / gap) <= tol * scale, with r the residual and
// gap the distance to the next Ritz value less that value's residual (Kato-Temple with an estimated
// gap). The eigenvalue converges about twice as fast as the vector, but the estimated gap can be far
// too large while a close second eigenvalue is not yet resolved: then the value can be off by up to
// about r. scale = max(|lambda|, 1e3 eps ||H|| / tol), ||H|| estimated from the Ritz values (an
// eigenvalue near 0 is known only to the rounding level of H). Only the single-pair solver (k = 1)
// uses Eigenvalue; for k > 1 it means Residual.
enum class EigStop { Residual, Eigenvalue };
const char* stop_name(EigStop stop);  // "residual", "eigenvalue"
std::vector<std::string> stop_names();
EigStop parse_stop(const std::string& name);

struct EigOptions {
  Index k = 1;  // number of eigenpairs
  EigWhich which = EigWhich::Largest;
  double tol = 1e-10;  // relative; see EigStop
  EigStop stop = EigStop::Residual;
  Index max_restarts = 1000;
  Index ncv = 0;           // Lanczos basis size; 0 chooses max(2k + 1, 20), at most P
  std::uint64_t seed = 0;  // the seeded start vector (seeded_start_vector)
  Vector start;            // optional (size P): a warm start (e.g. the previous top
                           // eigenvector), mixed with the seeded vector (see the solver)
};

struct EigResult {
  Vector values;            // k eigenvalues, largest first for Largest, smallest first for Smallest
  Eigen::MatrixXd vectors;  // P x k, unit columns, in the flat parameter layout
  Vector residual_norms;    // ||H q_j - lambda_j q_j||
  Vector error_bounds;      // estimated |lambda_j - true eigenvalue|: min(r, r^2/gap) for k = 1,
                            // the residual r otherwise (a rigorous bound for some eigenvalue)
  long n_hvp = 0;           // Hessian-vector products used (residual checks included)
  long n_restarts = 0;
  bool converged = false;
  bool self_checked = false;  // the solver judged convergence on exact residuals (k = 1 Lanczos)
};

// A reproducible start vector: entries uniform in [-0.5, 0.5) from mt19937_64(seed), whose output
// the C++ standard fixes, so the same seed gives the same vector on every platform.
Vector seeded_start_vector(Index size, std::uint64_t seed);

// Throws Interrupted when should_stop asks to stop (polled before each product), NonFiniteError
// (flatcore/finite.hpp) at the first product that is not finite. Products with extreme entries are
// scaled by a power of two before the solver sees them, so a finite Hessian gives finite results.
EigResult lanczos_eigenpairs(const HessianOperator& op, const EigOptions& options,
                             const StopCallback& should_stop = nullptr);

// All eigenpairs of a dense symmetric matrix, returning the k requested in the same form.
// NonFiniteError if H is not finite; an extreme H is solved scaled by a power of two.
EigResult dense_eigenpairs(const Eigen::MatrixXd& H, Index k, EigWhich which);

}  // namespace flatcore
