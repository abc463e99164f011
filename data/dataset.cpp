#include "data/dataset.h"

#include <cstring>
#include <string>

#include "data/tensor_bytes.h"
#include "data/collate.h"

namespace tapegrad::data {

namespace {

using detail::bytes_of;  // rows move as bytes: every dtype, every bit

Shape row_shape(const Tensor& tensor) {
  return Shape(tensor.shape().begin() + 1, tensor.shape().end());
}

void check_index(const char* function, std::int64_t index, std::int64_t size) {
  if (index < 0 || index >= size) {
    throw IndexError(std::string(function) + ": index " + std::to_string(index) +
                     " is out of range for a dataset of size " + std::to_string(size));
  }
}

}  // namespace

Batch Dataset::gather(const std::vector<std::int64_t>& indices) const {
  std::vector<Sample> samples;
  samples.reserve(indices.size());
  for (std::int64_t index : indices) samples.push_back(get(index));
  return default_collate(samples);
}

TensorDataset::TensorDataset(std::vector<Tensor> tensors) : tensors_(std::move(tensors)) {
  if (tensors_.empty()) throw ValueError("TensorDataset: empty dataset (no tensors given)");
  for (std::size_t k = 0; k < tensors_.size(); ++k) {
    if (!tensors_[k].defined()) {
      throw ValueError("TensorDataset: tensor " + std::to_string(k) + " is undefined");
    }
    if (tensors_[k].dim() == 0) {
      throw ShapeError("TensorDataset: tensor " + std::to_string(k) +
                       " is 0-D, expected a first (sample) dim");
    }
    if (tensors_[k].shape()[0] != tensors_[0].shape()[0]) {
      throw ShapeError("TensorDataset: all tensors must share the first dim, but tensor 0 has "
                       "shape " + format_shape(tensors_[0].shape()) + " and tensor " +
                       std::to_string(k) + " has shape " + format_shape(tensors_[k].shape()));
    }
  }
  size_ = tensors_[0].shape()[0];
  if (size_ == 0) {
    throw ValueError("TensorDataset: empty dataset (first dim is 0 in shape " +
                     format_shape(tensors_[0].shape()) + ")");
  }
}

Sample TensorDataset::get(std::int64_t index) const {
  check_index("TensorDataset.get", index, size_);
  std::vector<Tensor> sample;
  sample.reserve(tensors_.size());
  for (const Tensor& tensor : tensors_) {
    Tensor row = Tensor::empty(row_shape(tensor), tensor.dtype());
    const auto row_bytes = static_cast<std::size_t>(row.numel()) * element_size(tensor.dtype());
    if (row_bytes > 0) {
      std::memcpy(bytes_of(row), bytes_of(tensor) + static_cast<std::size_t>(index) * row_bytes,
                  row_bytes);
    }
    sample.push_back(std::move(row));
  }
  return sample;
}

Batch TensorDataset::gather(const std::vector<std::int64_t>& indices) const {
  for (std::int64_t index : indices) check_index("TensorDataset.gather", index, size_);
  const auto count = static_cast<std::int64_t>(indices.size());
  Batch batch;
  batch.reserve(tensors_.size());
  for (const Tensor& tensor : tensors_) {
    Shape shape = tensor.shape();
    shape[0] = count;
    Tensor out = Tensor::empty(shape, tensor.dtype());
    const std::int64_t row_numel = count > 0 ? out.numel() / count : 0;
    const auto row_bytes = static_cast<std::size_t>(row_numel) * element_size(tensor.dtype());
    if (row_bytes > 0) {
      // Copy runs of consecutive indices with one memcpy each: an unshuffled loader's batch is a
      // single contiguous block of the source.
      const unsigned char* source = bytes_of(tensor);
      unsigned char* destination = bytes_of(out);
      std::int64_t start = 0;
      while (start < count) {
        std::int64_t end = start + 1;
        while (end < count && indices[end] == indices[end - 1] + 1) ++end;
        std::memcpy(destination + static_cast<std::size_t>(start) * row_bytes,
                    source + static_cast<std::size_t>(indices[start]) * row_bytes,
                    static_cast<std::size_t>(end - start) * row_bytes);
        start = end;
      }
    }
    batch.push_back(std::move(out));
  }
  return batch;
}

}  // namespace tapegrad::data
