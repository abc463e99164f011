#pragma once
// Samplers: which dataset rows a DataLoader visits in one epoch, and in what order
// (torch.utils.data.Sampler, https://pytorch.org/docs/stable/data.html#data-loading-order-and-sampler).
//
// DistributedSampler is torch.utils.data.DistributedSampler: in a data-parallel job each of the
// num_replicas ranks gets its own shard of the dataset, every shard the same length, all drawn
// from one permutation that every rank computes alike from (seed, epoch):
//
//   auto sampler = std::make_shared<data::DistributedSampler>(
//       dataset.size(), data::DistributedSamplerOptions{.num_replicas = dist::get_world_size(),
//                                                       .rank = dist::get_rank(), .seed = 42});
//   data::DataLoader loader(dataset, sampler, {.batch_size = 32});
//   for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
//     sampler->set_epoch(epoch);  // else every epoch repeats epoch 0's order, as in PyTorch
//     for (const data::Batch& batch : loader) { ... }
//   }
//
// The sampler itself needs no MPI: it is told the world size and its rank. Equal shard lengths are
// what keeps a data-parallel job in step: every rank runs the same number of batches per epoch,
// so no rank runs out of data while the others wait for its gradients.
#include <cstdint>
#include <vector>

#include "autograd/generator.h"

namespace tapegrad::data {

// A uniformly random order of 0, 1, ..., count - 1: Fisher-Yates over Generator::next_u64 with
// rejection (no modulo bias). What DataLoader's shuffle and DistributedSampler draw; reproducible
// across runs and platforms for a seed, but not torch.randperm's order for the same seed.
std::vector<std::int64_t> random_permutation(std::int64_t count, Generator& generator);

class Sampler {
 public:
  virtual ~Sampler() = default;
  // The dataset rows of the coming epoch, in visiting order (DataLoader::begin calls it once per
  // epoch). Every index must be in [0, dataset size).
  virtual std::vector<std::int64_t> indices() const = 0;
  // How many indices indices() returns (len(sampler)).
  virtual std::int64_t size() const = 0;
};

struct DistributedSamplerOptions {
  std::int64_t num_replicas = 1;  // the world size
  std::int64_t rank = 0;          // this process's shard, in [0, num_replicas)
  bool shuffle = true;
  std::uint64_t seed = 0;  // must be the same on every rank
  // false: pad the permutation by repeating its first indices so that it divides evenly (a few
  // samples are seen twice per epoch); true: drop its tail (a few samples are not seen).
  bool drop_last = false;
};

class DistributedSampler : public Sampler {
 public:
  // Throws ValueError for dataset_size < 0, num_replicas < 1 or a rank outside [0, num_replicas).
  DistributedSampler(std::int64_t dataset_size, DistributedSamplerOptions options);

  // Chooses the epoch's permutation: Generator(seed + epoch), as PyTorch seeds its generator with
  // seed + epoch. Call it before each epoch.
  void set_epoch(std::int64_t epoch) { epoch_ = epoch; }
  std::int64_t epoch() const { return epoch_; }

  // PyTorch's rule: the epoch's order (a permutation, or 0..N-1 without shuffle) is padded to
  // total_size() by repeating its start, or cut to total_size() with drop_last; this rank takes
  // every num_replicas-th entry starting at position `rank`.
  std::vector<std::int64_t> indices() const override;
  // ceil(N / num_replicas), or floor(N / num_replicas) with drop_last: the same on every rank.
  std::int64_t size() const override { return num_samples_; }
  std::int64_t total_size() const { return num_samples_ * options_.num_replicas; }
  std::int64_t dataset_size() const { return dataset_size_; }
  const DistributedSamplerOptions& options() const { return options_; }

 private:
  std::int64_t dataset_size_ = 0;
  DistributedSamplerOptions options_;
  std::int64_t num_samples_ = 0;
  std::int64_t epoch_ = 0;
};

}  // namespace tapegrad::data
