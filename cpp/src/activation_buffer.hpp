// Private: the memory of a Hessian operator's cached activations.
#pragma once

#include <cstddef>
#include <memory>

namespace flatcore {

// An uninitialised buffer of doubles. A destroyed buffer of at most 128 MiB is kept as the
// process-wide spare, and the next buffer that fits takes it: a fresh buffer of tens of MiB
// costs more in page faults than the forward pass that fills it, and eigensolves build operators
// again and again (sharpness tracking during training, sweeps). Thread-safe.
class ActivationBuffer {
 public:
  ActivationBuffer() = default;
  // At least `size` doubles: the spare when it holds enough and not more than twice that.
  explicit ActivationBuffer(std::size_t size);
  ~ActivationBuffer();
  ActivationBuffer(ActivationBuffer&&) = default;
  ActivationBuffer& operator=(ActivationBuffer&&) = default;

  double* data() const { return data_.get(); }
  bool empty() const { return !data_; }

 private:
  std::unique_ptr<double[]> data_;
  std::size_t size_ = 0;
};

}  // namespace flatcore
