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
#pragma omp parallel for schedule(dynamic) num_threads(nt)
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

}  // namespace flatcore
