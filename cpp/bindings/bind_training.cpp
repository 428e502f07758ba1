#include <pybind11/stl.h>

#include "common.hpp"
#include "flatcore/training.hpp"

namespace flatcore::bindings {

namespace {

template <class T>
py::array_t<T> to_array(const std::vector<T>& xs) {
  py::array_t<T> out(static_cast<py::ssize_t>(xs.size()));
  std::copy(xs.begin(), xs.end(), out.mutable_data());
  return out;
}

}  // namespace

void bind_training(py::module_& m) {
  m.def(
      "train",
      [](const ConstMatrixArg& W, const ConstVectorArg& b, const ConstVectorArg& v, double beta,
         const ConstMatrixArg& X, const ConstVectorArg& y, double lr, long steps,
         double weight_decay, bool decay_biases, double clip_grad_norm, long record_every,
         double tol, double max_loss, long sharpness_every, double sharpness_tol, int n_threads,
         py::object progress) {
        const Network init = make_network(W, b, v, beta);
        TrainOptions opt;
        opt.lr = lr;
        opt.steps = steps;
        opt.weight_decay = weight_decay;
        opt.decay_biases = decay_biases;
        opt.clip_grad_norm = clip_grad_norm;
        opt.record_every = record_every;
        opt.tol = tol;
        opt.max_loss = max_loss;
        opt.sharpness_every = sharpness_every;
        opt.sharpness_tol = sharpness_tol;
        opt.n_threads = n_threads;
        Poller poller(std::move(progress));
        TrainResult res;
        {
          py::gil_scoped_release release;
          res = train(init, X, y, opt, [&](long s) { return poller(s); });
        }
        poller.raise_if_stopped();
        const TrainHistory& h = res.history;
        py::dict history;
        history["step"] = to_array(h.step);
        history["loss"] = to_array(h.loss);
        history["grad_norm"] = to_array(h.grad_norm);
        history["W_norm"] = to_array(h.W_norm);
        history["b_norm"] = to_array(h.b_norm);
        history["v_norm"] = to_array(h.v_norm);
        history["beta"] = to_array(h.beta);
        history["active_fraction"] = to_array(h.active_fraction);
        if (opt.sharpness_every > 0) {
          history["sharpness"] = to_array(h.sharpness);
          history["sharpness_hvps"] = to_array(h.sharpness_hvps);
        }
        py::dict out;
        out["W"] = res.net.W;
        out["b"] = res.net.b;
        out["v"] = res.net.v;
        out["beta"] = res.net.beta;
        out["history"] = history;
        out["steps_run"] = res.steps_run;
        out["converged"] = res.converged;
        out["diverged"] = res.diverged;
        out["diverged_step"] = res.diverged_step;
        out["interrupted"] = res.interrupted;
        out["final_loss"] = res.final_loss;
        out["final_grad_norm"] = res.final_grad_norm;
        return out;
      },
      py::arg("W"), py::arg("b"), py::arg("v"), py::arg("beta"), py::arg("X"), py::arg("y"),
      py::arg("lr"), py::arg("steps"), py::arg("weight_decay"), py::arg("decay_biases"),
      py::arg("clip_grad_norm"), py::arg("record_every"), py::arg("tol"), py::arg("max_loss"),
      py::arg("sharpness_every"), py::arg("sharpness_tol"), py::arg("n_threads"), py::arg("progress"));
}

}  // namespace flatcore::bindings
