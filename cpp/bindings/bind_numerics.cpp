#include "common.hpp"
#include "flatcore/numerics.hpp"

namespace flatcore::bindings {

void bind_numerics(py::module_& m) {
  // The core's buffer layout, for the Python layer's memory checks.
  m.def("padded_stride", &PackedWeights::stride, py::arg("width"));
  m.def("gradient_workspace_bytes", &GradientWorkspace::bytes, py::arg("n"), py::arg("d"), py::arg("width"),
        py::arg("n_threads"));

  m.def(
      "predict",
      [](const ConstMatrixArg& W, const ConstVectorArg& b, const ConstVectorArg& v, double beta,
         const ConstMatrixArg& X, int n_threads) {
        const Network net = make_network(W, b, v, beta);
        py::gil_scoped_release release;
        return predict(net, X, n_threads);
      },
      py::arg("W"), py::arg("b"), py::arg("v"), py::arg("beta"), py::arg("X"), py::arg("n_threads"));

  m.def(
      "loss",
      [](const ConstMatrixArg& W, const ConstVectorArg& b, const ConstVectorArg& v, double beta,
         const ConstMatrixArg& X, const ConstVectorArg& y, int n_threads) {
        const Network net = make_network(W, b, v, beta);
        py::gil_scoped_release release;
        return loss(net, X, y, n_threads);
      },
      py::arg("W"), py::arg("b"), py::arg("v"), py::arg("beta"), py::arg("X"), py::arg("y"),
      py::arg("n_threads"));

  m.def(
      "loss_and_gradient",
      [](const ConstMatrixArg& W, const ConstVectorArg& b, const ConstVectorArg& v, double beta,
         const ConstMatrixArg& X, const ConstVectorArg& y, int n_threads) {
        const Network net = make_network(W, b, v, beta);
        LossGradient lg;
        {
          py::gil_scoped_release release;
          lg = loss_and_gradient(net, X, y, n_threads);
        }
        return py::make_tuple(lg.loss, lg.grad, lg.active_fraction);
      },
      py::arg("W"), py::arg("b"), py::arg("v"), py::arg("beta"), py::arg("X"), py::arg("y"),
      py::arg("n_threads"));
}

}  // namespace flatcore::bindings
