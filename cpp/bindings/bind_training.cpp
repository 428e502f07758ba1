#include "common.hpp"
#include "flatcore/training.hpp"

// The check of the certified step against the dense one, for the tests (a private header of the core).
#include "certified_step.hpp"

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
  d["loss"] = convention_name(o.loss);
  d["weight_decay"] = o.weight_decay;
  d["decay_biases"] = o.decay_biases;
  d["clip_grad_norm"] = o.clip_grad_norm;
  d["record_every"] = o.record_every;
  d["tol"] = o.tol;
  d["max_loss"] = o.max_loss;
  d["sharpness_every"] = o.sharpness_every;
  d["sharpness_tol"] = o.sharpness_tol;
  d["rare_share"] = o.rare_share;
  d["kernel"] = kernel_name(o.kernel);
  d["n_threads"] = o.n_threads;
  return d;
}

py::dict start_dict(const TrainStart& s) {
  py::dict d;
  d["net"] = s.net;
  d["step"] = s.step;
  d["recorded"] = s.recorded;
  d["max_loss"] = s.max_loss;
  d["sharpness_start"] = s.sharpness_start.size() ? py::cast(s.sharpness_start) : py::none();
  d["certified"] = s.certified;
  return d;
}

// The history's columns by name, in order, as NumPy arrays.
py::dict history_dict(const TrainHistory& h) {
  const auto column = [&](const std::string& name) -> py::object {
    if (name == "step") return to_array(h.step);
    if (name == "sharpness_n_hvp") return to_array(h.sharpness_n_hvp);
    const std::vector<double>* c = name == "loss"              ? &h.loss
                                   : name == "grad_norm"       ? &h.grad_norm
                                   : name == "W_norm"          ? &h.W_norm
                                   : name == "b_norm"          ? &h.b_norm
                                   : name == "v_norm"          ? &h.v_norm
                                   : name == "beta"            ? &h.beta
                                   : name == "active_fraction" ? &h.active_fraction
                                   : name == "dead_fraction"   ? &h.dead_fraction
                                   : name == "rare_fraction"   ? &h.rare_fraction
                                   : name == "sharpness"       ? &h.sharpness
                                   : name == "test_mse"        ? &h.test_mse
                                   : name == "clean_mse"       ? &h.clean_mse
                                                               : nullptr;
    if (c == nullptr) throw std::logic_error("no history column " + name);
    return to_array(*c);
  };
  py::dict d;
  for (const std::string& name : TrainHistory::column_names(h.columns)) d[py::str(name)] = column(name);
  return d;
}

TrainResult train_from(const TrainStart& start, const ConstMatrixArg& X, const ConstVectorArg& y,
                       const TrainOptions& options, std::optional<RowMatrix> X_test,
                       std::optional<Vector> y_test, std::optional<Vector> y_clean, py::object progress) {
  Evaluation ev;
  if (X_test.has_value() != y_test.has_value())
    throw std::invalid_argument("give X_test and y_test together");
  if (X_test) {
    ev.X_test = std::move(*X_test);
    ev.y_test = std::move(*y_test);
  }
  if (y_clean) ev.y_clean = std::move(*y_clean);
  Poller poller(std::move(progress));
  TrainResult res;
  {
    ReleaseGil release;
    res = train(start, X, y, options, ev, [&](long s) { return poller(s); });
  }
  poller.raise_if_stopped();
  return res;
}

}  // namespace

void bind_training(py::module_& m) {
  auto train_options =
      py::class_<TrainOptions>(
          m, "TrainOptions",
          "Settings of a gradient-descent run (keyword arguments; unset optional settings are off).")
          .def(py::init([](double lr, long steps, const std::string& loss, double weight_decay,
                           bool decay_biases, std::optional<double> clip_grad_norm, long record_every,
                           std::optional<double> tol, std::optional<double> max_loss,
                           std::optional<long> sharpness_every, double sharpness_tol, double rare_share,
                           const std::string& kernel, std::optional<int> n_threads) {
                 TrainOptions o;
                 o.lr = lr;
                 o.steps = steps;
                 o.loss = parse_convention(loss);
                 o.weight_decay = weight_decay;
                 o.decay_biases = decay_biases;
                 o.clip_grad_norm = clip_grad_norm;
                 o.record_every = record_every;
                 o.tol = tol;
                 o.max_loss = max_loss;
                 o.sharpness_every = sharpness_every;
                 o.sharpness_tol = sharpness_tol;
                 o.rare_share = rare_share;
                 o.kernel = parse_kernel(kernel);
                 o.n_threads = threads(n_threads);
                 o.check();
                 return o;
               }),
               py::kw_only(), py::arg("lr") = TrainOptions{}.lr, py::arg("steps") = TrainOptions{}.steps,
               py::arg("loss") = "half_mse", py::arg("weight_decay") = 0.0, py::arg("decay_biases") = false,
               py::arg("clip_grad_norm") = py::none(), py::arg("record_every") = 1,
               py::arg("tol") = py::none(), py::arg("max_loss") = py::none(),
               py::arg("sharpness_every") = py::none(),
               py::arg("sharpness_tol") = TrainOptions{}.sharpness_tol,
               py::arg("rare_share") = TrainOptions{}.rare_share, py::arg("kernel") = "auto",
               py::arg("n_threads") = py::none())
          .def_readwrite("lr", &TrainOptions::lr)
          .def_readwrite("steps", &TrainOptions::steps)
          .def_property(
              "loss", [](const TrainOptions& o) { return convention_name(o.loss); },
              [](TrainOptions& o, const std::string& name) { o.loss = parse_convention(name); })
          .def_readwrite("weight_decay", &TrainOptions::weight_decay)
          .def_readwrite("decay_biases", &TrainOptions::decay_biases)
          .def_readwrite("clip_grad_norm", &TrainOptions::clip_grad_norm)
          .def_readwrite("record_every", &TrainOptions::record_every)
          .def_readwrite("tol", &TrainOptions::tol)
          .def_readwrite("max_loss", &TrainOptions::max_loss)
          .def_readwrite("sharpness_every", &TrainOptions::sharpness_every)
          .def_readwrite("sharpness_tol", &TrainOptions::sharpness_tol)
          .def_readwrite("rare_share", &TrainOptions::rare_share)
          .def_property(
              "kernel", [](const TrainOptions& o) { return kernel_name(o.kernel); },
              [](TrainOptions& o, const std::string& name) { o.kernel = parse_kernel(name); })
          .def_readwrite("n_threads", &TrainOptions::n_threads)
          .def("check", &TrainOptions::check, "Raise ValueError naming the first setting out of range.");
  def_settings_record(train_options, "TrainOptions", &options_dict);
  m.attr("KERNELS") = py::tuple(py::cast(kernel_names()));

  auto train_start =
      py::class_<TrainStart>(m, "TrainStart",
                             "Where a run starts: the network and, to carry on an earlier run, its state.")
          .def(py::init([](const Network& net, long step, bool recorded, std::optional<double> max_loss,
                           std::optional<Vector> sharpness_start, bool certified) {
                 TrainStart s;
                 s.net = net;
                 s.step = step;
                 s.recorded = recorded;
                 s.max_loss = max_loss;
                 if (sharpness_start) s.sharpness_start = std::move(*sharpness_start);
                 s.certified = certified;
                 return s;
               }),
               py::kw_only(), py::arg("net"), py::arg("step") = 0, py::arg("recorded") = false,
               py::arg("max_loss") = py::none(), py::arg("sharpness_start") = py::none(),
               py::arg("certified") = false)
          .def_readonly("net", &TrainStart::net)
          .def_readonly("step", &TrainStart::step)
          .def_readonly("recorded", &TrainStart::recorded)
          .def_readonly("max_loss", &TrainStart::max_loss)
          .def_readonly("sharpness_start", &TrainStart::sharpness_start)
          .def_readonly("certified", &TrainStart::certified);
  def_settings_record(train_start, "TrainStart", &start_dict);

  m.def(
      "history_columns",
      [](bool sharpness, bool test_mse, bool clean_mse) {
        return TrainHistory::column_names(HistoryColumns{sharpness, test_mse, clean_mse});
      },
      py::kw_only(), py::arg("sharpness") = false, py::arg("test_mse") = false, py::arg("clean_mse") = false,
      "The names of a history's columns, in order, given which optional columns it has.");
  m.def(
      "history_bytes_per_row",
      [](bool sharpness, bool test_mse, bool clean_mse) {
        return TrainHistory::bytes_per_row(HistoryColumns{sharpness, test_mse, clean_mse});
      },
      py::kw_only(), py::arg("sharpness") = false, py::arg("test_mse") = false, py::arg("clean_mse") = false);

  py::class_<TrainHistory>(m, "TrainHistory")
      .def("__len__", &TrainHistory::size)
      .def("as_dict", &history_dict, "The columns by name, in order, as arrays.");

  py::class_<TrainResult>(m, "TrainResult")
      .def_readonly("net", &TrainResult::net)
      .def_readonly("history", &TrainResult::history)
      .def_readonly("steps_run", &TrainResult::steps_run)
      .def_readonly("final_step", &TrainResult::final_step)
      .def_readonly("converged", &TrainResult::converged)
      .def_readonly("diverged", &TrainResult::diverged)
      .def_property_readonly("diverged_step",
                             [](const TrainResult& r) -> std::optional<long> {
                               if (r.diverged_step < 0) return std::nullopt;
                               return r.diverged_step;
                             })
      .def_readonly("interrupted", &TrainResult::interrupted)
      .def_readonly("final_loss", &TrainResult::final_loss)
      .def_readonly("final_grad_norm", &TrainResult::final_grad_norm)
      .def_readonly("max_loss", &TrainResult::max_loss)
      .def_readonly("sharpness_vector", &TrainResult::sharpness_vector)
      .def_readonly("certified_steps", &TrainResult::certified_steps)
      .def_readonly("certified_pairs", &TrainResult::certified_pairs)
      .def_readonly("certified_refreshes", &TrainResult::certified_refreshes)
      .def_readonly("certified", &TrainResult::certified)
      .def("next_start", &TrainResult::next_start, "Where a run that carries this one on starts.");

  // train(start, ...) carries on an earlier run; train(net, ...) starts one.
  m.def("train", &train_from, py::arg("start"), py::arg("X"), py::arg("y"), py::arg("options"), py::kw_only(),
        py::arg("X_test") = py::none(), py::arg("y_test") = py::none(), py::arg("y_clean") = py::none(),
        py::arg("progress") = py::none());
  m.def(
      "train",
      [](const Network& net, const ConstMatrixArg& X, const ConstVectorArg& y, const TrainOptions& options,
         std::optional<RowMatrix> X_test, std::optional<Vector> y_test, std::optional<Vector> y_clean,
         py::object progress) {
        TrainStart start;
        start.net = net;
        return train_from(start, X, y, options, std::move(X_test), std::move(y_test), std::move(y_clean),
                          std::move(progress));
      },
      py::arg("net"), py::arg("X"), py::arg("y"), py::arg("options"), py::kw_only(),
      py::arg("X_test") = py::none(), py::arg("y_test") = py::none(), py::arg("y_clean") = py::none(),
      py::arg("progress") = py::none());

  // For the tests: the certified step against the dense kernel at every step of a GD run.
  m.def(
      "_check_certified_steps",
      [](const Network& net, const ConstMatrixArg& X, const ConstVectorArg& y, double lr, long steps,
         const std::string& loss, double weight_decay, std::optional<double> clip_grad_norm,
         std::optional<int> n_threads) {
        CertifiedCheck c;
        {
          ReleaseGil release;
          c = check_certified_steps(net, X, y, lr, steps, parse_convention(loss), weight_decay,
                                    clip_grad_norm, threads(n_threads));
        }
        py::dict d;
        d["steps"] = c.steps;
        d["mask_mismatches"] = c.mask_mismatches;
        d["value_mismatches"] = c.value_mismatches;
        d["max_loss_error"] = c.max_loss_error;
        d["max_gradient_error"] = c.max_gradient_error;
        d["pairs"] = c.pairs;
        d["refreshes"] = c.refreshes;
        d["losses"] = py::cast(Vector(Eigen::Map<const Vector>(c.losses.data(), c.losses.size())));
        return d;
      },
      py::arg("net"), py::arg("X"), py::arg("y"), py::kw_only(), py::arg("lr"), py::arg("steps"),
      py::arg("loss") = "half_mse", py::arg("weight_decay") = 0.0, py::arg("clip_grad_norm") = py::none(),
      py::arg("n_threads") = py::none());
}

}  // namespace flatcore::bindings
