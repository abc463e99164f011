#pragma once
// tapegrad::data::DataLoader: mini-batches over a TensorDataset, iterated with range-for, like
// torch.utils.data.DataLoader with the default collate (https://pytorch.org/docs/stable/data.html):
//
//   data::DataLoader loader(dataset, {.batch_size = 32, .shuffle = true, .seed = 42});
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const std::vector<Tensor>& batch : loader) { /* batch[0]: [b, ...], batch[1]: ... */ }
//
// Shuffling draws a fresh permutation at each begin() (each epoch) from a tapegrad::Generator
// seeded with options.seed at construction, by Fisher-Yates on Generator::next_u64. The epoch
// orders are therefore reproducible across runs and platforms for a given seed, but they are NOT
// the orders torch.randperm gives for the same seed. Epoch k's order depends on how many epochs
// (begin() calls) came before it on this loader.
//
// With a sampler (data/sampler.h, e.g. DistributedSampler for data-parallel training) the loader
// batches the rows the sampler lists, in its order, asking it once per epoch (at begin()).
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

#include "autograd/generator.h"
#include "data/dataset.h"
#include "data/sampler.h"

namespace tapegrad::data {

struct LoaderOptions {
  std::int64_t batch_size = 1;
  bool shuffle = false;
  bool drop_last = false;  // drop the final batch when it is smaller than batch_size
  std::uint64_t seed = 0;
};

class DataLoader {
 public:
  // Keeps a copy of the dataset handle (sharing its tensors), so a temporary dataset is safe.
  explicit DataLoader(const TensorDataset& dataset, LoaderOptions options = {});
  // Visits the rows sampler->indices() lists each epoch. The loader shares the sampler, so the
  // caller can still set_epoch() it. Throws ValueError for a null sampler or options.shuffle (the
  // sampler decides the order; PyTorch refuses the pair too).
  DataLoader(const TensorDataset& dataset, std::shared_ptr<const Sampler> sampler,
             LoaderOptions options = {});

  class Iterator {
   public:
    using value_type = Batch;
    using reference = const Batch&;
    using pointer = const Batch*;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::input_iterator_tag;

    Iterator() = default;
    // The batch is gathered on first access and cached until the iterator moves on.
    const Batch& operator*() const;
    const Batch* operator->() const { return &**this; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(const Iterator& other) const { return batch_index_ == other.batch_index_; }

   private:
    friend class DataLoader;
    Iterator(const DataLoader* loader, std::shared_ptr<const std::vector<std::int64_t>> order,
             std::int64_t batch_index)
        : loader_(loader), order_(std::move(order)), batch_index_(batch_index) {}

    const DataLoader* loader_ = nullptr;
    // This epoch's sample order; null means 0, 1, ..., N-1 (no shuffle).
    std::shared_ptr<const std::vector<std::int64_t>> order_;
    std::int64_t batch_index_ = 0;
    mutable Batch batch_;
    mutable bool has_batch_ = false;
  };

  // Starts an epoch: with shuffle, draws the next permutation (so it advances the generator);
  // with a sampler, takes its indices (IndexError if one is outside the dataset).
  Iterator begin();
  Iterator end() const;

  std::int64_t size() const;  // the number of batches per epoch
  // The rows one epoch visits: the dataset's size, or the sampler's.
  std::int64_t num_samples() const;
  const TensorDataset& dataset() const { return dataset_; }
  const LoaderOptions& options() const { return options_; }

 private:
  Batch load_batch(const std::vector<std::int64_t>* order, std::int64_t batch_index) const;

  TensorDataset dataset_;
  LoaderOptions options_;
  Generator generator_;
  std::shared_ptr<const Sampler> sampler_;
};

}  // namespace tapegrad::data
