// Private: how many of its threads a training loop uses, chosen while it runs.
//
// When other processes share the cores, threads that meet at the end of every parallel region
// wait for whichever of them the scheduler has put aside, and a step that takes microseconds on
// a quiet machine can take a scheduler time slice (milliseconds): 2 threads beside one busy
// process ran 20-400x slower than 1 thread. Results do not depend on the thread count
// (parallel.hpp), so a loop may change it from one step to the next. ThreadTuner times the
// steps and keeps the fastest count:
//
// - The counts it tries form a ladder from the most it may use down to 1, each about 1/sqrt(2) of
//   the one above (2: 2, 1; 16: 16, 11, 8, 6, 4, 3, 2, 1). It starts at the top.
// - Steps are timed in windows of about `window_s` of step time (one step at least). A probe
//   times the rungs below the current one, one window of `probe_s` each, going down while a rung
//   is not clearly (`margin`) slower than the best so far: beside busy neighbours every count
//   above the free cores can be as slow as the next, a plateau that one rung down would not
//   see past. Then, unless that found a faster count, the rungs above, going up while each is
//   clearly faster than the one below. It moves to the fastest if that beats the current count
//   by `margin`. A probe step that already took 3x the current count's time ends its window.
// - A probe starts after the first window; then every `interval`, which doubles from
//   `first_interval_s` up to `max_interval_s` while probes confirm the count, falls back to
//   `first_interval_s` after a move, and is at least `spacing` times the last probe's duration;
//   and, going down only, when two windows in a row run below `slowdown` times the recent rate
//   (a neighbour has started).
//
// On a quiet machine a probe costs at most one window of slower steps every `max_interval_s`
// (about 0.5%, measured); beside a neighbour the count drops within a few windows (tens of ms),
// and the probes of more threads, which then cost a scheduler slice per step, stay under about 1%.
//
// The tuner is pure logic: it sees only the durations it is given (its clock is their sum), so it
// can be tested with made-up timings. AdaptiveThreads puts it around a loop: the clock, the
// switch (FLATCORE_ADAPTIVE_THREADS) and a process-wide memory of tuners.
#pragma once

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

namespace flatcore {

struct ThreadTunerSettings {
  double window_s = 0.02;         // step time per measurement window (at least one step)
  double probe_s = 0.01;          // step time per probe window (at least one step)
  double first_interval_s = 0.2;  // step time between probes after a move
  double max_interval_s = 2.0;    // ... growing to this while probes confirm the count
  double slowdown = 0.7;          // a window below this x the recent rate starts a probe
  double margin = 1.1;            // a probe must be this much faster than the current count
  double spacing = 100.0;         // the next probe waits at least this x the last one's time
  void check() const;             // std::invalid_argument naming a setting out of range
};

class ThreadTuner {
 public:
  using Settings = ThreadTunerSettings;

  // A tuner choosing among 1..max_threads, starting at max_threads.
  explicit ThreadTuner(int max_threads, const Settings& settings = {});

  int threads() const { return rungs_[phase_ != Phase::None ? probe_ : cur_]; }  // for the next step
  int max_threads() const { return rungs_.front(); }
  const std::vector<int>& rungs() const { return rungs_; }
  void record(double seconds);  // the duration of a step just run with threads()
  // `seconds` passed without steps (between two loops): later probes come due as if steps had
  // run, since the machine may have changed meanwhile.
  void pause(double seconds);

 private:
  void measured(double rate);
  void start_probe(bool down_only);
  void probed(double rate);
  void finish_probe();

  Settings s_;
  std::vector<int> rungs_;  // descending: rungs_[0] = max_threads, rungs_.back() = 1
  std::size_t cur_ = 0;     // the current rung
  double cur_rate_ = 0.0;   // its steps per second in its latest window
  double ref_ = 0.0;        // its recent rate, the reference of `slowdown` (0: none yet)
  int slow_windows_ = 0;    // windows in a row below `slowdown` x ref_
  enum class Phase { None, Down, Up };
  Phase phase_ = Phase::None;  // probing fewer threads, then more, or not probing
  bool down_only_ = false;     // this probe tries fewer threads only
  std::size_t probe_ = 0;      // the rung being probed
  std::size_t best_ = 0;       // the fastest rung of this probe so far, and its rate
  double best_rate_ = 0.0;
  double last_rate_ = 0.0;    // going up: the rate of the rung below the probed one
  double probe_start_ = 0.0;  // clock time at the start of this probe
  double clock_ = 0.0;        // sum of the recorded durations
  double win_s_ = 0.0;        // the open window: its time and steps
  long win_steps_ = 0;
  double interval_;
  double next_probe_ = 0.0;  // clock time of the next scheduled probe
};

// A training loop's thread count: a ThreadTuner when adaptation is on (the default; off with
// FLATCORE_ADAPTIVE_THREADS=0) and the loop may use more than one thread, else always
// max_threads. Tuners live on in a process-wide memory, one per (max_threads, work per step):
// a loop resumes where the last one of its kind stopped, so a process that calls train many
// times for a few steps each learns as one long run would.
class AdaptiveThreads {
 public:
  // `work`: what identifies a step's cost, e.g. its floating-point operations.
  AdaptiveThreads(int max_threads, double work);
  ~AdaptiveThreads();
  AdaptiveThreads(const AdaptiveThreads&) = delete;
  AdaptiveThreads& operator=(const AdaptiveThreads&) = delete;

  int threads() const { return on_ ? tuner_.threads() : tuner_.max_threads(); }
  // `n` limited to the current count when the tuner has lowered it (for other parallel work
  // of the loop, e.g. its eigensolves), else `n`.
  int limit(int n) const { return threads() < tuner_.max_threads() ? std::min(threads(), n) : n; }

  // Runs f(), a step at threads(), and times it.
  template <class F>
  void timed(F&& f) {
    if (!on_) {
      f();
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    tuner_.record(dt.count());
  }

 private:
  bool on_;
  double work_;
  ThreadTuner tuner_;
};

// Whether training loops adapt their thread count: FLATCORE_ADAPTIVE_THREADS (1/0, true/false,
// on/off; unset: on); std::invalid_argument for another value.
bool adaptive_threads_enabled();

// The settings of the tuners that training loops make (testing: set_ shorter windows).
ThreadTuner::Settings thread_tuner_settings();
void set_thread_tuner_settings(const ThreadTuner::Settings& settings);

}  // namespace flatcore
