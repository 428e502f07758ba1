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

// TrainOptions' fields by name (the keyword constructor's arguments), for the dict form and
// pickling.
py::dict options_dict(const TrainOptions& o) {
  py::dict d;
  d["lr"] = o.lr;
  d["steps"] = o.steps;
  d["weight_decay"] = o.weight_decay;
  d["decay_biases"] = o.decay_biases;
  d["clip_grad_norm"] = o.clip_grad_norm;
  d["record_every"] = o.record_every;
  d["tol"] = o.tol;
  d["max_loss"] = o.max_loss;
  d["sharpness_every"] = o.sharpness_every;
  d["sharpness_tol"] = o.sharpness_tol;
  d["n_threads"] = o.n_threads;
  return d;
}

}  // namespace

void bind_training(py::module_& m) {
  auto train_options =
      py::class_<TrainOptions>(
          m, "TrainOptions",
          "Settings of a gradient-descent run (keyword arguments; unset optional settings are off).")
          .def(py::init([](double lr, long steps, double weight_decay, bool decay_biases,
                           std::optional<double> clip_grad_norm, long record_every, std::optional<double> tol,
                           std::optional<double> max_loss, std::optional<long> sharpness_every,
                           double sharpness_tol, std::optional<int> n_threads) {
                 TrainOptions o;
                 o.lr = lr;
                 o.steps = steps;
                 o.weight_decay = weight_decay;
                 o.decay_biases = decay_biases;
                 o.clip_grad_norm = clip_grad_norm;
                 o.record_every = record_every;
                 o.tol = tol;
                 o.max_loss = max_loss;
                 o.sharpness_every = sharpness_every;
                 o.sharpness_tol = sharpness_tol;
                 o.n_threads = threads(n_threads);
                 o.check();
                 return o;
               }),
               py::kw_only(), py::arg("lr") = TrainOptions{}.lr, py::arg("steps") = TrainOptions{}.steps,
               py::arg("weight_decay") = 0.0, py::arg("decay_biases") = false,
               py::arg("clip_grad_norm") = py::none(), py::arg("record_every") = 1,
               py::arg("tol") = py::none(), py::arg("max_loss") = py::none(),
               py::arg("sharpness_every") = py::none(),
               py::arg("sharpness_tol") = TrainOptions{}.sharpness_tol, py::arg("n_threads") = py::none())
          .def_readwrite("lr", &TrainOptions::lr)
          .def_readwrite("steps", &TrainOptions::steps)
          .def_readwrite("weight_decay", &TrainOptions::weight_decay)
          .def_readwrite("decay_biases", &TrainOptions::decay_biases)
          .def_readwrite("clip_grad_norm", &TrainOptions::clip_grad_norm)
          .def_readwrite("record_every", &TrainOptions::record_every)
          .def_readwrite("tol", &TrainOptions::tol)
          .def_readwrite("max_loss", &TrainOptions::max_loss)
          .def_readwrite("sharpness_every", &TrainOptions::sharpness_every)
          .def_readwrite("sharpness_tol", &TrainOptions::sharpness_tol)
          .def_readwrite("n_threads", &TrainOptions::n_threads)
          .def("check", &TrainOptions::check, "Raise ValueError naming the first setting out of range.");
  def_settings_record(train_options, "TrainOptions", &options_dict);

  py::class_<TrainHistory>(m, "TrainHistory")
      .def_static("column_names", &TrainHistory::column_names, py::arg("tracks_sharpness"))
      .def_static("bytes_per_row", &TrainHistory::bytes_per_row, py::arg("tracks_sharpness"))
      .def_property_readonly("tracks_sharpness", &TrainHistory::tracks_sharpness)
      .def("__len__", &TrainHistory::size)
      .def_property_readonly("step", [](const TrainHistory& h) { return to_array(h.step); })
      .def_property_readonly("loss", [](const TrainHistory& h) { return to_array(h.loss); })
      .def_property_readonly("grad_norm", [](const TrainHistory& h) { return to_array(h.grad_norm); })
      .def_property_readonly("W_norm", [](const TrainHistory& h) { return to_array(h.W_norm); })
      .def_property_readonly("b_norm", [](const TrainHistory& h) { return to_array(h.b_norm); })
      .def_property_readonly("v_norm", [](const TrainHistory& h) { return to_array(h.v_norm); })
      .def_property_readonly("beta", [](const TrainHistory& h) { return to_array(h.beta); })
      .def_property_readonly("active_fraction",
                             [](const TrainHistory& h) { return to_array(h.active_fraction); })
      .def_property_readonly("sharpness", [](const TrainHistory& h) { return to_array(h.sharpness); })
      .def_property_readonly("sharpness_n_hvp",
                             [](const TrainHistory& h) { return to_array(h.sharpness_n_hvp); });

  py::class_<TrainResult>(m, "TrainResult")
      .def_readonly("net", &TrainResult::net)
      .def_readonly("history", &TrainResult::history)
      .def_readonly("steps_run", &TrainResult::steps_run)
      .def_readonly("converged", &TrainResult::converged)
      .def_readonly("diverged", &TrainResult::diverged)
      .def_property_readonly("diverged_step",
                             [](const TrainResult& r) -> std::optional<long> {
                               if (r.diverged_step < 0) return std::nullopt;
                               return r.diverged_step;
                             })
      .def_readonly("interrupted", &TrainResult::interrupted)
      .def_readonly("final_loss", &TrainResult::final_loss)
      .def_readonly("final_grad_norm", &TrainResult::final_grad_norm);

  m.def(
      "train",
      [](const Network& init, const ConstMatrixArg& X, const ConstVectorArg& y, const TrainOptions& options,
         py::object progress) {
        Poller poller(std::move(progress));
        TrainResult res;
        {
          py::gil_scoped_release release;
          res = train(init, X, y, options, [&](long s) { return poller(s); });
        }
        poller.raise_if_stopped();
        return res;
      },
      py::arg("net"), py::arg("X"), py::arg("y"), py::arg("options"), py::kw_only(),
      py::arg("progress") = py::none());
}

}  // namespace flatcore::bindings
