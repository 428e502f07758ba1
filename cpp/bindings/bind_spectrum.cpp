#include <pybind11/stl.h>

#include <optional>

#include "common.hpp"
#include "flatcore/eigensolver.hpp"

namespace flatcore::bindings {

namespace {

EigWhich parse_which(const std::string& which) {
  if (which == "largest") return EigWhich::Largest;
  if (which == "smallest") return EigWhich::Smallest;
  throw py::value_error("which must be 'largest' or 'smallest', got '" + which + "'");
}

py::dict to_dict(const EigResult& r) {
  py::dict out;
  out["values"] = r.values;
  out["vectors"] = r.vectors;
  out["residual_norms"] = r.residual_norms;
  out["error_bounds"] = r.error_bounds;
  out["n_products"] = r.n_products;
  out["n_restarts"] = r.n_restarts;
  out["converged"] = r.converged;
  return out;
}

}  // namespace

void bind_spectrum(py::module_& m) {
  m.def(
      "lanczos_eigenpairs",
      [](const HessianOperator& op, Index k, const std::string& which, double tol, Index max_restarts,
         Index ncv, std::uint64_t seed, std::optional<Vector> start, const std::string& stop) {
        EigOptions opt;
        if (stop == "eigenvalue") opt.stop = EigStop::Eigenvalue;
        else if (stop != "residual")
          throw py::value_error("stop must be 'residual' or 'eigenvalue', got '" + stop + "'");
        opt.k = k;
        opt.which = parse_which(which);
        opt.tol = tol;
        opt.max_restarts = max_restarts;
        opt.ncv = ncv;
        opt.seed = seed;
        if (start) opt.start = &*start;
        Poller poller{py::none()};
        EigResult res;
        {
          py::gil_scoped_release release;
          try {
            res = lanczos_eigenpairs(op, opt, [&](long s) { return poller(s); });
          } catch (const Interrupted&) {
            // thrown only after the poller asked to stop: it re-raises the Python error below
          }
        }
        poller.raise_if_stopped();
        return to_dict(res);
      },
      py::arg("op"), py::arg("k"), py::arg("which"), py::arg("tol"), py::arg("max_restarts"),
      py::arg("ncv"), py::arg("seed"), py::arg("start") = py::none(), py::arg("stop") = "residual");

  m.def(
      "dense_eigenpairs",
      [](const Eigen::Ref<const Eigen::MatrixXd>& H, Index k, const std::string& which) {
        const EigWhich w = parse_which(which);
        Eigen::MatrixXd Hc = H;
        EigResult res;
        {
          py::gil_scoped_release release;
          res = dense_eigenpairs(Hc, k, w);
        }
        return to_dict(res);
      },
      py::arg("H"), py::arg("k"), py::arg("which"));
}

}  // namespace flatcore::bindings
