#include "thread_tuner.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

namespace flatcore {

namespace {
constexpr double kGiveUp = 3.0;  // a probe this much slower than the current count ends early
}  // namespace

void ThreadTuner::Settings::check() const {
  auto need = [](bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(what);
  };
  need(window_s >= 0.0 && std::isfinite(window_s), "window_s must be non-negative and finite");
  need(probe_s >= 0.0 && std::isfinite(probe_s), "probe_s must be non-negative and finite");
  need(first_interval_s >= 0.0 && max_interval_s >= first_interval_s && std::isfinite(max_interval_s),
       "the intervals must satisfy 0 <= first_interval_s <= max_interval_s < inf");
  need(slowdown > 0.0 && slowdown <= 1.0, "slowdown must be in (0, 1]");
  need(margin >= 1.0 && std::isfinite(margin), "margin must be at least 1 and finite");
  need(spacing >= 0.0 && std::isfinite(spacing), "spacing must be non-negative and finite");
}

ThreadTuner::ThreadTuner(int max_threads, const Settings& settings)
    : s_(settings), interval_(settings.first_interval_s) {
  s_.check();
  for (double t = std::max(1, max_threads);; t /= std::sqrt(2.0)) {
    const int r = std::max(1, static_cast<int>(std::lround(t)));
    if (rungs_.empty() || r < rungs_.back()) rungs_.push_back(r);
    if (r == 1) break;
  }
}

void ThreadTuner::pause(double seconds) {
  if (seconds > 0.0 && std::isfinite(seconds)) clock_ += seconds;
}

void ThreadTuner::record(double seconds) {
  if (rungs_.size() == 1) return;
  if (!(seconds >= 0.0) || !std::isfinite(seconds)) seconds = 0.0;
  clock_ += seconds;
  win_s_ += seconds;
  ++win_steps_;
  // A probe ends early once its steps have taken `kGiveUp` x as long as the current count's
  // would (and a millisecond): beside a busy neighbour one step with too many threads can cost a
  // whole scheduler slice, hundreds of the steps it replaces.
  const bool probing = phase_ != Phase::None;
  const bool lost = probing && win_s_ > std::max(1e-3, kGiveUp * static_cast<double>(win_steps_) / cur_rate_);
  if (win_s_ < (probing ? s_.probe_s : s_.window_s) && !lost) return;
  const double rate = static_cast<double>(win_steps_) / std::max(win_s_, 1e-12);
  win_s_ = 0.0;
  win_steps_ = 0;
  if (probing)
    probed(rate);
  else
    measured(rate);
}

void ThreadTuner::measured(double rate) {
  cur_rate_ = rate;
  if (clock_ >= next_probe_) {
    start_probe(false);
    return;
  }
  // Two windows in a row below `slowdown` x the recent rate: more load on the machine (one slow
  // window may be a passing hiccup). Fewer threads may help; more would not.
  slow_windows_ = ref_ > 0.0 && rate < s_.slowdown * ref_ ? slow_windows_ + 1 : 0;
  if (slow_windows_ >= 2) {
    slow_windows_ = 0;
    start_probe(true);
    if (phase_ != Phase::None) return;
  }
  if (slow_windows_ == 0) ref_ = ref_ > 0.0 ? std::max(rate, 0.8 * ref_ + 0.2 * rate) : rate;
}

void ThreadTuner::start_probe(bool down_only) {
  probe_start_ = clock_;
  down_only_ = down_only;
  best_ = cur_;
  best_rate_ = cur_rate_;
  if (cur_ + 1 < rungs_.size()) {
    phase_ = Phase::Down;
    probe_ = cur_ + 1;
  } else if (!down_only && cur_ > 0) {
    phase_ = Phase::Up;
    probe_ = cur_ - 1;
    last_rate_ = cur_rate_;
  }
}

void ThreadTuner::probed(double rate) {
  if (rate > best_rate_) {
    best_ = probe_;
    best_rate_ = rate;
  }
  if (phase_ == Phase::Down) {
    // Fewer threads: go on while this count is not clearly slower than the best so far (a
    // plateau: beside busy neighbours all counts above the free cores may cost a slice a step).
    if (probe_ + 1 < rungs_.size() && rate * s_.margin >= best_rate_) {
      ++probe_;
      return;
    }
    if (best_rate_ > s_.margin * cur_rate_ || down_only_ || cur_ == 0) {
      finish_probe();
      return;
    }
    phase_ = Phase::Up;
    probe_ = cur_ - 1;
    last_rate_ = cur_rate_;
    return;
  }
  // More threads: go on while each count is clearly faster than the one below it.
  if (probe_ > 0 && rate > s_.margin * last_rate_) {
    last_rate_ = rate;
    --probe_;
    return;
  }
  finish_probe();
}

void ThreadTuner::finish_probe() {
  const bool move = best_ != cur_ && best_rate_ > s_.margin * cur_rate_;
  if (move) {
    cur_ = best_;
    cur_rate_ = best_rate_;
  }
  phase_ = Phase::None;
  ref_ = cur_rate_;
  slow_windows_ = 0;
  interval_ = move ? s_.first_interval_s : std::min(2.0 * interval_, s_.max_interval_s);
  // A probe whose steps are long (a second each, say) waits longer, so that probes never take
  // more than about 1% of the time.
  next_probe_ = clock_ + std::max(interval_, s_.spacing * (clock_ - probe_start_));
}

// ------------------------------------------------------------------------------------------------
// Around a loop: the switch, the settings and the process-wide memory
// ------------------------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

struct Shared {
  std::mutex mutex;
  ThreadTuner::Settings settings;
  // The tuners of finished loops by (max_threads, work), with when they finished; at most
  // kMemories, the oldest forgotten first.
  std::map<std::pair<int, double>, std::pair<ThreadTuner, Clock::time_point>> memory;
};
constexpr std::size_t kMemories = 64;

Shared& shared() {
  static Shared s;
  return s;
}

ThreadTuner resume_tuner(int max_threads, double work, bool on) {
  if (!on) return ThreadTuner(max_threads);
  Shared& sh = shared();
  std::lock_guard<std::mutex> lock(sh.mutex);
  const auto it = sh.memory.find({max_threads, work});
  if (it == sh.memory.end()) return ThreadTuner(max_threads, sh.settings);
  ThreadTuner tuner = it->second.first;
  tuner.pause(std::chrono::duration<double>(Clock::now() - it->second.second).count());
  return tuner;
}

}  // namespace

bool adaptive_threads_enabled() {
  const char* env = std::getenv("FLATCORE_ADAPTIVE_THREADS");
  if (!env || !*env) return true;
  const std::string v(env);
  if (v == "1" || v == "true" || v == "on") return true;
  if (v == "0" || v == "false" || v == "off") return false;
  throw std::invalid_argument("FLATCORE_ADAPTIVE_THREADS must be 1 or 0 (true/false, on/off); got '" + v +
                              "'");
}

ThreadTuner::Settings thread_tuner_settings() {
  Shared& sh = shared();
  std::lock_guard<std::mutex> lock(sh.mutex);
  return sh.settings;
}

void set_thread_tuner_settings(const ThreadTuner::Settings& settings) {
  settings.check();
  Shared& sh = shared();
  std::lock_guard<std::mutex> lock(sh.mutex);
  sh.settings = settings;
  sh.memory.clear();
}

AdaptiveThreads::AdaptiveThreads(int max_threads, double work)
    : on_(adaptive_threads_enabled() && max_threads > 1),
      work_(work),
      tuner_(resume_tuner(max_threads, work, on_)) {}

AdaptiveThreads::~AdaptiveThreads() {
  if (!on_) return;
  try {
    Shared& sh = shared();
    std::lock_guard<std::mutex> lock(sh.mutex);
    const auto now = Clock::now();
    sh.memory.insert_or_assign({tuner_.max_threads(), work_}, std::make_pair(tuner_, now));
    if (sh.memory.size() > kMemories) {
      auto oldest = sh.memory.begin();
      for (auto it = sh.memory.begin(); it != sh.memory.end(); ++it)
        if (it->second.second < oldest->second.second) oldest = it;
      sh.memory.erase(oldest);
    }
  } catch (...) {  // std::bad_alloc or a failed lock: the next loop starts afresh
  }
}

}  // namespace flatcore
