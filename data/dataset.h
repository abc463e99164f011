#pragma once
// Datasets: what a DataLoader draws samples from.
//
// Dataset is torch.utils.data.Dataset (map-style,
// https://pytorch.org/docs/stable/data.html#map-style-datasets): size() samples, get(i) gives
// sample i as one tensor per field. Fields of different samples may differ in shape (a sentence
// of 7 ids, the next of 12); a collate function (data/collate.h) turns a list of samples into a
// batch. Write your own by deriving from it:
//
//   class Sentences : public data::Dataset {
//    public:
//     std::int64_t size() const override { return std::ssize(ids_); }
//     data::Sample get(std::int64_t i) const override { return {ids_tensor(i), label_tensor(i)}; }
//   };
//
// TensorDataset is torch.utils.data.TensorDataset: samples are the rows (first-dim slices) of a
// list of tensors that share their first dim
// (https://pytorch.org/docs/stable/data.html#torch.utils.data.TensorDataset).
#include <cstdint>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad::data {

// One sample: a tensor per field, e.g. {ids [L_i], label []}. Shapes may vary between samples.
using Sample = std::vector<Tensor>;
// One tensor per field, each holding the batch's samples along its first dim: [b, ...].
using Batch = std::vector<Tensor>;

class Dataset {
 public:
  virtual ~Dataset() = default;

  // The number of samples (len(dataset)).
  virtual std::int64_t size() const = 0;
  // Sample `index` (dataset[index]), for index in [0, size()); IndexError outside it. With a
  // prefetching DataLoader this runs on a background thread while the training loop runs, so it
  // must only read state that the loop does not change during the epoch.
  virtual Sample get(std::int64_t index) const = 0;
  // The samples `indices`, in that order, stacked by default_collate (data/collate.h): what a
  // DataLoader without a collate_fn asks for. Override it only for a faster path that gives the
  // same bits, as TensorDataset does.
  virtual Batch gather(const std::vector<std::int64_t>& indices) const;

 protected:
  // Copyable and movable only as part of a derived class, so a Dataset& cannot be sliced.
  Dataset() = default;
  Dataset(const Dataset&) = default;
  Dataset(Dataset&&) = default;
  Dataset& operator=(const Dataset&) = default;
  Dataset& operator=(Dataset&&) = default;
};

class TensorDataset : public Dataset {
 public:
  // Every tensor must have rank >= 1 and the same first dim N >= 1. The dataset shares the
  // tensors' storage (no copy), as PyTorch's does: later writes to them show up in samples.
  explicit TensorDataset(std::vector<Tensor> tensors);

  std::int64_t size() const override { return size_; }  // N, the number of samples
  const std::vector<Tensor>& tensors() const { return tensors_; }

  // Row `index` of each tensor, copied, with the first dim dropped ([N] gives a 0-D tensor).
  // `index` must be in [0, size()); negative indices are not wrapped.
  Sample get(std::int64_t index) const override;

  // Rows `indices` of each tensor, copied in that order into [indices.size(), ...] tensors.
  // Repeats are allowed. The result never requires grad. The same bits as default_collate of
  // the rows get() gives, in one copy per run of consecutive indices.
  Batch gather(const std::vector<std::int64_t>& indices) const override;

 private:
  std::vector<Tensor> tensors_;
  std::int64_t size_ = 0;
};

}  // namespace tapegrad::data
