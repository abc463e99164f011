#include "data/loader.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace tapegrad::data {

namespace {

// What one epoch loads: fixed at begin(), read by the loop's thread and the prefetch thread.
struct EpochPlan {
  std::shared_ptr<const Dataset> dataset;
  std::shared_ptr<const CollateFn> collate;  // null: dataset->gather
  std::vector<std::int64_t> order;           // the epoch's sample order; empty: 0, 1, ..., N-1
  bool identity_order = true;
  std::int64_t batch_size = 1;
  std::int64_t num_samples = 0;
  std::int64_t num_batches = 0;
  std::int64_t first_batch = 0;  // > 0 when the epoch resumes a loaded mid-epoch state

  Batch load(std::int64_t batch_index) const;
};

// The contract every batch meets, whoever made it: at least one tensor, each defined and holding
// the batch along its first dim.
void check_batch(const Batch& batch, const char* maker, std::int64_t batch_index,
                 std::int64_t rows) {
  const std::string where = " for batch " + std::to_string(batch_index) + " of " +
                            std::to_string(rows) + " samples";
  if (batch.empty()) {
    throw ValueError(std::string("DataLoader: ") + maker + " returned no tensors" + where);
  }
  for (std::size_t k = 0; k < batch.size(); ++k) {
    if (!batch[k].defined()) {
      throw ValueError(std::string("DataLoader: ") + maker + " returned an undefined tensor " +
                       std::to_string(k) + where);
    }
    if (batch[k].dim() == 0 || batch[k].shape()[0] != rows) {
      throw ShapeError(std::string("DataLoader: ") + maker + " returned tensor " +
                       std::to_string(k) + " with shape " + format_shape(batch[k].shape()) +
                       where + "; every tensor must have the batch size " +
                       std::to_string(rows) + " as its first dim");
    }
  }
}

Batch EpochPlan::load(std::int64_t batch_index) const {
  const std::int64_t first = batch_index * batch_size;
  const std::int64_t last = first + std::min(batch_size, num_samples - first);
  std::vector<std::int64_t> indices(static_cast<std::size_t>(last - first));
  for (std::int64_t k = first; k < last; ++k) {
    const auto position = static_cast<std::size_t>(k);
    indices[position - static_cast<std::size_t>(first)] = identity_order ? k : order[position];
  }
  const auto rows = last - first;
  if (!collate) {
    Batch batch = dataset->gather(indices);
    check_batch(batch, "the dataset's gather", batch_index, rows);
    return batch;
  }
  std::vector<Sample> samples;
  samples.reserve(indices.size());
  for (std::int64_t index : indices) samples.push_back(dataset->get(index));
  Batch batch = (*collate)(samples);
  check_batch(batch, "collate_fn", batch_index, rows);
  return batch;
}

// Loads an epoch's batches in order on its own std::thread, up to `depth` ahead of the consumer.
// A plain thread rather than a TBB task: it blocks on a condition variable whenever it is ahead,
// and a blocked TBB worker would be one fewer for the parallel kernels the loop is running (and
// the collate it runs may itself start TBB work, which a std::thread may do).
class Prefetcher {
 public:
  Prefetcher(const EpochPlan& plan, std::int64_t depth)
      : plan_(plan), depth_(depth), next_to_take_(plan.first_batch), thread_([this] { run(); }) {}

  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    space_.notify_all();
    thread_.join();  // waits at most for the batch being loaded now
  }

  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Batch `batch_index`, or its exception. Batches before it that were never asked for are
  // dropped (their exceptions too, as they would never have been loaded without prefetch); one
  // asked for again after it was handed out is loaded here, on the caller's thread.
  Batch take(std::int64_t batch_index) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (batch_index < next_to_take_) {
      lock.unlock();
      return plan_.load(batch_index);
    }
    while (true) {
      ready_.wait(lock, [this] { return !queue_.empty() || finished_; });
      if (queue_.empty()) {  // the thread ended without this batch: only a failure outside load
        if (failure_) std::rethrow_exception(failure_);
        throw InternalError("DataLoader: the prefetch thread ended before batch " +
                            std::to_string(batch_index));
      }
      Loaded loaded = std::move(queue_.front());
      queue_.pop_front();
      next_to_take_ = loaded.batch_index + 1;
      space_.notify_one();
      if (loaded.batch_index < batch_index) continue;
      lock.unlock();
      if (loaded.error) std::rethrow_exception(loaded.error);
      return std::move(loaded.batch);
    }
  }

 private:
  struct Loaded {
    std::int64_t batch_index = 0;
    Batch batch;
    std::exception_ptr error;  // set instead of batch when loading threw
  };

  void run() noexcept {
    try {
      for (std::int64_t k = plan_.first_batch; k < plan_.num_batches; ++k) {
        {
          std::unique_lock<std::mutex> lock(mutex_);
          space_.wait(lock, [this] {
            return stopping_ || static_cast<std::int64_t>(queue_.size()) < depth_;
          });
          if (stopping_) break;
        }
        Loaded loaded{k, {}, nullptr};
        try {
          loaded.batch = plan_.load(k);
        } catch (...) {
          loaded.error = std::current_exception();
        }
        {
          std::lock_guard<std::mutex> lock(mutex_);
          queue_.push_back(std::move(loaded));
        }
        ready_.notify_one();
      }
    } catch (...) {  // e.g. bad_alloc growing the queue: the consumer rethrows it
      std::lock_guard<std::mutex> lock(mutex_);
      failure_ = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_ = true;
    }
    ready_.notify_all();
  }

  const EpochPlan& plan_;
  const std::int64_t depth_;
  std::mutex mutex_;
  std::condition_variable ready_;  // the consumer waits for a loaded batch
  std::condition_variable space_;  // the thread waits for room in the queue, or to stop
  std::deque<Loaded> queue_;
  std::int64_t next_to_take_;  // the batch after the last one handed out
  bool stopping_ = false;
  bool finished_ = false;
  std::exception_ptr failure_;
  std::thread thread_;  // last: starts once everything above is ready
};

}  // namespace

// How far the loop has come in an epoch. Shared by the epoch (its iterators count) and the loader
// (state() reads it), so it outlives the epoch's thread and data, which go with the last iterator.
struct DataLoader::EpochProgress {
  std::int64_t batches_yielded = 0;  // batches 0 .. batches_yielded-1 were handed to the loop
  bool finished = false;             // an iterator was advanced past the last batch
};

struct DataLoader::Epoch {
  EpochPlan plan;
  std::shared_ptr<EpochProgress> progress;
  std::unique_ptr<Prefetcher> prefetcher;  // destroyed (joined) before the plan it reads

  // A batch counts as yielded once it is handed out (dereferenced without an exception), as
  // PyTorch's _num_yielded counts a batch when __next__ returns it: a state() taken in the loop's
  // body for batch k then resumes at batch k+1, and the batch being trained on is not repeated.
  Batch take(std::int64_t batch_index) {
    Batch batch = prefetcher ? prefetcher->take(batch_index) : plan.load(batch_index);
    progress->batches_yielded = std::max(progress->batches_yielded, batch_index + 1);
    return batch;
  }
};

DataLoader::DataLoader(const TensorDataset& dataset, LoaderOptions options)
    : DataLoader(std::make_shared<const TensorDataset>(dataset), std::move(options)) {}

DataLoader::DataLoader(const TensorDataset& dataset, std::shared_ptr<const Sampler> sampler,
                       LoaderOptions options)
    : DataLoader(std::make_shared<const TensorDataset>(dataset), std::move(sampler),
                 std::move(options)) {}

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)),
      options_(std::move(options)),
      generator_(options_.seed),
      epoch_generator_(options_.seed) {
  if (!dataset_) throw ValueError("DataLoader: the dataset is null");
  if (options_.batch_size <= 0) {
    throw ValueError("DataLoader: batch_size must be positive, got " +
                     std::to_string(options_.batch_size));
  }
  if (options_.prefetch_batches < 0) {
    throw ValueError("DataLoader: prefetch_batches must be >= 0 (0: no prefetch), got " +
                     std::to_string(options_.prefetch_batches));
  }
  if (options_.collate_fn) collate_ = std::make_shared<const CollateFn>(options_.collate_fn);
}

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset,
                       std::shared_ptr<const Sampler> sampler, LoaderOptions options)
    : DataLoader(std::move(dataset), std::move(options)) {
  if (!sampler) throw ValueError("DataLoader: the sampler is null");
  if (options_.shuffle) {
    throw ValueError("DataLoader: shuffle=true with a sampler; the sampler decides the order "
                     "(shuffle it there, e.g. DistributedSamplerOptions::shuffle)");
  }
  sampler_ = std::move(sampler);
}

std::int64_t DataLoader::num_samples() const {
  return sampler_ ? sampler_->size() : dataset_->size();
}

std::int64_t DataLoader::size() const {
  const std::int64_t samples = num_samples();
  const std::int64_t batch_size = options_.batch_size;
  // ceil(samples / batch_size) without forming samples + batch_size (batch_size may be huge)
  if (options_.drop_last || samples <= 0) return std::max<std::int64_t>(samples, 0) / batch_size;
  return (samples - 1) / batch_size + 1;
}

DataLoader::Iterator DataLoader::begin() {
  const std::int64_t dataset_size = dataset_->size();
  if (dataset_size < 0) {
    throw ValueError("DataLoader: the dataset's size() is " + std::to_string(dataset_size) +
                     ", expected >= 0");
  }
  auto epoch = std::make_shared<Epoch>();
  EpochPlan& plan = epoch->plan;
  plan.dataset = dataset_;
  plan.collate = collate_;
  plan.batch_size = options_.batch_size;
  plan.num_samples = num_samples();
  plan.num_batches = size();
  // A loaded mid-epoch state: generator_ is as it was before that epoch's draw, so the draw
  // below gives its order again, and the epoch, already counted in epochs_begun_, goes on at
  // batch resume_batch_.
  plan.first_batch = resume_batch_;
  if (plan.first_batch > plan.num_batches) {  // the sampler shrank since load_state
    throw ValueError("DataLoader: the loaded state resumes an epoch at batch " +
                     std::to_string(plan.first_batch) + ", but an epoch now has " +
                     std::to_string(plan.num_batches) + " batches");
  }
  // The draw goes to a copy, committed only once the epoch has started: a failure below leaves
  // the loader's state as it was.
  Generator next_generator = generator_;
  if (sampler_) {
    std::vector<std::int64_t> indices = sampler_->indices();
    if (static_cast<std::int64_t>(indices.size()) != sampler_->size()) {
      throw ValueError("DataLoader: the sampler returned " + std::to_string(indices.size()) +
                       " indices but its size() is " + std::to_string(sampler_->size()));
    }
    for (std::int64_t index : indices) {
      if (index < 0 || index >= dataset_size) {
        throw IndexError("DataLoader: the sampler gave index " + std::to_string(index) +
                         " for a dataset of size " + std::to_string(dataset_size));
      }
    }
    plan.order = std::move(indices);
    plan.identity_order = false;
  } else if (options_.shuffle) {
    plan.order = random_permutation(dataset_size, next_generator);
    plan.identity_order = false;
  }
  auto progress = std::make_shared<EpochProgress>();
  progress->batches_yielded = plan.first_batch;
  // An epoch without batches ends where it starts (the loop never advances an iterator), and so
  // does the rest of one whose every batch had been handed out.
  progress->finished = plan.first_batch == plan.num_batches;
  epoch->progress = progress;
  if (options_.prefetch_batches > 0 && plan.num_batches > plan.first_batch) {
    epoch->prefetcher = std::make_unique<Prefetcher>(plan, options_.prefetch_batches);
  }
  epoch_generator_ = std::move(generator_);
  generator_ = std::move(next_generator);
  if (plan.first_batch == 0) ++epochs_begun_;
  resume_batch_ = 0;
  progress_ = std::move(progress);
  return Iterator(std::move(epoch), plan.first_batch);
}

DataLoader::Iterator DataLoader::end() const { return Iterator(nullptr, size()); }

DataLoader::DataLoader(const DataLoader& other)
    : dataset_(other.dataset_),
      options_(other.options_),
      collate_(other.collate_),
      generator_(other.generator_),
      epoch_generator_(other.epoch_generator_),
      sampler_(other.sampler_),
      epochs_begun_(other.epochs_begun_),
      // Its own copy: sharing it, the original's loop would move the copy's position too.
      progress_(other.progress_ ? std::make_shared<const EpochProgress>(*other.progress_)
                                : nullptr),
      resume_batch_(other.resume_batch_) {}

DataLoader& DataLoader::operator=(const DataLoader& other) {
  if (this != &other) *this = DataLoader(other);
  return *this;
}

LoaderState DataLoader::state() const {
  if (resume_batch_ > 0) return {generator_, epochs_begun_, resume_batch_};  // not begun yet
  if (progress_ && !progress_->finished) {
    // An epoch in progress, its last batch maybe handed out already. With nothing handed out
    // yet it is the boundary before it, stored as a boundary is: resuming there draws the same
    // order again.
    if (progress_->batches_yielded == 0) return {epoch_generator_, epochs_begun_ - 1, 0};
    return {epoch_generator_, epochs_begun_, progress_->batches_yielded};
  }
  return {generator_, epochs_begun_, 0};  // at a boundary: before any epoch, or after one
}

void DataLoader::check_state(const LoaderState& state) const {
  if (state.epochs_begun < 0) {
    throw ValueError("DataLoader.load_state: epochs_begun must be >= 0, got " +
                     std::to_string(state.epochs_begun));
  }
  if (state.batches_yielded < 0) {
    throw ValueError("DataLoader.load_state: batches_yielded must be >= 0, got " +
                     std::to_string(state.batches_yielded));
  }
  if (state.batches_yielded > 0) {
    if (state.epochs_begun == 0) {
      throw ValueError("DataLoader.load_state: batches_yielded is " +
                       std::to_string(state.batches_yielded) +
                       " but epochs_begun is 0; an epoch in progress counts in epochs_begun, "
                       "expected epochs_begun >= 1");
    }
    const std::int64_t batches = size();
    if (state.batches_yielded > batches) {
      throw ValueError("DataLoader.load_state: batches_yielded must be <= " +
                       std::to_string(batches) + " (the batches per epoch), got " +
                       std::to_string(state.batches_yielded));
    }
  }
  if (state.generator.is_torch_stream()) {
    throw ValueError("DataLoader.load_state: the generator is on PyTorch's stream "
                     "(Generator::torch), but a loader shuffles with tapegrad's own (Generator)");
  }
}

void DataLoader::load_state(const LoaderState& state) {
  check_state(state);
  generator_ = state.generator;
  epoch_generator_ = state.generator;
  epochs_begun_ = state.epochs_begun;
  resume_batch_ = state.batches_yielded;
  progress_.reset();  // iterators of earlier epochs no longer move this loader's position
}

const Batch& DataLoader::Iterator::operator*() const {
  if (!has_batch_) {
    if (!epoch_ || batch_index_ < 0 || batch_index_ >= epoch_->plan.num_batches) {
      throw IndexError("DataLoader: dereferenced an iterator past the last batch (batch " +
                       std::to_string(batch_index_) + ")");
    }
    batch_ = epoch_->take(batch_index_);
    has_batch_ = true;
  }
  return batch_;
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  ++batch_index_;
  // The loop is done with the epoch: a state() taken now is the boundary after it.
  if (epoch_ && batch_index_ >= epoch_->plan.num_batches) epoch_->progress->finished = true;
  batch_.clear();
  has_batch_ = false;
  return *this;
}

}  // namespace tapegrad::data
