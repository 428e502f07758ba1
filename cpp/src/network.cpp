#include "flatcore/network.hpp"

#include <cmath>

namespace flatcore {

Vector Network::params() const {
  ParamLayout L(d(), width());
  Vector theta(L.size());
  Eigen::Map<RowMatrix>(theta.data() + L.W(), width(), d()) = W;
  theta.segment(L.b(), width()) = b;
  theta.segment(L.v(), width()) = v;
  theta[L.beta()] = beta;
  return theta;
}

Network Network::from_params(const ConstVectorRef& theta, Index d, Index width) {
  if (d < 1 || width < 1) throw std::invalid_argument("d and width must be at least 1");
  ParamLayout L(d, width);
  if (theta.size() != L.size())
    throw std::invalid_argument("theta has " + std::to_string(theta.size()) +
                                " entries, expected width*(d+2)+1 = " + std::to_string(L.size()));
  Network net;
  net.W = Eigen::Map<const RowMatrix>(theta.data() + L.W(), width, d);
  net.b = theta.segment(L.b(), width);
  net.v = theta.segment(L.v(), width);
  net.beta = theta[L.beta()];
  return net;
}

void Network::check() const {
  if (W.rows() < 1 || W.cols() < 1) throw std::invalid_argument("W must be non-empty (width x d)");
  if (b.size() != W.rows() || v.size() != W.rows())
    throw std::invalid_argument("b and v must have width = W.rows() entries");
}

void check_inputs(const Network& net, const ConstMatrixRef& X) {
  net.check();
  if (X.rows() < 1) throw std::invalid_argument("X has no rows");
  if (X.cols() != net.d())
    throw std::invalid_argument("X has " + std::to_string(X.cols()) +
                                " columns, network expects d = " + std::to_string(net.d()));
}

void check_data(const Network& net, const ConstMatrixRef& X, const ConstVectorRef& y) {
  check_inputs(net, X);
  if (y.size() != X.rows())
    throw std::invalid_argument("y has " + std::to_string(y.size()) + " entries, X has " +
                                std::to_string(X.rows()) + " rows");
}

}  // namespace flatcore
