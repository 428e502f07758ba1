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

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace flatcore
