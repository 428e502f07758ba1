// The two-layer ReLU network f(x) = sum_k v_k relu(w_k . x - b_k) + beta and its flat parameter
// layout (docs/math.md, section 1).
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
  static Network from_params(const ConstVectorRef& theta, Index d, Index width);

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

// Throws std::invalid_argument unless X is n x d with n >= 1.
void check_inputs(const Network& net, const ConstMatrixRef& X);
// Throws std::invalid_argument unless X is n x d and y has n entries (n >= 1).
void check_data(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y);

}  // namespace flatcore
