#pragma once
// tapegrad::data::TensorDataset: samples are the rows (first-dim slices) of a list of tensors that
// share their first dim, like torch.utils.data.TensorDataset
// (https://pytorch.org/docs/stable/data.html#torch.utils.data.TensorDataset).
#include <cstdint>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad::data {

// One tensor per dataset tensor, each holding rows stacked along a new first dim: [b, ...].
using Batch = std::vector<Tensor>;

class TensorDataset {
 public:
  // Every tensor must have rank >= 1 and the same first dim N >= 1. The dataset shares the
  // tensors' storage (no copy), as PyTorch's does: later writes to them show up in samples.
  explicit TensorDataset(std::vector<Tensor> tensors);

  std::int64_t size() const { return size_; }  // N, the number of samples
  const std::vector<Tensor>& tensors() const { return tensors_; }

  // Row `index` of each tensor, copied, with the first dim dropped ([N] gives a 0-D tensor).
  // `index` must be in [0, size()); negative indices are not wrapped.
  std::vector<Tensor> get(std::int64_t index) const;

  // Rows `indices` of each tensor, copied in that order into [indices.size(), ...] tensors.
  // Repeats are allowed. The result never requires grad.
  Batch gather(const std::vector<std::int64_t>& indices) const;

 private:
  std::vector<Tensor> tensors_;
  std::int64_t size_ = 0;
};

}  // namespace tapegrad::data
