#include "flatcore/parallel.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace flatcore {

int default_num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int resolve_num_threads(int n_threads) { return n_threads > 0 ? n_threads : default_num_threads(); }

int threads_for_work(int n_threads, double flops) {
  const int nt = resolve_num_threads(n_threads);
  const double useful = flops / 1.5e5;
  if (useful < 2.0) return 1;
  return useful < nt ? static_cast<int>(useful) : nt;
}

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace flatcore
