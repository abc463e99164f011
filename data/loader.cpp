#include "data/loader.h"

#include <algorithm>
#include <numeric>
#include <string>

namespace tapegrad::data {

namespace {

// Uniform in [0, bound) without modulo bias: reject the lowest (2^64 mod bound) values, so the
// accepted range is a whole number of copies of [0, bound).
std::uint64_t uniform_below(Generator& generator, std::uint64_t bound) {
  const std::uint64_t rejected = (0 - bound) % bound;  // 2^64 mod bound
  std::uint64_t draw = generator.next_u64();
  while (draw < rejected) draw = generator.next_u64();
  return draw % bound;
}

// Fisher-Yates: position i takes a uniformly chosen element of positions [0, i].
std::vector<std::int64_t> random_permutation(std::int64_t count, Generator& generator) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(count));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  for (std::int64_t i = count - 1; i > 0; --i) {
    const auto bound = static_cast<std::uint64_t>(i) + 1;
    const auto j = static_cast<std::int64_t>(uniform_below(generator, bound));
    std::swap(order[i], order[j]);
  }
  return order;
}

}  // namespace

DataLoader::DataLoader(const TensorDataset& dataset, LoaderOptions options)
    : dataset_(dataset), options_(options), generator_(options.seed) {
  if (options_.batch_size <= 0) {
    throw ValueError("DataLoader: batch_size must be positive, got " +
                     std::to_string(options_.batch_size));
  }
}

std::int64_t DataLoader::size() const {
  const std::int64_t samples = dataset_.size();
  const std::int64_t batch_size = options_.batch_size;
  // ceil(samples / batch_size) without forming samples + batch_size (batch_size may be huge)
  if (options_.drop_last || samples == 0) return samples / batch_size;
  return (samples - 1) / batch_size + 1;
}

DataLoader::Iterator DataLoader::begin() {
  std::shared_ptr<const std::vector<std::int64_t>> order;
  if (options_.shuffle) {
    order = std::make_shared<const std::vector<std::int64_t>>(
        random_permutation(dataset_.size(), generator_));
  }
  return Iterator(this, std::move(order), 0);
}

DataLoader::Iterator DataLoader::end() const { return Iterator(this, nullptr, size()); }

Batch DataLoader::load_batch(const std::vector<std::int64_t>* order,
                             std::int64_t batch_index) const {
  const std::int64_t first = batch_index * options_.batch_size;
  const std::int64_t last = first + std::min(options_.batch_size, dataset_.size() - first);
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
