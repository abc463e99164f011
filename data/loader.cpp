#include "data/loader.h"

#include <algorithm>
#include <numeric>
#include <string>

namespace tapegrad::data {

DataLoader::DataLoader(const TensorDataset& dataset, LoaderOptions options)
    : dataset_(dataset), options_(options), generator_(options.seed) {
  if (options_.batch_size <= 0) {
    throw ValueError("DataLoader: batch_size must be positive, got " +
                     std::to_string(options_.batch_size));
  }
}

DataLoader::DataLoader(const TensorDataset& dataset, std::shared_ptr<const Sampler> sampler,
                       LoaderOptions options)
    : DataLoader(dataset, options) {
  if (!sampler) throw ValueError("DataLoader: the sampler is null");
  if (options_.shuffle) {
    throw ValueError("DataLoader: shuffle=true with a sampler; the sampler decides the order "
                     "(shuffle it there, e.g. DistributedSamplerOptions::shuffle)");
  }
  sampler_ = std::move(sampler);
}

std::int64_t DataLoader::num_samples() const {
  return sampler_ ? sampler_->size() : dataset_.size();
}

std::int64_t DataLoader::size() const {
  const std::int64_t samples = num_samples();
  const std::int64_t batch_size = options_.batch_size;
  // ceil(samples / batch_size) without forming samples + batch_size (batch_size may be huge)
  if (options_.drop_last || samples == 0) return samples / batch_size;
  return (samples - 1) / batch_size + 1;
}

DataLoader::Iterator DataLoader::begin() {
  std::shared_ptr<const std::vector<std::int64_t>> order;
  if (sampler_) {
    std::vector<std::int64_t> indices = sampler_->indices();
    if (static_cast<std::int64_t>(indices.size()) != sampler_->size()) {
      throw ValueError("DataLoader: the sampler returned " + std::to_string(indices.size()) +
                       " indices but its size() is " + std::to_string(sampler_->size()));
    }
    for (std::int64_t index : indices) {
      if (index < 0 || index >= dataset_.size()) {
        throw IndexError("DataLoader: the sampler gave index " + std::to_string(index) +
                         " for a dataset of size " + std::to_string(dataset_.size()));
      }
    }
    order = std::make_shared<const std::vector<std::int64_t>>(std::move(indices));
  } else if (options_.shuffle) {
    order = std::make_shared<const std::vector<std::int64_t>>(
        random_permutation(dataset_.size(), generator_));
  }
  return Iterator(this, std::move(order), 0);
}

DataLoader::Iterator DataLoader::end() const { return Iterator(this, nullptr, size()); }

Batch DataLoader::load_batch(const std::vector<std::int64_t>* order,
                             std::int64_t batch_index) const {
  const std::int64_t first = batch_index * options_.batch_size;
  const std::int64_t last = first + std::min(options_.batch_size, num_samples() - first);
  std::vector<std::int64_t> indices(static_cast<std::size_t>(last - first));
  for (std::int64_t k = first; k < last; ++k) {
    const auto position = static_cast<std::size_t>(k);
    indices[position - static_cast<std::size_t>(first)] = order ? (*order)[position] : k;
  }
  return dataset_.gather(indices);
}

const Batch& DataLoader::Iterator::operator*() const {
  if (!has_batch_) {
    if (loader_ == nullptr || batch_index_ < 0 || batch_index_ >= loader_->size()) {
      throw IndexError("DataLoader: dereferenced an iterator past the last batch (batch " +
                       std::to_string(batch_index_) + ")");
    }
    batch_ = loader_->load_batch(order_.get(), batch_index_);
    has_batch_ = true;
  }
  return batch_;
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  ++batch_index_;
  batch_.clear();
  has_batch_ = false;
  return *this;
}

}  // namespace tapegrad::data
