// Private: the network's forward pass, the one every computation of the core uses (prediction,
// the gradient's fused pass, Hessian operators, the dense Hessian, the trace and the activation
// statistics), so that all of them agree on which neurons are active at each point.
#pragma once

#include <algorithm>
#include <vector>

#include "kernels.hpp"
#include "packed_weights.hpp"
#include "parallel.hpp"
#include "thread_id.hpp"

namespace flatcore {

// The rows of X as one C-contiguous block, the kernels' input: X's own memory when it is laid
// out so, else a copy.
class ContiguousRows {
 public:
  explicit ContiguousRows(const ConstMatrixRef& X) : d_(X.cols()) {
    if (X.innerStride() == 1 && (X.outerStride() == d_ || X.rows() <= 1)) {
      data_ = X.data();
    } else {
      copy_ = X;
      data_ = copy_.data();
    }
  }
  const double* row(Index i) const { return data_ + i * d_; }

 private:
  Index d_;
  RowMatrix copy_;
  const double* data_ = nullptr;
};

// A network's weights packed for the kernels, and the forward pass over blocks of rows.
class Forward {
 public:
  explicit Forward(const Network& net) : w_(net.d(), net.width()), beta_(net.beta) { w_.load(net); }

  const PackedWeights& weights() const { return w_; }
  Index ld() const { return w_.ld; }  // row stride of the activation buffers

  // For the m rows starting at x (row-major, d columns): the activations phi = relu(z) into
  // phi (m x ld; the padded columns become 0) and the outputs f(x) into f (m).
  void outputs(const double* x, Index m, double* phi, double* f) const {
    using namespace kernels;
    const Index d = w_.d;
    for_row_tiles(0, m, [&](Index i, auto R) {
      output_tile<decltype(R)::value>(x + i * d, d, w_.ld, w_.Kp, w_.WT.data(), w_.b.data(), w_.v.data(),
                                      beta_, phi + i * w_.ld, f + i);
    });
  }

  // The pre-activations z = w_k . x - b_k of the m rows starting at x into z (m x ld).
  void preactivations(const double* x, Index m, double* z) const {
    using namespace kernels;
    const Index d = w_.d;
    for_row_tiles(0, m, [&](Index i, auto R) {
      preactivation_tile<decltype(R)::value>(x + i * d, d, w_.ld, w_.Kp, w_.WT.data(), w_.b.data(),
                                             z + i * w_.ld);
    });
  }

 private:
  PackedWeights w_;
  double beta_;
};

// Calls body(chunk, i0, m, thread) for every block [i0, i0 + m) of at most kRowBlock rows of
// each of the fixed chunks `ch`, the chunks shared among nt threads (`thread` < nt indexes
// per-thread buffers). A body that adds into per-chunk accumulators, reduced in chunk order
// afterwards, gives the same bits for every thread count.
template <class Body>
void for_each_row_block(const RowChunks& ch, int nt, Body&& body) {
  using kernels::kRowBlock;
#pragma omp parallel for schedule(dynamic) num_threads(team_size(nt))
  for (Index c = 0; c < ch.n_chunks; ++c) {
    const int thread = detail::thread_id();
    for (Index i0 = ch.begin(c); i0 < ch.end(c); i0 += kRowBlock)
      body(c, i0, std::min(kRowBlock, ch.end(c) - i0), thread);
  }
}

// Per-thread scratch buffers of `size` doubles.
inline std::vector<Vector> thread_buffers(int nt, Index size) {
  return std::vector<Vector>(nt, Vector(size));
}

// What row_means hands to its accumulator: relu(z) (Forward::outputs) or z itself.
enum class ForwardValues { Activations, PreActivations };

// Means over the rows of X of `size` quantities accumulated from the forward pass: for each block
// of m rows, add(acc, x, a, m, ld) adds into its chunk's accumulator acc, with x the block's rows
// (d columns each) and a their activations or pre-activations (m x ld). The accumulators are
// reduced in chunk order, so the result does not depend on the thread count. `flops` estimates
// the whole pass (for threads_for_work).
template <class Add>
Vector row_means(const Network& net, const ConstMatrixRef& X, int n_threads, double flops,
                 ForwardValues values, Index size, Add&& add) {
  check_inputs(net, X);
  const Index n = X.rows();
  const int nt = threads_for_work(n_threads, flops);
  const Forward forward(net);
  const Index ld = forward.ld();
  const ContiguousRows rows(X);
  const RowChunks ch = make_row_chunks(n);
  std::vector<Vector> a = thread_buffers(nt, kernels::kRowBlock * ld);
  std::vector<Vector> f = thread_buffers(nt, kernels::kRowBlock);
  std::vector<Vector> acc(ch.n_chunks, Vector::Zero(size));
  for_each_row_block(ch, nt, [&](Index c, Index i0, Index m, int thread) {
    double* block = a[thread].data();
    if (values == ForwardValues::Activations)
      forward.outputs(rows.row(i0), m, block, f[thread].data());
    else
      forward.preactivations(rows.row(i0), m, block);
    add(acc[c].data(), rows.row(i0), static_cast<const double*>(block), m, ld);
  });
  Vector total(size);
  detail::reduce_in_order(acc, total.data(), size, nt);
  return total / static_cast<double>(n);
}

}  // namespace flatcore
