#include "common.hpp"
#include "flatcore/numerics.hpp"

namespace flatcore::bindings {

void bind_numerics(py::module_& m) {
  py::class_<LossGradient>(m, "LossGradient")
      .def_readonly("loss", &LossGradient::loss)
      .def_readonly("grad", &LossGradient::grad)
      .def_readonly("active_fraction", &LossGradient::active_fraction);

  py::class_<NeuronSide>(m, "NeuronSide")
      .def_readonly("excess", &NeuronSide::excess)
      .def_readonly("share", &NeuronSide::share)
      .def_readonly("moment", &NeuronSide::moment);
  py::class_<NeuronSides>(m, "NeuronSides")
      .def_readonly("active", &NeuronSides::active)
      .def_readonly("inactive", &NeuronSides::inactive);

  m.def("gradient_workspace_bytes", &gradient_workspace_bytes, py::arg("n"), py::arg("d"), py::arg("width"),
        py::kw_only(), py::arg("n_threads"));

  m.def(
      "predict",
      [](const Network& net, const ConstMatrixArg& X, std::optional<int> n_threads) {
        const int nt = threads(n_threads);
        py::gil_scoped_release release;
        return predict(net, X, nt);
      },
      py::arg("net"), py::arg("X"), py::kw_only(), py::arg("n_threads") = py::none());

  m.def(
      "loss",
      [](const Network& net, const ConstMatrixArg& X, const ConstVectorArg& y, std::optional<int> n_threads) {
        const int nt = threads(n_threads);
        py::gil_scoped_release release;
        return loss(net, X, y, nt);
      },
      py::arg("net"), py::arg("X"), py::arg("y"), py::kw_only(), py::arg("n_threads") = py::none());

  m.def(
      "loss_and_gradient",
      [](const Network& net, const ConstMatrixArg& X, const ConstVectorArg& y, std::optional<int> n_threads) {
        const int nt = threads(n_threads);
        py::gil_scoped_release release;
        return loss_and_gradient(net, X, y, nt);
      },
      py::arg("net"), py::arg("X"), py::arg("y"), py::kw_only(), py::arg("n_threads") = py::none());

  m.def(
      "activation_rates",
      [](const Network& net, const ConstMatrixArg& X, std::optional<int> n_threads) {
        const int nt = threads(n_threads);
        py::gil_scoped_release release;
        return activation_rates(net, X, nt);
      },
      py::arg("net"), py::arg("X"), py::kw_only(), py::arg("n_threads") = py::none());

  m.def(
      "neuron_sides",
      [](const Network& net, const ConstMatrixArg& X, std::optional<int> n_threads) {
        const int nt = threads(n_threads);
        py::gil_scoped_release release;
        return neuron_sides(net, X, nt);
      },
      py::arg("net"), py::arg("X"), py::kw_only(), py::arg("n_threads") = py::none());
}

}  // namespace flatcore::bindings
