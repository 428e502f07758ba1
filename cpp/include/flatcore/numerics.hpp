// Forward pass, loss, gradient and activation statistics (docs/math.md, sections 1-2).
//
// Every function here, the Hessian's and the trainer's, evaluates the network through the same
// forward kernel, so they all agree on which neurons are active at each point, to the last bit
// (a point on a neuron's kink, w_k . x = b_k in floating point, counts as inactive everywhere).
#pragma once

#include <string>
#include <vector>

#include "flatcore/network.hpp"
#include "flatcore/resources.hpp"

namespace flatcore {

// How a computation over the (point, neuron) pairs runs. Dense: every pair, in the fused
// kernels. Certified: only the pairs that can be active, with a proof that the others are not
// (the same mask and pre-activations as the dense kernels; the active contributions added in
// another order). Auto: certified where few pairs are active. For train's GD steps
// (training.hpp) the proof is a certificate that lasts across steps (docs/math.md, section 2.4);
// for a HessianOperator, whose point is fixed, the active pairs are listed once.
enum class Kernel { Auto, Dense, Certified };
const char* kernel_name(Kernel kernel);
std::vector<std::string> kernel_names();
Kernel parse_kernel(const std::string& name);
// Kernel::Auto takes the certified path at most at this share of active pairs.
constexpr double kCertifiedShare = 0.05;

// The loss convention (docs/math.md, section 1.3): which multiple of the mean squared residual
// the loss L is.
//   HalfMse ("half_mse"): L = 1/(2n) sum_i r_i^2, the paper's and the edge-of-stability
//                         literature's;
//   Mse ("mse"):          L = 1/n sum_i r_i^2, PyTorch's MSELoss.
// "mse" is exactly twice "half_mse", and so are its gradient, Hessian, trace and sharpness (the
// factor 2 is exact in floating point): gradient descent at step eta on "mse" is gradient descent
// at step 2 eta on "half_mse", and 2/eta is the stability threshold of either at its own step.
enum class LossConvention { HalfMse, Mse };
// The convention's name, the names in order, and the convention of a name
// (std::invalid_argument listing the names otherwise).
const char* convention_name(LossConvention convention);
std::vector<std::string> convention_names();
LossConvention parse_convention(const std::string& name);
// The convention's L, gradient and Hessian over the "half_mse" ones: 1 or 2.
inline double loss_scale(LossConvention convention) { return convention == LossConvention::Mse ? 2.0 : 1.0; }

// The kernels' vector width in doubles (8: AVX-512, 4: AVX2, 2: SSE2 or generic) and what
// provides it ("avx512", "avx", "sse2" or "generic").
int simd_lanes();
const char* simd_kind();

// f(X), one value per row of X.
Vector predict(const Network& net, const ConstMatrixRef& X, int n_threads = default_num_threads());

// L = 1/(2n) sum_i (f(x_i) - y_i)^2, or twice that for LossConvention::Mse.
double loss(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
            LossConvention convention = LossConvention::HalfMse, int n_threads = default_num_threads());

struct LossGradient {
  double loss = 0.0;
  Vector grad;                   // flat layout, size P
  double active_fraction = 0.0;  // mean over (i, k) of a_ik = 1[w_k . x_i - b_k > 0]
  Vector active_count;           // per neuron, the number of points on which it is active
  Vector residuals;              // r_i = f(x_i) - y_i (size n)
};

// One fused pass: pre-activations, mask, outputs, residuals and gradient contributions are
// computed block by block while the block is in cache.
LossGradient loss_and_gradient(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y,
                               LossConvention convention = LossConvention::HalfMse,
                               int n_threads = default_num_threads());

// Bytes of the working buffers that loss_and_gradient (and train) allocate for a problem of this
// size with n_threads threads.
double gradient_workspace_bytes(Index n, Index d, Index width, int n_threads);

// Per neuron, the share of the rows of X on which it is active: mean_i a_ik (size width).
Vector activation_rates(const Network& net, const ConstMatrixRef& X, int n_threads = default_num_threads());

// What the rows of X look like from each side of each neuron's hyperplane w_k . x = b_k, with
// z_ik = w_k . x_i - b_k (docs/math.md, section 6). For the active side (z > 0):
//   excess_k = mean_i (z_ik)_+,  share_k = mean_i 1[z_ik > 0],  moment_k = mean_i 1[z_ik > 0] x_i,
// and for the inactive side the same with -z_ik (points exactly on the hyperplane are on neither).
struct NeuronSide {
  Vector excess;     // width
  Vector share;      // width
  RowMatrix moment;  // width x d
};
struct NeuronSides {
  NeuronSide active, inactive;
};
NeuronSides neuron_sides(const Network& net, const ConstMatrixRef& X, int n_threads = default_num_threads());

}  // namespace flatcore
