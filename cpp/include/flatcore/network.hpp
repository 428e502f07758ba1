// Two-layer ReLU network f(x) = sum_k v_k relu(w_k . x - b_k) + beta  (MATH.md section 1).
#pragma once

#include <Eigen/Core>
#include <stdexcept>
#include <string>

namespace flatcore {

using Index = Eigen::Index;
using Vector = Eigen::VectorXd;
// Row-major so that a C-contiguous NumPy array maps onto it without a copy, and so that
// W's rows (the neurons' weight vectors w_k) are contiguous.
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixRef = Eigen::Ref<const RowMatrix>;
using ConstVectorRef = Eigen::Ref<const Vector>;

struct Network {
  RowMatrix W;  // K x d, row k is w_k
  Vector b;     // K
  Vector v;     // K
  double beta = 0.0;

  Index d() const { return W.cols(); }
  Index width() const { return W.rows(); }
  // P = K (d + 2) + 1
  Index n_params() const { return width() * (d() + 2) + 1; }

  // Flat layout theta = [W row-major | b | v | beta] used by every gradient, HVP and eigenvector.
  Vector params() const;
  static Network from_params(const Eigen::Ref<const Vector>& theta, Index d, Index width);

  // Throws std::invalid_argument when the parts do not fit together.
  void check() const;
};

// Offsets of each block inside the flat parameter vector.
struct ParamLayout {
  Index d, width;
  explicit ParamLayout(Index d_, Index width_) : d(d_), width(width_) {}
  Index W() const { return 0; }
  Index b() const { return width * d; }
  Index v() const { return width * d + width; }
  Index beta() const { return width * d + 2 * width; }
  Index size() const { return width * (d + 2) + 1; }
};

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
  PackedWeights(Index d, Index width);
  // Neurons padded to whole tiles, and the row stride (one tile more).
  static Index padded_width(Index width) { return (width + kNeuronTile - 1) / kNeuronTile * kNeuronTile; }
  static Index stride(Index width) { return padded_width(width) + kNeuronTile; }
  // Copies the weights in from row-major W (width x d), b and v; the padding stays zero. Serves a
  // network as well as a direction in the flat parameter layout (pointers into theta).
  void load(const double* W, const double* b_in, const double* v_in);
  void load(const Network& net) { load(net.W.data(), net.b.data(), net.v.data()); }
};

// Which part of H = Gauss-Newton + residual part (MATH.md section 3) an operator applies.
enum class HessianPart { Full, GaussNewton, Residual };

// Throws std::invalid_argument unless X is n x d and y has n entries (n >= 1).
void check_data(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y);

}  // namespace flatcore
