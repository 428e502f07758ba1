// Private: how the data rows are split among threads.
//
// Results must not depend on the number of threads, so the rows are cut into a fixed set of
// chunks that depends only on n. Each chunk is processed by one thread, block by block, into
// its own accumulator; the accumulators are then added in chunk order. Any thread count
// therefore performs exactly the same floating-point operations in the same order.
#pragma once

#include <algorithm>

#include "flatcore/network.hpp"

namespace flatcore {

// Threads worth using for a parallel region of about `flops` floating-point operations: at most
// n_threads, and one per ~150k flops, so that tiny problems stay on one thread. Fork/join costs
// microseconds when cores are free but a whole scheduler time slice when the machine is
// oversubscribed (e.g. many worker processes), which would dominate small steps. Results do not
// depend on it (see RowChunks).
int threads_for_work(int n_threads, double flops);

// The number of threads an OpenMP parallel region of the core starts: n_threads, or 1 in a process
// that lost its threads to fork (threads_lost_to_fork() in flatcore/resources.hpp). Every
// `#pragma omp parallel` of the core takes its num_threads from here (threads_for_work does too),
// including those run by objects made before the fork (a HessianOperator), so that no parallel
// region of a forked child can wait for threads that do not exist. It also records that threads
// were started, which is what makes a later fork's child lose them.
int team_size(int n_threads);

struct RowChunks {
  Index n = 0;
  Index n_chunks = 0;
  Index begin(Index c) const { return (n * c) / n_chunks; }
  Index end(Index c) const { return (n * (c + 1)) / n_chunks; }
};

// Chunks of 64 rows, at most 32 of them: two chunks per thread for 16 threads on large data,
// and few enough that the per-chunk accumulators (each as large as the gradient) stay cheap to
// clear and reduce: with 64 chunks that memory traffic cost about 15% of a step at
// (4096, 1024, 16). Small data (n < 512) is cut into up to 8 chunks of at least 32 rows instead,
// so that a step on (256, 256, 5) can use 8 threads rather than 4; its accumulators are small.
inline RowChunks make_row_chunks(Index n) {
  constexpr Index kChunkRows = 64;
  constexpr Index kMaxChunks = 32;
  constexpr Index kSmallChunkRows = 32;
  constexpr Index kSmallChunks = 8;
  RowChunks rc;
  rc.n = n;
  const Index small = std::min<Index>(kSmallChunks, n / kSmallChunkRows);
  rc.n_chunks = std::max<Index>(1, std::min<Index>(kMaxChunks, std::max<Index>(small, n / kChunkRows)));
  return rc;
}

}  // namespace flatcore
