#include "data/sampler.h"

#include <numeric>
#include <string>
#include <utility>

#include "autograd/errors.h"

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

}  // namespace

// Fisher-Yates: position i takes a uniformly chosen element of positions [0, i].
std::vector<std::int64_t> random_permutation(std::int64_t count, Generator& generator) {
  if (count < 0) {
    throw ValueError("random_permutation: count must be >= 0, got " + std::to_string(count));
  }
  std::vector<std::int64_t> order(static_cast<std::size_t>(count));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  for (std::int64_t i = count - 1; i > 0; --i) {
    const auto bound = static_cast<std::uint64_t>(i) + 1;
    const auto j = static_cast<std::int64_t>(uniform_below(generator, bound));
    std::swap(order[i], order[j]);
  }
  return order;
}

DistributedSampler::DistributedSampler(std::int64_t dataset_size, DistributedSamplerOptions options)
    : dataset_size_(dataset_size), options_(options) {
  if (dataset_size < 0) {
    throw ValueError("DistributedSampler: dataset_size must be >= 0, got " +
                     std::to_string(dataset_size));
  }
  if (options.num_replicas < 1) {
    throw ValueError("DistributedSampler: num_replicas must be >= 1, got " +
                     std::to_string(options.num_replicas));
  }
  if (options.rank < 0 || options.rank >= options.num_replicas) {
    throw ValueError("DistributedSampler: rank must be in [0, " +
                     std::to_string(options.num_replicas - 1) + "] for num_replicas " +
                     std::to_string(options.num_replicas) + ", got " + std::to_string(options.rank));
  }
  // PyTorch: ceil((N - R) / R) with drop_last and N % R != 0, which is floor(N / R) (0 when
  // N < R); ceil(N / R) otherwise. Written without N + R, which could overflow.
  const std::int64_t replicas = options.num_replicas;
  num_samples_ = options.drop_last ? dataset_size / replicas
                                   : dataset_size / replicas + (dataset_size % replicas != 0);
}

std::vector<std::int64_t> DistributedSampler::indices() const {
  std::vector<std::int64_t> order;
  if (options_.shuffle) {
    // seed + epoch wraps modulo 2^64, as the sum of two uint64 does; a negative epoch is allowed.
    Generator generator(options_.seed + static_cast<std::uint64_t>(epoch_));
    order = random_permutation(dataset_size_, generator);
  } else {
    order.resize(static_cast<std::size_t>(dataset_size_));
    std::iota(order.begin(), order.end(), std::int64_t{0});
  }
  // Padded position p >= N repeats position p mod N: PyTorch's indices[:padding] when the padding
  // is at most N, and (indices * ceil(padding / N))[:padding] when it is more.
  std::vector<std::int64_t> shard(static_cast<std::size_t>(num_samples_));
  for (std::int64_t k = 0; k < num_samples_; ++k) {
    const std::int64_t position = options_.rank + k * options_.num_replicas;
    shard[static_cast<std::size_t>(k)] = order[static_cast<std::size_t>(position % dataset_size_)];
  }
  return shard;
}

}  // namespace tapegrad::data
