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
#include <unistd.h>
#endif

namespace flatcore {

namespace {
std::atomic<int> user_default{0};  // 0: not set
}  // namespace

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
  return useful < n_threads ? static_cast<int>(useful) : n_threads;
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
