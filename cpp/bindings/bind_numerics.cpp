#include "common.hpp"
#include "flatcore/numerics.hpp"

namespace flatcore::bindings {

void bind_numerics(py::module_& m) {
  m.attr("LOSSES") = py::tuple(py::cast(convention_names()));
  m.def(
      "loss_scale", [](const std::string& loss) { return loss_scale(parse_convention(loss)); },
      py::arg("loss"), "The convention's L, gradient and Hessian over the 'half_mse' ones: 1 or 2.");

  py::class_<LossGradient>(m, "LossGradient")
      .def_readonly("loss", &LossGradient::loss)
      .def_readonly("grad", &LossGradient::grad)
      .def_readonly("active_fraction", &LossGradient::active_fraction)
      .def_readonly("active_count", &LossGradient::active_count)
      .def_readonly("residuals", &LossGradient::residuals);

  py::class_<NeuronSide>(m, "NeuronSide")
      .def_readonly("excess", &NeuronSide::excess)
      .def_readonly("share", &NeuronSide::share)
      .def_readonly("moment", &NeuronSide::moment);
  py::class_<NeuronSides>(m, "NeuronSides")
      .def_readonly("active", &NeuronSides::active)
      .def_readonly("inactive", &NeuronSides::inactive);

  m.def(
      "gradient_workspace_bytes",
      [](Index n, Index d, Index width, std::optional<int> n_threads) {
        return gradient_workspace_bytes(n, d, width, threads(n_threads));
      },
      py::arg("n"), py::arg("d"), py::arg("width"), py::kw_only(), py::arg("n_threads") = py::none());

  m.def("predict", on_inputs(&predict), py::arg("net"), py::arg("X"), py::kw_only(),
        py::arg("n_threads") = py::none());
  m.def("loss", on_data(&loss), py::arg("net"), py::arg("X"), py::arg("y"), py::kw_only(),
        py::arg("loss") = "half_mse", py::arg("n_threads") = py::none());
  m.def("loss_and_gradient", on_data(&loss_and_gradient), py::arg("net"), py::arg("X"), py::arg("y"),
        py::kw_only(), py::arg("loss") = "half_mse", py::arg("n_threads") = py::none());
  m.def("activation_rates", on_inputs(&activation_rates), py::arg("net"), py::arg("X"), py::kw_only(),
        py::arg("n_threads") = py::none());
  m.def("neuron_sides", on_inputs(&neuron_sides), py::arg("net"), py::arg("X"), py::kw_only(),
        py::arg("n_threads") = py::none());
}

}  // namespace flatcore::bindings
