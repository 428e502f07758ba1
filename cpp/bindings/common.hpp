// Shared pieces of the binding layer: the conversion between flatcore.Network and the core's
// Network, thread counts, and the callback that lets long C++ loops notice Ctrl-C (in any thread)
// and report progress.
#pragma once

#include <pybind11/eigen.h>
#include <pybind11/gil_safe_call_once.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#if defined(__GLIBCXX__)
#include <cxxabi.h>  // abi::__forced_unwind: how pthread_exit unwinds a thread
#define FLATCORE_FORCED_UNWIND 1
#endif

#include "flatcore/network.hpp"
#include "flatcore/numerics.hpp"
#include "flatcore/resources.hpp"

namespace flatcore::bindings {

namespace py = pybind11;

using ConstMatrixArg = Eigen::Ref<const RowMatrix>;
using ConstVectorArg = Eigen::Ref<const Vector>;

// Whether the calling thread is the interpreter's main thread (the one that shuts it down).
bool in_main_thread();

// A thread that released the GIL for a long call and takes it again after the interpreter has
// begun to shut down (the main thread left while this one computed: a daemon thread, or one the
// main thread stopped waiting for) is ended by Python with pthread_exit. Its unwinding through the
// binding's C++ frames, whose destructors take the GIL again, aborts the process ("terminate called
// without an active exception"). Such a thread sleeps instead until the process exits, as Python
// 3.14 makes it do itself. Both the check before taking the GIL and the catch around it are needed:
// the check avoids the unwinding in the common case, the catch covers the shutdown that begins
// while the thread waits for the GIL.
[[noreturn]] inline void park_forever() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}
inline void park_if_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  const bool finalizing = Py_IsFinalizing();
#else
  const bool finalizing = _Py_IsFinalizing();
#endif
  if (finalizing && !in_main_thread()) park_forever();
}
// Takes the GIL back with `restore` (a call into Python's C API that may end the thread), parking
// the thread instead if the interpreter is shutting down.
template <class Restore>
void take_gil_or_park(Restore restore) {
  park_if_finalizing();
#ifdef FLATCORE_FORCED_UNWIND
  try {
    restore();
  } catch (abi::__forced_unwind&) {
    park_forever();  // never leaves the handler: the unwinding stops here
  }
#else
  restore();
#endif
}

// The GIL released for the scope, as py::gil_scoped_release, but taken back with
// take_gil_or_park. Use it (or as py::call_guard<ReleaseGil>) around every long call.
class ReleaseGil {
 public:
  ReleaseGil() : state_(PyEval_SaveThread()) {}
  ~ReleaseGil() {
    take_gil_or_park([this] { PyEval_RestoreThread(state_); });
  }
  ReleaseGil(const ReleaseGil&) = delete;
  ReleaseGil& operator=(const ReleaseGil&) = delete;

 private:
  PyThreadState* state_;
};

// The GIL taken for the scope by a thread that had released it (as py::gil_scoped_acquire), or the
// thread parked if the interpreter is shutting down.
class AcquireGil {
 public:
  AcquireGil() {
    take_gil_or_park([this] { state_ = PyGILState_Ensure(); });
  }
  ~AcquireGil() { PyGILState_Release(state_); }
  AcquireGil(const AcquireGil&) = delete;
  AcquireGil& operator=(const AcquireGil&) = delete;

 private:
  PyGILState_STATE state_{};
};

// A thread count from Python: None is the process default (default_num_threads()). The core
// checks the count where it uses it.
inline int threads(std::optional<int> n_threads) { return n_threads ? *n_threads : default_num_threads(); }

// The binding of a core function f(net, X, n_threads) or f(net, X, y, n_threads): the thread
// count resolved, then f called with the GIL released.
template <class R>
auto on_inputs(R (*f)(const Network&, const ConstMatrixRef&, int)) {
  return [f](const Network& net, const ConstMatrixArg& X, std::optional<int> n_threads) {
    const int nt = threads(n_threads);
    ReleaseGil release;
    return f(net, X, nt);
  };
}
// The same for f(net, X, y, convention, n_threads) and f(net, X, convention, n_threads), the
// convention named by a string ("half_mse" or "mse").
template <class R>
auto on_data(R (*f)(const Network&, const ConstMatrixRef&, const ConstVectorRef&, LossConvention, int)) {
  return [f](const Network& net, const ConstMatrixArg& X, const ConstVectorArg& y, const std::string& loss,
             std::optional<int> n_threads) {
    const LossConvention c = parse_convention(loss);
    const int nt = threads(n_threads);
    ReleaseGil release;
    return f(net, X, y, c, nt);
  };
}
template <class R>
auto on_inputs(R (*f)(const Network&, const ConstMatrixRef&, LossConvention, int)) {
  return [f](const Network& net, const ConstMatrixArg& X, const std::string& loss,
             std::optional<int> n_threads) {
    const LossConvention c = parse_convention(loss);
    const int nt = threads(n_threads);
    ReleaseGil release;
    return f(net, X, c, nt);
  };
}

// Adds to a bound settings class (a keyword constructor whose arguments are its fields) the dict
// of its fields (as_dict), a repr that constructs it again, and pickling through the constructor.
template <class T>
void def_settings_record(py::class_<T>& cls, const char* name, py::dict (*to_dict)(const T&)) {
  cls.def("as_dict", to_dict)
      .def("__repr__",
           [name, to_dict](const T& o) {
             return std::string(name) + "(**" + py::repr(to_dict(o)).template cast<std::string>() + ")";
           })
      .def(py::pickle([to_dict](const T& o) { return to_dict(o); },
                      [](const py::dict& d) { return py::type::of<T>()(**d).template cast<T>(); }));
}

// Ctrl-C in every thread. Python runs its signal handlers in the main thread only, so a call
// running in another thread would never see Ctrl-C. The binding layer therefore puts a C-level
// SIGINT hook in front of Python's own handler while Python's default handler
// (signal.default_int_handler, the one that raises KeyboardInterrupt) is in place: the hook only
// counts the signal (one lock-free atomic increment, async-signal-safe) and passes it on to
// Python's handler. A SIGINT counted while a call runs stops it, in whichever thread (see
// Interruption). A user who installs a SIGINT handler of their own with signal.signal replaces
// the hook with it, and flatcore then leaves SIGINT to that handler; the hook comes back at the next
// long call once the default handler is back. POSIX only (elsewhere: the main thread only).

// Installs the hook if Python's default SIGINT handler is in place and the hook is not. Call with
// the GIL held: at import, and whenever an Interruption is made.
void hook_sigint();
// The number of SIGINTs the hook has counted in this process.
std::uint64_t sigint_count();

// Whether Ctrl-C has asked the calling thread's call to stop since this object was made (so a
// Ctrl-C handled before the call began never stops it). In the main thread that is Python's own
// signal handling (PyErr_CheckSignals: KeyboardInterrupt, or whatever the user's handler does); in
// any other thread, a SIGINT counted by the hook since then raises KeyboardInterrupt there. Make and
// check it in the thread that runs the call.
class Interruption {
 public:
  Interruption();  // GIL held
  // Call with the GIL held. True when the call must stop, with the Python error to raise set.
  bool check() const;
  // Without the GIL: whether check() could return true in a thread other than the main one.
  bool signalled() const { return !main_thread_ && sigint_count() != start_; }
  bool in_main_thread() const { return main_thread_; }

 private:
  std::uint64_t start_;
  bool main_thread_;
};

// Polled by the core between units of work while the GIL is released. At most every
// `interval` it checks for Ctrl-C (Interruption: in the main thread by taking the GIL and
// running Python's signal handlers, elsewhere by reading the hook's count) and calls the optional
// progress callable with the current step. Returns true to stop; the pending Python error
// (KeyboardInterrupt, or whatever the progress callable raised) is then re-raised by
// `raise_if_stopped` once the GIL is held again. Make it with the GIL held, in the thread that
// runs the call.
class Poller {
 public:
  explicit Poller(py::object progress = py::none(), double interval_s = 0.05)
      : progress_(std::move(progress)), interval_(interval_s), has_progress_(!progress_.is_none()) {}

  bool operator()(long step) {
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_) < interval_) return false;
    last_ = now;
    // Outside the main thread, nothing to do without a SIGINT or a progress callable: skip the GIL.
    if (!interruption_.in_main_thread()) {
      if (!has_progress_ && !interruption_.signalled()) return false;
    }
    AcquireGil gil;
    if (interruption_.check()) {
      error_ = true;
      return true;
    }
    if (has_progress_) {
      try {
        progress_(step);
      } catch (py::error_already_set& e) {
        e.restore();
        error_ = true;
        return true;
      }
    }
    return false;
  }

  // Call with the GIL held.
  void raise_if_stopped() const {
    if (error_) throw py::error_already_set();
  }

 private:
  py::object progress_;
  std::chrono::duration<double> interval_;
  bool has_progress_;
  Interruption interruption_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  bool error_ = false;
};

// Runs `work()` on a thread of its own while the caller waits with the GIL released, polling
// `poller` every few milliseconds. Returns the result, or nothing when the poller asked to stop
// (then call poller.raise_if_stopped()): the caller returns at once and the work, which cannot be
// stopped, runs to its end unobserved, holding its memory and one core until then, and its result
// is dropped. `work` must therefore own everything it uses and hold no Python object (capture C++
// values or shared pointers): it never touches Python, so it is safe while the interpreter goes on
// or shuts down. An exception thrown by the work is re-thrown here.
template <class Work>
auto run_abandonable(Poller& poller, Work work) -> std::optional<decltype(work())> {
  using Result = decltype(work());
  struct Shared {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
    std::optional<Result> result;
    std::exception_ptr error;
  };
  auto shared = std::make_shared<Shared>();
  ReleaseGil release;
  std::thread([shared, work = std::move(work)]() mutable {
    std::optional<Result> result;
    std::exception_ptr error;
    try {
      result.emplace(work());
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(shared->mutex);
    shared->result = std::move(result);
    shared->error = error;
    shared->done = true;
    shared->cv.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(shared->mutex);
  while (!shared->cv.wait_for(lock, std::chrono::milliseconds(10), [&] { return shared->done; })) {
    lock.unlock();
    const bool stop = poller(0);
    lock.lock();
    if (stop) return std::nullopt;
  }
  if (shared->error) std::rethrow_exception(shared->error);
  return std::move(shared->result);
}

void bind_interrupt(py::module_& m);
void bind_resources(py::module_& m);
void bind_numerics(py::module_& m);
void bind_hessian(py::module_& m);
void bind_training(py::module_& m);
void bind_spectrum(py::module_& m);
void bind_thread_tuner(py::module_& m);  // private test hooks

}  // namespace flatcore::bindings

// flatcore.Network (the Python class, python/flatcore/network.py) <-> flatcore::Network: every
// binding takes and returns networks as the Python class, so a network crosses the boundary as
// one object.
namespace pybind11::detail {

template <>
struct type_caster<flatcore::Network> {
  PYBIND11_TYPE_CASTER(flatcore::Network, const_name("flatcore.Network"));

  // The Python class, looked up once per process.
  static const object& network_class() {
    PYBIND11_CONSTINIT static gil_safe_call_once_and_store<object> storage;
    return storage
        .call_once_and_store_result([] { return module_::import("flatcore.network").attr("Network"); })
        .get_stored();
  }

  // A float64 array of the given ndim (the Python class keeps them so; anything else converts).
  static array_t<double, array::c_style | array::forcecast> as_array(handle h, ssize_t ndim) {
    auto a = array_t<double, array::c_style | array::forcecast>::ensure(h);
    if (!a || a.ndim() != ndim) throw type_error("flatcore.Network holds an array of the wrong kind");
    return a;
  }

  bool load(handle src, bool) {
    if (!isinstance(src, network_class())) return false;
    const auto W = as_array(src.attr("W"), 2), b = as_array(src.attr("b"), 1), v = as_array(src.attr("v"), 1);
    value.W = Eigen::Map<const flatcore::RowMatrix>(W.data(), W.shape(0), W.shape(1));
    value.b = Eigen::Map<const flatcore::Vector>(b.data(), b.shape(0));
    value.v = Eigen::Map<const flatcore::Vector>(v.data(), v.shape(0));
    value.beta = src.attr("beta").cast<double>();
    value.check();
    return true;
  }

  static handle cast(const flatcore::Network& net, return_value_policy, handle) {
    return network_class()(net.W, net.b, net.v, net.beta).release();
  }
};

}  // namespace pybind11::detail
