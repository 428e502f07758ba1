#include "activation_buffer.hpp"

#include <mutex>
#include <utility>

namespace flatcore {

namespace {

struct Spare {
  std::mutex mutex;
  std::unique_ptr<double[]> data;
  std::size_t size = 0;
};

Spare& spare() {
  static Spare s;
  return s;
}

constexpr std::size_t kMaxSpareDoubles = (std::size_t{128} << 20) / sizeof(double);

}  // namespace

ActivationBuffer::ActivationBuffer(std::size_t size) {
  Spare& s = spare();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.data && s.size >= size && s.size <= 2 * size) {
      data_ = std::move(s.data);
      size_ = s.size;
      s.size = 0;
      return;
    }
  }
  data_.reset(new double[size]);
  size_ = size;
}

ActivationBuffer::~ActivationBuffer() {
  if (!data_ || size_ > kMaxSpareDoubles) return;
  Spare& s = spare();
  std::unique_ptr<double[]> old;  // freed outside the lock
  std::lock_guard<std::mutex> lock(s.mutex);
  old = std::move(s.data);
  s.data = std::move(data_);
  s.size = size_;
}

}  // namespace flatcore
