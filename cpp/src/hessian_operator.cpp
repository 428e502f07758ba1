// The matrix-free Hessian: HessianOperator and its products H u (docs/math.md, section 3.2).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "activation_buffer.hpp"
#include "flatcore/hessian.hpp"
#include "forward.hpp"
#include "kernels.hpp"
#include "names.hpp"
#include "thread_id.hpp"

namespace flatcore {

namespace {
constexpr EnumNames<HessianPart, 3> kParts{"part",
                                           {{{HessianPart::Full, "full"},
                                             {HessianPart::GaussNewton, "gauss_newton"},
                                             {HessianPart::Residual, "residual"}}}};
}  // namespace

const char* part_name(HessianPart part) { return kParts.name(part); }
std::vector<std::string> part_names() { return kParts.names(); }
HessianPart parse_part(const std::string& name) { return kParts.parse(name); }

double activation_cache_bytes(Index n, Index width) {
  return 8.0 * static_cast<double>(n) * static_cast<double>(PackedWeights::stride(width));
}

bool cache_activations_by_default(Index n, Index width) {
  const double need = activation_cache_bytes(n, width);
  if (need < 64.0 * (1 << 20)) return true;
  if (need > 512.0 * (1 << 20)) return false;
  const double available = available_memory_bytes();
  return available < 0.0 || need < 0.25 * available;
}

namespace {

// The buffers of one product, kept between products: an eigensolve applies the operator many
// times, and fresh buffers each time cost page faults.
struct ProductWorkspace {
  PackedWeights direction;        // (U_W, u_b, u_v) of the direction, packed like the weights
  double direction_beta = 0.0;    // and its u_beta
  std::vector<Vector> chunk_acc;  // per row chunk: [H u for W^T (d x ld) | b (Kp) | v (Kp) | beta]
  Vector total;                   // their sum in chunk order
  std::vector<Vector> tt;         // per thread: a (x . U_W,k - u_b,k) of one row block
  std::vector<Vector> phi;        // per thread: the row block's activations, when not cached

  ProductWorkspace(const PackedWeights& w, Index n_chunks, int n_threads, bool cached)
      : direction(w.d, w.width),
        chunk_acc(n_chunks, Vector::Zero(size(w))),
        total(Vector::Zero(size(w))),
        tt(n_threads, Vector::Zero(kernels::kRowBlock * w.ld)),
        phi(n_threads, Vector::Zero(cached ? 0 : kernels::kRowBlock * w.ld)) {}

  static Index size(const PackedWeights& w) { return w.d * w.ld + 2 * w.Kp + 1; }
};

}  // namespace

struct HessianOperator::State {
  Network net;
  RowMatrix X;
  Vector y;
  HessianPart part;
  LossConvention convention;
  int n_threads;
  RowChunks chunks;
  Forward forward;
  Vector r;              // residuals f(x_i) - y_i
  ActivationBuffer phi;  // n x ld activations when cached
  std::atomic<long> n_hvp{0};
  // The kept workspace, lent to one product at a time; a concurrent product makes its own.
  std::mutex workspace_mutex;
  std::unique_ptr<ProductWorkspace> workspace;
  // The listed path (Kernel::Certified): each neuron's active points, ascending, and their
  // activations; X^T for the products' gathers.
  bool listed = false;
  std::vector<std::vector<std::int32_t>> active;
  std::vector<std::vector<double>> active_phi;
  RowMatrix XT;

  State(Network net_, RowMatrix X_, Vector y_, HessianPart part_, LossConvention convention_, int n_threads_)
      : net(std::move(net_)),
        X(std::move(X_)),
        y(std::move(y_)),
        part(part_),
        convention(convention_),
        n_threads(threads_for_work(n_threads_, 6.0 * X.rows() * net.width() * net.d())),
        chunks(make_row_chunks(X.rows())),
        forward(net) {}

  const PackedWeights& w() const { return forward.weights(); }
  bool cached() const { return !phi.empty(); }

  void compute_residuals(bool cache);
  void list_active_pairs(Kernel kernel);
  void listed_product(const double* u, double* out) const;
  void accumulate_block(ProductWorkspace& ws, Index c, Index i0, Index m, int thread) const;
  void unpack(const ProductWorkspace& ws, double* out) const;
};

// One forward pass gives the residuals and, when caching, the activations.
void HessianOperator::State::compute_residuals(bool cache) {
  const Index n = X.rows(), ld = w().ld;
  r.resize(n);
  if (cache) phi = ActivationBuffer(static_cast<std::size_t>(n * ld));
  std::vector<Vector> scratch = thread_buffers(cache ? 0 : n_threads, kernels::kRowBlock * ld);
  for_each_row_block(chunks, n_threads, [&](Index, Index i0, Index m, int thread) {
    double* out = cache ? phi.data() + i0 * ld : scratch[thread].data();
    forward.outputs(X.row(i0).data(), m, out, r.data() + i0);
    for (Index i = i0; i < i0 + m; ++i) r[i] -= y[i];
  });
}

// Lists each neuron's active points from the cached activations, when the kernel asks for it.
void HessianOperator::State::list_active_pairs(Kernel kernel) {
  if (kernel == Kernel::Dense || !cached()) return;
  const Index n = X.rows(), K = net.width(), ld = w().ld;
  double on = 0.0;
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < K; ++k) on += phi.data()[i * ld + k] > 0.0 ? 1.0 : 0.0;
  if (kernel == Kernel::Auto && on > kCertifiedShare * static_cast<double>(n) * static_cast<double>(K))
    return;
  active.assign(K, {});
  active_phi.assign(K, {});
  for (Index i = 0; i < n; ++i) {
    const double* row = phi.data() + i * ld;
    for (Index k = 0; k < K; ++k) {
      if (row[k] > 0.0) {
        active[k].push_back(static_cast<std::int32_t>(i));
        active_phi[k].push_back(row[k]);
      }
    }
  }
  XT = X.transpose();
  listed = true;
}

// H u from the listed active pairs (docs/math.md, section 3.3), each sum running over a neuron's
// active points only. Neurons are taken in fixed groups, whose parts of (J u)_i are added in group
// order, so the product does not depend on the thread count.
void HessianOperator::State::listed_product(const double* u, double* out) const {
  constexpr Index kGroup = 128;
  const Index n = X.rows(), d = net.d(), K = net.width();
  const ParamLayout L(d, K);
  const Index groups = (K + kGroup - 1) / kGroup;
  const double gn = part != HessianPart::Residual ? 1.0 : 0.0;
  const double res = part != HessianPart::GaussNewton ? 1.0 : 0.0;
  const double* uW = u + L.W();
  const double* ub = u + L.b();
  const double* uv = u + L.v();
  RowMatrix s_part = RowMatrix::Zero(groups, n);
  std::vector<std::vector<double>> t(K);  // a_ik (x_i . u_W,k - u_b,k) on each active pair
#pragma omp parallel for schedule(dynamic) num_threads(team_size(n_threads))
  for (Index g = 0; g < groups; ++g) {
    double* sp = s_part.row(g).data();
    for (Index k = g * kGroup; k < std::min(K, (g + 1) * kGroup); ++k) {
      const auto& pts = active[k];
      const auto& ph = active_phi[k];
      const Index m = static_cast<Index>(pts.size());
      t[k].resize(pts.size());
      kernels::preactivations_at(XT.data(), n, d, uW + k * d, ub[k], pts.data(), 0, m, t[k].data());
      for (Index a = 0; a < m; ++a) sp[pts[a]] += uv[k] * ph[a] + net.v[k] * t[k][a];
    }
  }
  Vector s(n), rr(n);
  double sbeta = 0.0;
  for (Index i = 0; i < n; ++i) {
    double ju = u[L.beta()];
    for (Index g = 0; g < groups; ++g) ju += s_part(g, i);
    s[i] = gn * ju;  // (J u)_i
    rr[i] = res * r[i];
    sbeta += s[i];
  }
  const double inv_n = loss_scale(convention) / static_cast<double>(n);
#pragma omp parallel for schedule(dynamic) num_threads(team_size(n_threads))
  for (Index g = 0; g < groups; ++g) {
    std::vector<double> gw(d);
    for (Index k = g * kGroup; k < std::min(K, (g + 1) * kGroup); ++k) {
      const auto& pts = active[k];
      const auto& ph = active_phi[k];
      std::fill(gw.begin(), gw.end(), 0.0);
      double hv = 0.0, hb = 0.0;
      for (std::size_t a = 0; a < pts.size(); ++a) {
        const Index i = pts[a];
        hv += s[i] * ph[a] + rr[i] * t[k][a];
        const double coef = net.v[k] * s[i] + uv[k] * rr[i];
        for (Index j = 0; j < d; ++j) gw[j] += coef * X(i, j);
        hb -= coef;
      }
      for (Index j = 0; j < d; ++j) out[L.W() + k * d + j] = gw[j] * inv_n;
      out[L.b() + k] = hb * inv_n;
      out[L.v() + k] = hv * inv_n;
    }
  }
  out[L.beta()] = sbeta * inv_n;
}

// Adds the rows [i0, i0 + m) of chunk c to that chunk's accumulator: the direction's forward
// pass gives (J u)_i, the backward pass J^T (J u) plus the residual part's terms.
void HessianOperator::State::accumulate_block(ProductWorkspace& ws, Index c, Index i0, Index m,
                                              int thread) const {
  using namespace kernels;
  const PackedWeights& wt = w();
  const Index d = wt.d, ld = wt.ld, Kp = wt.Kp;
  const double* Xb = X.row(i0).data();
  const double gn = part != HessianPart::Residual ? 1.0 : 0.0;
  const double res = part != HessianPart::GaussNewton ? 1.0 : 0.0;
  const double* UT = ws.direction.WT.data();
  const double* ub = ws.direction.b.data();
  const double* uv = ws.direction.v.data();
  double* tt = ws.tt[thread].data();
  double* gWT = ws.chunk_acc[c].data();
  double* gb = gWT + d * ld;
  double* gv = gb + Kp;

  const double* phi_b;
  if (cached()) {
    phi_b = phi.data() + i0 * ld;
  } else {
    double f_unused[kRowBlock];
    forward.outputs(Xb, m, ws.phi[thread].data(), f_unused);
    phi_b = ws.phi[thread].data();
  }
  const Index kb = neuron_block(d, Kp);
  const vdouble zero = {};
  vdouble spart[kRowBlock];
  for (Index i = 0; i < m; ++i) spart[i] = zero;
  for (Index k_begin = 0; k_begin < Kp; k_begin += kb) {
    const Index k_end = std::min(Kp, k_begin + kb);
    for_row_tiles(0, m, [&](Index i, auto R) {
      hvp_forward_tile<decltype(R)::value>(Xb + i * d, d, ld, k_begin, k_end, UT, ub, uv, wt.v.data(),
                                           phi_b + i * ld, ld, tt + i * ld, spart + i);
    });
  }
  const double ubeta = ws.direction_beta;
  // beta's entry: sum_i (J u)_i, added row by row over the whole chunk (one order for any
  // block size and thread count).
  double& sbeta = ws.chunk_acc[c][ProductWorkspace::size(wt) - 1];
  double s[kRowBlock], rr[kRowBlock];
  for (Index i = 0; i < m; ++i) {
    s[i] = gn * (ubeta + hsum(spart[i]));  // (J u)_i
    rr[i] = res * r[i0 + i];
    sbeta += s[i];
  }
  for (Index k_begin = 0; k_begin < Kp; k_begin += kb) {
    const Index k_end = std::min(Kp, k_begin + kb);
    for_row_tiles(0, m, [&](Index i, auto R) {
      hvp_backward_tile<decltype(R)::value>(Xb + i * d, s + i, rr + i, d, ld, k_begin, k_end, wt.v.data(), uv,
                                            phi_b + i * ld, ld, tt + i * ld, gWT, gb, gv);
    });
  }
}

// The reduced accumulator in the flat parameter layout, divided by n (by n/2 for "mse").
void HessianOperator::State::unpack(const ProductWorkspace& ws, double* out) const {
  const PackedWeights& wt = w();
  const Index d = wt.d, K = wt.width, ld = wt.ld, Kp = wt.Kp;
  const ParamLayout L(d, K);
  const double inv_n = loss_scale(convention) / static_cast<double>(X.rows());
  const double* gWT = ws.total.data();
  const double* gb = gWT + d * ld;
  const double* gv = gb + Kp;
  for (Index k = 0; k < K; ++k) {
    for (Index j = 0; j < d; ++j) out[L.W() + k * d + j] = gWT[j * ld + k] * inv_n;
    out[L.b() + k] = gb[k] * inv_n;
    out[L.v() + k] = gv[k] * inv_n;
  }
  out[L.beta()] = ws.total[ProductWorkspace::size(wt) - 1] * inv_n;
}

HessianOperator::HessianOperator(Network net, RowMatrix X, Vector y, HessianPart part,
                                 LossConvention convention, int n_threads, bool cache_activations,
                                 Kernel kernel) {
  check_data(net, X, y);
  state_ = std::make_unique<State>(std::move(net), std::move(X), std::move(y), part, convention, n_threads);
  state_->compute_residuals(cache_activations);
  state_->list_active_pairs(kernel);
}

HessianOperator::~HessianOperator() = default;

Index HessianOperator::rows() const { return state_->net.n_params(); }
const Vector& HessianOperator::residuals() const { return state_->r; }
const Network& HessianOperator::network() const { return state_->net; }
HessianPart HessianOperator::part() const { return state_->part; }
LossConvention HessianOperator::convention() const { return state_->convention; }
bool HessianOperator::caches_activations() const { return state_->cached(); }
bool HessianOperator::lists_active_pairs() const { return state_->listed; }
long HessianOperator::n_hvp() const { return state_->n_hvp.load(); }

void HessianOperator::perform_op(const double* u, double* out) const {
  State& st = *state_;
  if (st.listed) {
    st.listed_product(u, out);
    ++st.n_hvp;
    return;
  }
  const PackedWeights& wt = st.w();
  std::unique_lock<std::mutex> lock(st.workspace_mutex, std::try_to_lock);
  std::unique_ptr<ProductWorkspace> own;
  ProductWorkspace* ws;
  if (lock.owns_lock()) {
    if (!st.workspace)
      st.workspace = std::make_unique<ProductWorkspace>(wt, st.chunks.n_chunks, st.n_threads, st.cached());
    ws = st.workspace.get();
  } else {
    own = std::make_unique<ProductWorkspace>(wt, st.chunks.n_chunks, st.n_threads, st.cached());
    ws = own.get();
  }

  // The direction, transposed and padded like the weights.
  const ParamLayout L(wt.d, wt.width);
  ws->direction.load(u + L.W(), u + L.b(), u + L.v());
  ws->direction_beta = u[L.beta()];
  for (Vector& a : ws->chunk_acc) a.setZero();
  for_each_row_block(st.chunks, st.n_threads, [&](Index c, Index i0, Index m, int thread) {
    st.accumulate_block(*ws, c, i0, m, thread);
  });
  detail::reduce_in_order(ws->chunk_acc, ws->total.data(), ws->total.size(), st.n_threads);
  st.unpack(*ws, out);
  ++st.n_hvp;
}

Vector HessianOperator::apply(const ConstVectorRef& u) const {
  if (u.size() != rows())
    throw std::invalid_argument("direction has " + std::to_string(u.size()) +
                                " entries, expected P = " + std::to_string(rows()));
  Vector in = u;  // contiguous copy, never aliasing `out`
  Vector out(rows());
  perform_op(in.data(), out.data());
  return out;
}

Vector hessian_vector_product(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                              const ConstVectorRef& u, HessianPart part, LossConvention convention,
                              int n_threads) {
  HessianOperator op(net, RowMatrix(X), Vector(y), part, convention, n_threads, /*cache_activations=*/false);
  return op.apply(u);
}

}  // namespace flatcore
