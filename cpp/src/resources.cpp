#include "flatcore/resources.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "parallel.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <unistd.h>
#define FLATCORE_POSIX_FORK 1
#endif

namespace flatcore {

namespace {
std::atomic<int> user_default{0};  // 0: not set

// Set before the core first starts a team of more than one thread; copied into forked children.
std::atomic<bool> threads_started{false};
// Set in a child forked after threads_started (inherited by its own children).
std::atomic<bool> lost_to_fork{false};

#ifdef FLATCORE_POSIX_FORK
// Runs in the child right after fork(), on its only thread: async-signal-safe (atomics only).
extern "C" void flatcore_after_fork_in_child() {
  if (threads_started.load(std::memory_order_relaxed)) lost_to_fork.store(true, std::memory_order_relaxed);
}
// Registered when the library is loaded, before any thread of the core can exist (registering
// later, from the first threaded call, could be interrupted by a fork from another thread and
// leave the child waiting on a half-done initialisation).
const bool fork_handler_registered = pthread_atfork(nullptr, nullptr, &flatcore_after_fork_in_child) == 0;
#else
const bool fork_handler_registered = true;  // no fork
#endif
}  // namespace

bool threads_lost_to_fork() { return lost_to_fork.load(std::memory_order_relaxed); }

int team_size(int n_threads) {
  if (n_threads <= 1 || lost_to_fork.load(std::memory_order_relaxed)) return 1;
  // Without the handler a fork could not be noticed: stay on one thread rather than risk a hang.
  if (!fork_handler_registered) return 1;
  if (!threads_started.load(std::memory_order_relaxed)) threads_started.store(true);
  return n_threads;
}

int max_num_threads() {
  // Computed once: hardware_concurrency reads a file (/sys/devices/system/cpu/online) on Linux,
  // and every call checks its thread count against this.
  static const int limit = [] {
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    return std::max(256, 8 * std::max(1, cores));
  }();
  return limit;
}

void check_num_threads(int n_threads) {
  if (n_threads < 1 || n_threads > max_num_threads())
    throw std::invalid_argument("n_threads must be between 1 and " + std::to_string(max_num_threads()) +
                                "; got " + std::to_string(n_threads));
}

int default_num_threads() {
  const int set = user_default.load();
  if (set > 0) return set;
  if (const char* env = std::getenv("FLATCORE_NUM_THREADS"); env && *env) {
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(env, &end, 10);
    if (errno != 0 || *end != '\0' || value < 1)
      throw std::invalid_argument(std::string("FLATCORE_NUM_THREADS must be a positive integer; got '") +
                                  env + "'");
    return static_cast<int>(std::min<long>(value, max_num_threads()));
  }
#ifdef _OPENMP
  return std::max(1, omp_get_max_threads());
#else
  return 1;
#endif
}

void set_default_num_threads(int n_threads) {
  check_num_threads(n_threads);
  user_default.store(n_threads);
}

void reset_default_num_threads() { user_default.store(0); }

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

int threads_for_work(int n_threads, double flops) {
  check_num_threads(n_threads);
  const double useful = flops / 1.5e5;
  if (useful < 2.0) return 1;
  return team_size(useful < n_threads ? static_cast<int>(useful) : n_threads);
}

double available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  const std::string key = "MemAvailable:";
  while (std::getline(meminfo, line)) {
    if (line.compare(0, key.size(), key) == 0)
      return std::strtod(line.c_str() + key.size(), nullptr) * 1024.0;
  }
#if defined(_SC_AVPHYS_PAGES) && defined(_SC_PAGE_SIZE)
  const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) return static_cast<double>(pages) * static_cast<double>(page);
#endif
  return -1.0;
}

}  // namespace flatcore
