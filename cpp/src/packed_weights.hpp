// Private: the layout in which the kernels read a network's weights (or a direction in parameter
// space).
#pragma once

#include "flatcore/network.hpp"

namespace flatcore {

// Weights (w_k, b_k, v_k) as the fused kernels read them: W^T as d x ld (row j = input j) and b,
// v as vectors, zero-padded to Kp neurons, Kp a multiple of the kernels' neuron tile. A tile of
// neurons is then a contiguous run that stays in vector registers while a kernel walks the d
// inputs. Padded neurons have w = 0, b = 0, v = 0, hence z = 0, relu(z) = 0 and a = 0: they
// contribute nothing. The row stride ld is one tile more than Kp, so that the d rows do not fall
// into the same cache set (Kp * 8 bytes is often a multiple of 4 KiB).
struct PackedWeights {
  static constexpr Index kNeuronTile = 8;
  Index d = 0, width = 0, Kp = 0, ld = 0;
  Vector WT, b, v;

  PackedWeights() = default;
  PackedWeights(Index d_, Index width_)
      : d(d_),
        width(width_),
        Kp(padded_width(width_)),
        ld(stride(width_)),
        WT(Vector::Zero(d_ * ld)),
        b(Vector::Zero(Kp)),
        v(Vector::Zero(Kp)) {}

  // Neurons padded to whole tiles, and the row stride (one tile more).
  static Index padded_width(Index width) { return (width + kNeuronTile - 1) / kNeuronTile * kNeuronTile; }
  static Index stride(Index width) { return padded_width(width) + kNeuronTile; }

  // Copies the weights in from row-major W (width x d), b and v; the padding stays zero. Serves a
  // network as well as a direction in the flat parameter layout (pointers into theta).
  void load(const double* W, const double* b_in, const double* v_in) {
    for (Index k = 0; k < width; ++k) {
      for (Index j = 0; j < d; ++j) WT[j * ld + k] = W[k * d + j];
      b[k] = b_in[k];
      v[k] = v_in[k];
    }
  }
  void load(const Network& net) { load(net.W.data(), net.b.data(), net.v.data()); }
};

}  // namespace flatcore
