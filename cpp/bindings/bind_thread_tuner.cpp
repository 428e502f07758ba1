// Private, for tests: the thread tuner of training loops (cpp/src/thread_tuner.hpp), so that its
// logic can be driven with made-up step times, and the settings the training loops use.
#include "common.hpp"
#include "thread_tuner.hpp"

namespace flatcore::bindings {

namespace {

using Opt = std::optional<double>;

// The settings with each given value replacing the built-in default.
ThreadTunerSettings settings(Opt window_s, Opt probe_s, Opt first_interval_s, Opt max_interval_s,
                             Opt slowdown, Opt margin, Opt spacing) {
  ThreadTunerSettings s;
  s.window_s = window_s.value_or(s.window_s);
  s.probe_s = probe_s.value_or(s.probe_s);
  s.first_interval_s = first_interval_s.value_or(s.first_interval_s);
  s.max_interval_s = max_interval_s.value_or(s.max_interval_s);
  s.slowdown = slowdown.value_or(s.slowdown);
  s.margin = margin.value_or(s.margin);
  s.spacing = spacing.value_or(s.spacing);
  s.check();
  return s;
}

}  // namespace

void bind_thread_tuner(py::module_& m) {
  py::class_<ThreadTuner>(m, "_ThreadTuner",
                          "Private (tests): the choice of a thread count from timed steps; settings left "
                          "None keep their defaults.")
      .def(py::init([](int max_threads, Opt window_s, Opt probe_s, Opt first_interval_s, Opt max_interval_s,
                       Opt slowdown, Opt margin, Opt spacing) {
             check_num_threads(max_threads);
             return ThreadTuner(max_threads, settings(window_s, probe_s, first_interval_s, max_interval_s,
                                                      slowdown, margin, spacing));
           }),
           py::arg("max_threads"), py::kw_only(), py::arg("window_s") = py::none(),
           py::arg("probe_s") = py::none(), py::arg("first_interval_s") = py::none(),
           py::arg("max_interval_s") = py::none(), py::arg("slowdown") = py::none(),
           py::arg("margin") = py::none(), py::arg("spacing") = py::none())
      .def_property_readonly("threads", &ThreadTuner::threads, "The count for the next step.")
      .def_property_readonly("rungs", &ThreadTuner::rungs, "The counts it chooses among, descending.")
      .def("record", &ThreadTuner::record, py::arg("seconds"), "The duration of a step run with `threads`.")
      .def("pause", &ThreadTuner::pause, py::arg("seconds"), "Time passed without steps.");

  m.def(
      "_set_thread_tuner_settings",
      [](Opt window_s, Opt probe_s, Opt first_interval_s, Opt max_interval_s, Opt slowdown, Opt margin,
         Opt spacing) {
        set_thread_tuner_settings(
            settings(window_s, probe_s, first_interval_s, max_interval_s, slowdown, margin, spacing));
      },
      py::kw_only(), py::arg("window_s") = py::none(), py::arg("probe_s") = py::none(),
      py::arg("first_interval_s") = py::none(), py::arg("max_interval_s") = py::none(),
      py::arg("slowdown") = py::none(), py::arg("margin") = py::none(), py::arg("spacing") = py::none(),
      "Private (tests): the tuner settings of later training loops (each None: its default; no "
      "argument: all defaults); forgets the tuners of earlier loops.");
}

}  // namespace flatcore::bindings
