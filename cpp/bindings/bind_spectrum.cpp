#include "common.hpp"
#include "flatcore/eigensolver.hpp"

namespace flatcore::bindings {

namespace {

// Below this size a dense eigendecomposition takes well under a tenth of a second: run it in the
// calling thread rather than on a thread of its own.
constexpr Index kDenseInline = 512;

// EigOptions' fields by name (the keyword constructor's arguments), for the dict form and pickling.
py::dict eig_options_dict(const EigOptions& o) {
  py::dict d;
  d["k"] = o.k;
  d["which"] = which_name(o.which);
  d["tol"] = o.tol;
  d["stop"] = stop_name(o.stop);
  d["max_restarts"] = o.max_restarts;
  d["ncv"] = o.ncv;
  d["seed"] = o.seed;
  d["start"] = o.start.size() ? py::cast(o.start) : py::none();
  return d;
}

}  // namespace

void bind_spectrum(py::module_& m) {
  m.attr("EIG_WHICH") = py::tuple(py::cast(which_names()));
  m.attr("EIG_STOPS") = py::tuple(py::cast(stop_names()));

  auto eig_options =
      py::class_<EigOptions>(m, "EigOptions", "Settings of a Lanczos eigensolve (keyword arguments).")
          .def(py::init([](Index k, const std::string& which, double tol, const std::string& stop,
                           Index max_restarts, Index ncv, std::uint64_t seed, std::optional<Vector> start) {
                 EigOptions o;
                 o.k = k;
                 o.which = parse_which(which);
                 o.tol = tol;
                 o.stop = parse_stop(stop);
                 o.max_restarts = max_restarts;
                 o.ncv = ncv;
                 o.seed = seed;
                 if (start) o.start = std::move(*start);
                 return o;
               }),
               py::kw_only(), py::arg("k") = 1, py::arg("which") = "largest", py::arg("tol") = 1e-10,
               py::arg("stop") = "residual", py::arg("max_restarts") = 1000, py::arg("ncv") = 0,
               py::arg("seed") = 0, py::arg("start") = py::none())
          .def_readwrite("k", &EigOptions::k)
          .def_property(
              "which", [](const EigOptions& o) { return which_name(o.which); },
              [](EigOptions& o, const std::string& w) { o.which = parse_which(w); })
          .def_readwrite("tol", &EigOptions::tol)
          .def_property(
              "stop", [](const EigOptions& o) { return stop_name(o.stop); },
              [](EigOptions& o, const std::string& s) { o.stop = parse_stop(s); })
          .def_readwrite("max_restarts", &EigOptions::max_restarts)
          .def_readwrite("ncv", &EigOptions::ncv, "Lanczos basis size; 0 chooses max(2k + 1, 20), at most P")
          .def_readwrite("seed", &EigOptions::seed)
          .def_readwrite("start", &EigOptions::start, "warm start (size P), or empty");
  def_settings_record(eig_options, "EigOptions", &eig_options_dict);

  py::class_<EigResult>(m, "EigResult")
      .def_readonly("values", &EigResult::values)
      .def_readonly("vectors", &EigResult::vectors)
      .def_readonly("residual_norms", &EigResult::residual_norms)
      .def_readonly("error_bounds", &EigResult::error_bounds)
      .def_readonly("n_hvp", &EigResult::n_hvp)
      .def_readonly("n_restarts", &EigResult::n_restarts)
      .def_readonly("converged", &EigResult::converged);

  m.def(
      "lanczos_eigenpairs",
      [](const HessianOperator& op, const EigOptions& options) {
        Poller poller;
        EigResult res;
        {
          ReleaseGil release;
          try {
            res = lanczos_eigenpairs(op, options, [&](long s) { return poller(s); });
          } catch (const Interrupted&) {
            // thrown only after the poller asked to stop: it re-raises the Python error below
          }
        }
        poller.raise_if_stopped();
        return res;
      },
      py::arg("op"), py::arg("options") = EigOptions{});

  m.def(
      "dense_eigenpairs",
      [](const Eigen::Ref<const Eigen::MatrixXd>& H, Index k, const std::string& which) {
        const EigWhich w = parse_which(which);
        auto Hc = std::make_shared<const Eigen::MatrixXd>(H);
        if (Hc->rows() < kDenseInline) {
          ReleaseGil release;
          return dense_eigenpairs(*Hc, k, w);
        }
        // Eigen's decomposition cannot stop part-way (about 15 s at P = 3600): it runs on a thread
        // of its own, with its own copy of H, and Ctrl-C returns at once, leaving it to finish
        // unobserved (run_abandonable).
        Poller poller;
        auto res = run_abandonable(poller, [Hc, k, w] { return dense_eigenpairs(*Hc, k, w); });
        poller.raise_if_stopped();
        return std::move(*res);
      },
      py::arg("H"), py::kw_only(), py::arg("k") = 1, py::arg("which") = "largest");
}

}  // namespace flatcore::bindings
