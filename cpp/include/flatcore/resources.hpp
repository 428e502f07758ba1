// The machine's resources as the core uses them: threads and memory.
//
// A thread count means the same at every layer: a positive number of threads, at most
// max_num_threads(). Functions that take one default to default_num_threads(), the process-wide
// default; results never depend on it (see cpp/src/parallel.hpp).
#pragma once

namespace flatcore {

// The process-wide default thread count: the value set by set_default_num_threads, else the
// environment variable FLATCORE_NUM_THREADS (std::invalid_argument when it is not a positive
// integer), else OpenMP's default (OMP_NUM_THREADS or the number of cores).
int default_num_threads();
void set_default_num_threads(int n_threads);  // checked as below
void reset_default_num_threads();
// More threads than this is a mistake (and creating them can fail): max(256, 8 x cores).
int max_num_threads();
// Throws std::invalid_argument unless 1 <= n_threads <= max_num_threads().
void check_num_threads(int n_threads);
// Whether the library was built with OpenMP.
bool has_openmp();

// Whether this process is a child forked (fork() without exec, e.g. multiprocessing's 'fork'
// start method) from a process in which the core had already started OpenMP threads, or from such
// a child. The GNU OpenMP runtime does not survive that fork: a parallel region in the child waits
// forever for threads that were not copied. In such a process every parallel region of the core
// runs on one thread, whatever count a call names (results are the same: they never depend on the
// thread count). A process forked before the first multi-threaded call, or started fresh ('spawn',
// 'forkserver'), keeps its threads. POSIX only; always false elsewhere.
bool threads_lost_to_fork();

// Memory the system could give the process now (MemAvailable on Linux), or a negative value
// when unknown.
double available_memory_bytes();

}  // namespace flatcore
