#include "common.hpp"
#include "flatcore/hessian.hpp"

namespace flatcore::bindings {

void bind_hessian(py::module_& m) {
  m.def(
      "dense_hessian",
      [](const ConstMatrixArg& W, const ConstVectorArg& b, const ConstVectorArg& v, double beta,
         const ConstMatrixArg& X, const ConstVectorArg& y, const std::string& part, int n_threads) {
        const Network net = make_network(W, b, v, beta);
        const HessianPart p = parse_part(part);
        Poller poller{py::none()};
        bool stopped = false;
        Eigen::MatrixXd H;
        {
          py::gil_scoped_release release;
          H = dense_hessian(net, X, y, p, n_threads, [&](long s) { return poller(s); }, &stopped);
        }
        poller.raise_if_stopped();
        return H;
      },
      py::arg("W"), py::arg("b"), py::arg("v"), py::arg("beta"), py::arg("X"), py::arg("y"),
      py::arg("part"), py::arg("n_threads"));

  m.def(
      "hvp",
      [](const ConstMatrixArg& W, const ConstVectorArg& b, const ConstVectorArg& v, double beta,
         const ConstMatrixArg& X, const ConstVectorArg& y, const ConstVectorArg& u,
         const std::string& part, int n_threads) {
        const Network net = make_network(W, b, v, beta);
        const HessianPart p = parse_part(part);
        py::gil_scoped_release release;
        return hessian_vector_product(net, X, y, u, p, n_threads);
      },
      py::arg("W"), py::arg("b"), py::arg("v"), py::arg("beta"), py::arg("X"), py::arg("y"),
      py::arg("u"), py::arg("part"), py::arg("n_threads"));

  m.def(
      "trace_terms",
      [](const ConstMatrixArg& W, const ConstVectorArg& b, const ConstVectorArg& v, double beta,
         const ConstMatrixArg& X, int n_threads) {
        const Network net = make_network(W, b, v, beta);
        TraceTerms t;
        {
          py::gil_scoped_release release;
          t = trace_terms(net, X, n_threads);
        }
        return py::make_tuple(t.A, t.M);
      },
      py::arg("W"), py::arg("b"), py::arg("v"), py::arg("beta"), py::arg("X"), py::arg("n_threads"));

  m.def(
      "hessian_trace",
      [](const ConstMatrixArg& W, const ConstVectorArg& b, const ConstVectorArg& v, double beta,
         const ConstMatrixArg& X, const ConstVectorArg& y, const std::string& part, int n_threads) {
        const Network net = make_network(W, b, v, beta);
        const HessianPart p = parse_part(part);
        py::gil_scoped_release release;
        return hessian_trace(net, X, y, p, n_threads);
      },
      py::arg("W"), py::arg("b"), py::arg("v"), py::arg("beta"), py::arg("X"), py::arg("y"),
      py::arg("part"), py::arg("n_threads"));

  // The Hessian at a fixed theta as an object, for eigensolvers that apply it many times.
  py::class_<HessianOperator>(m, "HessianOperator")
      .def(py::init([](const ConstMatrixArg& W, const ConstVectorArg& b, const ConstVectorArg& v,
                       double beta, const ConstMatrixArg& X, const ConstVectorArg& y,
                       const std::string& part, int n_threads, bool cache_activations) {
             Network net = make_network(W, b, v, beta);
             const HessianPart p = parse_part(part);
             RowMatrix Xc = X;
             Vector yc = y;
             py::gil_scoped_release release;
             return new HessianOperator(std::move(net), std::move(Xc), std::move(yc), p, n_threads,
                                        cache_activations);
           }),
           py::arg("W"), py::arg("b"), py::arg("v"), py::arg("beta"), py::arg("X"), py::arg("y"),
           py::arg("part"), py::arg("n_threads"), py::arg("cache_activations"))
      .def_property_readonly("size", &HessianOperator::rows)
      .def_property_readonly("n_products", &HessianOperator::n_products)
      .def_property_readonly("caches_activations", &HessianOperator::caches_activations)
      .def("matvec", &HessianOperator::apply, py::arg("u"), py::call_guard<py::gil_scoped_release>())
      .def(
          "matmat",
          [](const HessianOperator& op, const Eigen::Ref<const Eigen::MatrixXd>& U) {
            Eigen::MatrixXd out(U.rows(), U.cols());
            {
              py::gil_scoped_release release;
              if (U.rows() != op.rows()) throw std::invalid_argument("U must have P rows");
              Vector in(U.rows()), o(U.rows());
              for (Index j = 0; j < U.cols(); ++j) {
                in = U.col(j);
                op.perform_op(in.data(), o.data());
                out.col(j) = o;
              }
            }
            return out;
          },
          py::arg("U"));
}

}  // namespace flatcore::bindings
