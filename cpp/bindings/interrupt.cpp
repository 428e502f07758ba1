// Ctrl-C in every thread: the C-level SIGINT hook and Interruption (see common.hpp).
#include <pybind11/gil_safe_call_once.h>

#include <atomic>
#include <csignal>

#include "common.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <signal.h>
#define FLATCORE_SIGACTION 1
#endif

namespace flatcore::bindings {

namespace {

std::atomic<std::uint64_t> sigints{0};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "the SIGINT hook may only touch a lock-free atomic");

#ifdef FLATCORE_SIGACTION
// The handler the hook passes SIGINT on to (Python's). Written with the GIL held, only while the
// hook is not installed.
struct sigaction next_action;

// Async-signal-safe: one lock-free atomic increment, then Python's own handler (itself written to
// run in a signal handler: it only sets flags and writes to the wakeup fd).
extern "C" void flatcore_sigint_hook(int sig, siginfo_t* info, void* context) {
  sigints.fetch_add(1, std::memory_order_relaxed);
  if (next_action.sa_flags & SA_SIGINFO) {
    if (next_action.sa_sigaction != nullptr) next_action.sa_sigaction(sig, info, context);
  } else if (next_action.sa_handler != SIG_DFL && next_action.sa_handler != SIG_IGN) {
    next_action.sa_handler(sig);
  }
}

bool is_hook(const struct sigaction& a) {
  return (a.sa_flags & SA_SIGINFO) && a.sa_sigaction == &flatcore_sigint_hook;
}
#endif

// Python's signal module, looked up once per process.
const py::module_& signal_module() {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::module_> storage;
  return storage.call_once_and_store_result([] { return py::module_::import("signal"); }).get_stored();
}

// threading.main_thread()'s identifier, read at import (it never changes).
std::atomic<unsigned long> main_thread_ident{0};

}  // namespace

bool in_main_thread() {
  return PyThread_get_thread_ident() == main_thread_ident.load(std::memory_order_relaxed);
}

std::uint64_t sigint_count() { return sigints.load(std::memory_order_relaxed); }

void hook_sigint() {
#ifdef FLATCORE_SIGACTION
  const py::module_& sig = signal_module();
  // Only in front of Python's default handler: a handler of the user's gets SIGINT alone.
  if (!sig.attr("getsignal")(SIGINT).is(sig.attr("default_int_handler"))) return;
  struct sigaction current;
  if (sigaction(SIGINT, nullptr, &current) != 0 || is_hook(current)) return;
  // Python's C handler is what the default handler runs on; anything else (set from C behind
  // Python's back) is left alone.
  if (!(current.sa_flags & SA_SIGINFO) && (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN))
    return;
  next_action = current;
  struct sigaction hook = current;  // the same mask and flags (Python's: SA_ONSTACK, no SA_RESTART)
  hook.sa_flags |= SA_SIGINFO;
  hook.sa_sigaction = &flatcore_sigint_hook;
  sigaction(SIGINT, &hook, nullptr);
#endif
}

Interruption::Interruption() : start_(sigint_count()) {
  hook_sigint();
  main_thread_ = bindings::in_main_thread();  // (the free function, not the member)
}

bool Interruption::check() const {
  // The main thread stops only through Python's signal handling, which runs the handler in place
  // exactly once: reading the count there too could raise a second KeyboardInterrupt for the same
  // Ctrl-C when Python's handler runs afterwards.
  if (main_thread_) return PyErr_CheckSignals() != 0;
  if (sigint_count() == start_) return false;
  PyErr_SetNone(PyExc_KeyboardInterrupt);
  return true;
}

void bind_interrupt(py::module_& m) {
  main_thread_ident =
      py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  hook_sigint();
  py::class_<Interruption>(m, "Interruption",
                           "Whether Ctrl-C asked the calling thread's call to stop since the object was made "
                           "(in the thread that made it).")
      .def(py::init<>())
      .def(
          "check",
          [](const Interruption& i) {
            if (i.check()) throw py::error_already_set();
          },
          "Raise KeyboardInterrupt (or what the user's SIGINT handler raises) if Ctrl-C asked to stop.");
}

}  // namespace flatcore::bindings
