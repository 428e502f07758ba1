// Private helper: the index of the calling thread inside a parallel region.
#pragma once
#include <Eigen/Core>
#include <algorithm>

#include "parallel.hpp"
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

// Adds the per-chunk accumulators in chunk order: out[j] = ((parts[0][j] + parts[1][j]) + ...).
// The entries are cut into fixed blocks shared among threads, so the order of the additions for
// each entry is the same whatever the thread count; within a block the chunk loop is outside and
// the entry loop inside, which vectorises and streams each accumulator once.
template <class VecList>
inline void reduce_in_order(const VecList& parts, double* out, Eigen::Index size, int n_threads) {
  const Eigen::Index n_parts = static_cast<Eigen::Index>(parts.size());
  constexpr Eigen::Index kBlock = 512;
  const Eigen::Index n_blocks = (size + kBlock - 1) / kBlock;
  // Worth a parallel region from about 32k additions (e.g. 16 chunks of a (1024, 512, 10) gradient).
#pragma omp parallel for schedule(static) num_threads(team_size(n_threads)) if (size * n_parts > 32768)
  for (Eigen::Index blk = 0; blk < n_blocks; ++blk) {
    const Eigen::Index j0 = blk * kBlock;
    const Eigen::Index m = std::min(kBlock, size - j0);
    double* o = out + j0;
    for (Eigen::Index j = 0; j < m; ++j) o[j] = 0.0;
    for (Eigen::Index c = 0; c < n_parts; ++c) {
      const double* p = parts[c].data() + j0;
      for (Eigen::Index j = 0; j < m; ++j) o[j] += p[j];
    }
  }
}
}  // namespace flatcore::detail
