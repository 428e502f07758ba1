// Private helper: the index of the calling thread inside a parallel region.
#pragma once
#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace flatcore::detail {
inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Adds the per-chunk accumulators in chunk order (parallel over entries, so the order of the
// additions for each entry is fixed whatever the thread count).
template <class VecList>
inline void reduce_in_order(const VecList& parts, double* out, Eigen::Index size, int n_threads) {
  const Eigen::Index n_parts = static_cast<Eigen::Index>(parts.size());
#pragma omp parallel for schedule(static) num_threads(n_threads) if (size > 4096)
  for (Eigen::Index j = 0; j < size; ++j) {
    double s = 0.0;
    for (Eigen::Index c = 0; c < n_parts; ++c) s += parts[c][j];
    out[j] = s;
  }
}
}  // namespace flatcore::detail
