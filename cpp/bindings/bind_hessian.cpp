#include "common.hpp"
#include "flatcore/hessian.hpp"
#include "flatcore/trace.hpp"

namespace flatcore::bindings {

void bind_hessian(py::module_& m) {
  m.attr("HESSIAN_PARTS") = py::tuple(py::cast(part_names()));
  m.def("dense_hessian_bytes", &dense_hessian_bytes, py::arg("n_params"), py::arg("width"));
  m.def("activation_cache_bytes", &activation_cache_bytes, py::arg("n"), py::arg("width"));
  m.def("cache_activations_by_default", &cache_activations_by_default, py::arg("n"), py::arg("width"));

  m.def(
      "dense_hessian",
      [](const Network& net, const ConstMatrixArg& X, const ConstVectorArg& y, const std::string& part,
         const std::string& loss, std::optional<int> n_threads) {
        const HessianPart p = parse_part(part);
        const LossConvention c = parse_convention(loss);
        const int nt = threads(n_threads);
        Poller poller;
        Eigen::MatrixXd H;
        {
          ReleaseGil release;
          H = dense_hessian(net, X, y, p, c, nt, [&](long s) { return poller(s); });
        }
        poller.raise_if_stopped();
        return H;
      },
      py::arg("net"), py::arg("X"), py::arg("y"), py::kw_only(), py::arg("part") = "full",
      py::arg("loss") = "half_mse", py::arg("n_threads") = py::none());

  m.def(
      "hvp",
      [](const Network& net, const ConstMatrixArg& X, const ConstVectorArg& y, const ConstVectorArg& u,
         const std::string& part, const std::string& loss, std::optional<int> n_threads) {
        const HessianPart p = parse_part(part);
        const LossConvention c = parse_convention(loss);
        const int nt = threads(n_threads);
        ReleaseGil release;
        return hessian_vector_product(net, X, y, u, p, c, nt);
      },
      py::arg("net"), py::arg("X"), py::arg("y"), py::arg("u"), py::kw_only(), py::arg("part") = "full",
      py::arg("loss") = "half_mse", py::arg("n_threads") = py::none());

  py::class_<TraceTerms>(m, "TraceTerms")
      .def_readonly("A", &TraceTerms::A)
      .def_readonly("B", &TraceTerms::B)
      .def_readonly("beta", &TraceTerms::beta);

  m.def("trace_terms", on_inputs(&trace_terms), py::arg("net"), py::arg("X"), py::kw_only(),
        py::arg("loss") = "half_mse", py::arg("n_threads") = py::none());

  m.def(
      "hessian_trace",
      [](const Network& net, const ConstMatrixArg& X, const ConstVectorArg& y, const std::string& part,
         const std::string& loss, std::optional<int> n_threads) {
        const HessianPart p = parse_part(part);
        const LossConvention c = parse_convention(loss);
        const int nt = threads(n_threads);
        ReleaseGil release;
        return hessian_trace(net, X, y, p, c, nt);
      },
      py::arg("net"), py::arg("X"), py::arg("y"), py::kw_only(), py::arg("part") = "full",
      py::arg("loss") = "half_mse", py::arg("n_threads") = py::none());

  // The Hessian at a fixed theta as an object, for eigensolvers that apply it many times.
  py::class_<HessianOperator>(m, "HessianOperator")
      .def(py::init([](const Network& net, const ConstMatrixArg& X, const ConstVectorArg& y,
                       const std::string& part, const std::string& loss, std::optional<int> n_threads,
                       std::optional<bool> cache_activations, const std::string& kernel) {
             const HessianPart p = parse_part(part);
             const LossConvention c = parse_convention(loss);
             const int nt = threads(n_threads);
             const bool cache =
                 cache_activations.value_or(cache_activations_by_default(X.rows(), net.width()));
             const Kernel kern = parse_kernel(kernel);
             RowMatrix Xc = X;
             Vector yc = y;
             ReleaseGil release;
             return new HessianOperator(net, std::move(Xc), std::move(yc), p, c, nt, cache, kern);
           }),
           py::arg("net"), py::arg("X"), py::arg("y"), py::kw_only(), py::arg("part") = "full",
           py::arg("loss") = "half_mse", py::arg("n_threads") = py::none(),
           py::arg("cache_activations") = py::none(), py::arg("kernel") = "auto")
      .def_property_readonly("size", &HessianOperator::rows)
      .def_property_readonly("part", [](const HessianOperator& op) { return part_name(op.part()); })
      .def_property_readonly("loss",
                             [](const HessianOperator& op) { return convention_name(op.convention()); })
      .def_property_readonly("n_hvp", &HessianOperator::n_hvp)
      .def_property_readonly("caches_activations", &HessianOperator::caches_activations)
      .def_property_readonly("lists_active_pairs", &HessianOperator::lists_active_pairs)
      .def_property_readonly("residuals", &HessianOperator::residuals)
      .def("matvec", &HessianOperator::apply, py::arg("u"), py::call_guard<ReleaseGil>())
      .def(
          "matmat",
          [](const HessianOperator& op, const Eigen::Ref<const Eigen::MatrixXd>& U) {
            if (U.rows() != op.rows())
              throw std::invalid_argument("U has " + std::to_string(U.rows()) +
                                          " rows, expected P = " + std::to_string(op.rows()));
            Eigen::MatrixXd out(U.rows(), U.cols());
            ReleaseGil release;
            Vector in(U.rows()), o(U.rows());
            for (Index j = 0; j < U.cols(); ++j) {
              in = U.col(j);
              op.perform_op(in.data(), o.data());
              out.col(j) = o;
            }
            return out;
          },
          py::arg("U"));
}

}  // namespace flatcore::bindings
