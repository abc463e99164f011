#pragma once
// tapegrad::data::DataLoader: mini-batches over a Dataset, iterated with range-for, like
// torch.utils.data.DataLoader (https://pytorch.org/docs/stable/data.html):
//
//   data::DataLoader loader(dataset, {.batch_size = 32, .shuffle = true, .seed = 42});
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const std::vector<Tensor>& batch : loader) { /* batch[0]: [b, ...], batch[1]: ... */ }
//
// Any Dataset (data/dataset.h) works, held by shared_ptr; a TensorDataset is also taken by value.
// A batch is the dataset's gather() of its indices (default_collate: each field stacked), or, with
// options.collate_fn, that function of the samples get() returns (data/collate.h; pad_collate pads
// variable-length sequences per batch and adds their lengths).
//
// Shuffling draws a fresh permutation at each begin() (each epoch) from a tapegrad::Generator
// seeded with options.seed at construction, by Fisher-Yates on Generator::next_u64. The epoch
// orders are therefore reproducible across runs and platforms for a given seed, but they are NOT
// the orders torch.randperm gives for the same seed. Epoch k's order depends on how many epochs
// came before it on this loader; state()/load_state() save and restore that, and the position in
// the epoch in progress (see LoaderState).
//
// With a sampler (data/sampler.h, e.g. DistributedSampler for data-parallel training) the loader
// batches the rows the sampler lists, in its order, asking it once per epoch (at begin()).
//
// With options.prefetch_batches = k > 0, each epoch has a background thread that loads batches in
// order, up to k ahead of the one the loop is on, while the loop trains. The batches are the same
// bits in the same order as without it; an exception thrown while loading a batch is rethrown when
// that batch is dereferenced. An epoch's thread stops and is joined when its last iterator goes
// (the loop ends, breaks or throws). Iterators keep what their epoch needs (dataset, order,
// collate_fn), so they stay valid even if the loader is destroyed first.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

#include "autograd/generator.h"
#include "data/collate.h"
#include "data/dataset.h"
#include "data/sampler.h"

namespace tapegrad::data {

struct LoaderOptions {
  std::int64_t batch_size = 1;
  bool shuffle = false;
  bool drop_last = false;  // drop the final batch when it is smaller than batch_size
  std::uint64_t seed = 0;
  // Turns the samples of a batch into the batch; empty: the dataset's gather (default_collate).
  // Every tensor it returns must hold the batch along its first dim. The loader calls its own
  // copy, shared by all epochs.
  CollateFn collate_fn = nullptr;
  // 0: load each batch on the loop's thread when it is dereferenced. k > 0: a background thread
  // keeps up to k batches ready ahead (PyTorch's num_workers=1 with prefetch_factor=k). The
  // dataset's get/gather and collate_fn then run on that thread, concurrently with the loop.
  std::int64_t prefetch_batches = 0;
};

// Where a loader stands, for a resumed run: the epoch and the position in it, kept as torchdata's
// StatefulDataLoader keeps them (the sampler's state from before the epoch's order was drawn,
// and _num_yielded, the batches handed to the loop). Two kinds of position:
//   - batches_yielded == 0: at an epoch boundary (before the first epoch, after a loop over an
//     epoch ended, or after a begin() that has handed out nothing yet). `generator` draws the
//     next epoch's order; `epochs_begun` epochs came before it. (The only kind before issue 11.)
//   - 0 < batches_yielded <= batches per epoch: in epoch number `epochs_begun` (counting from 1),
//     whose first batches_yielded batches the loop has been handed. `generator` is as it was
//     BEFORE that epoch's order was drawn, so a loader that load_state()s it draws the same order
//     again and its next begin() yields the rest of the epoch, batches_yielded .. end.
// A batch counts as yielded once it is dereferenced (handed to the loop), not once the iterator
// moves past it: a state taken in the loop's body for batch k, e.g. by a checkpoint saved after
// the step on it, resumes at batch k+1 and does not train on batch k twice. The epoch ends when
// an iterator is advanced past its last batch (a range-for does that as it leaves). So a state
// taken in the body of the LAST batch is still in that epoch, with nothing left of it: its
// resumed begin() yields no batch and the begin() after it starts the next epoch. A loop that
// counts its own epochs, saved in the same checkpoint, then finishes the epoch it was in (its
// end-of-epoch code runs once) and goes on with the next, whichever batch it was stopped at.
// A loop that breaks early leaves the state of the batch it broke at; a resume finishes that
// epoch, where the uninterrupted loader's next begin() would start a new one.
// In memory, like a scheduler's state(); to a file, with the rest of a run, through
// optim::TrainingCheckpoint::add_loader (the generator serialises with Generator::state()).
struct LoaderState {
  Generator generator{};
  std::int64_t epochs_begun = 0;
  std::int64_t batches_yielded = 0;  // in the epoch in progress; 0: at an epoch boundary
};

class DataLoader {
  struct Epoch;          // one begin()'s order, collate and (with prefetch) background thread
  struct EpochProgress;  // the batches of the last begun epoch handed to the loop

 public:
  // Keeps a copy of the dataset handle (sharing its tensors), so a temporary dataset is safe.
  explicit DataLoader(const TensorDataset& dataset, LoaderOptions options = {});
  // Visits the rows sampler->indices() lists each epoch. The loader shares the sampler, so the
  // caller can still set_epoch() it. Throws ValueError for a null sampler or options.shuffle (the
  // sampler decides the order; PyTorch refuses the pair too).
  DataLoader(const TensorDataset& dataset, std::shared_ptr<const Sampler> sampler,
             LoaderOptions options = {});
  // Any dataset, shared (ValueError if null).
  explicit DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options = {});
  DataLoader(std::shared_ptr<const Dataset> dataset, std::shared_ptr<const Sampler> sampler,
             LoaderOptions options = {});
  // A copy is a snapshot: it shares the dataset, sampler and collate_fn, and starts from this
  // loader's position (state()), which the original's iterators no longer move.
  DataLoader(const DataLoader& other);
  DataLoader& operator=(const DataLoader& other);
  DataLoader(DataLoader&&) noexcept = default;
  DataLoader& operator=(DataLoader&&) noexcept = default;
  ~DataLoader() = default;

  class Iterator {
   public:
    using value_type = Batch;
    using reference = const Batch&;
    using pointer = const Batch*;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::input_iterator_tag;

    Iterator() = default;
    // The batch is loaded (or taken from the prefetch queue) on first access and cached until the
    // iterator moves on. IndexError past the last batch.
    const Batch& operator*() const;
    const Batch* operator->() const { return &**this; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(const Iterator& other) const { return batch_index_ == other.batch_index_; }

   private:
    friend class DataLoader;
    Iterator(std::shared_ptr<Epoch> epoch, std::int64_t batch_index)
        : epoch_(std::move(epoch)), batch_index_(batch_index) {}

    std::shared_ptr<Epoch> epoch_;  // shared by copies; null for end()
    std::int64_t batch_index_ = 0;
    mutable Batch batch_;
    mutable bool has_batch_ = false;
  };

  // Starts an epoch: with shuffle, draws the next permutation (so it advances the generator);
  // with a sampler, takes its indices (IndexError if one is outside the dataset); with prefetch,
  // starts the epoch's loading thread. After load_state() of a mid-epoch state, it resumes that
  // epoch instead: the same order, from batch batches_yielded (prefetching from there), and
  // epochs_begun() stays; the begin()s after it start the following epochs.
  Iterator begin();
  Iterator end() const;

  std::int64_t size() const;  // the number of batches per epoch
  // The rows one epoch visits: the dataset's size, or the sampler's.
  std::int64_t num_samples() const;
  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }

  // The position (see LoaderState). A loader over the same data and options that load_state()s
  // it yields the batches this one would yield from here on, epoch after epoch. With a sampler
  // the order is the sampler's, asked again at the resumed begin(): restore the sampler's epoch
  // (set_epoch) before it.
  LoaderState state() const;
  // ValueError naming DataLoader.load_state for negative counts, batches_yielded > 0 with
  // epochs_begun 0, batches_yielded > size(), or a generator on PyTorch's stream (a loader
  // shuffles with tapegrad's own); the loader is then unchanged.
  void load_state(const LoaderState& state);
  // Throws what load_state would, changing nothing (a checkpoint checks every entry first).
  void check_state(const LoaderState& state) const;
  // begin() calls that started an epoch (a resumed epoch is not started again). Right after a
  // begin() that has handed out no batch yet, state().epochs_begun is one less (a boundary).
  std::int64_t epochs_begun() const { return epochs_begun_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  std::shared_ptr<const CollateFn> collate_;  // null: dataset_->gather
  Generator generator_;        // draws the next epoch's order
  Generator epoch_generator_;  // generator_ before the last begun epoch's draw
  std::shared_ptr<const Sampler> sampler_;
  std::int64_t epochs_begun_ = 0;
  std::shared_ptr<const EpochProgress> progress_;  // the last begun epoch's; null: none since load
  std::int64_t resume_batch_ = 0;  // > 0: a loaded mid-epoch state the next begin() resumes
};

}  // namespace tapegrad::data
