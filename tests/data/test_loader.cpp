#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include "data/loader.h"
#include "data/text.h"
#include "nn/rnn.h"
#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;
using tapegrad::data::DataLoader;
using tapegrad::data::TensorDataset;
using Catch::Contains;

namespace {

// X[i] = [2i, 2i+1], y[i] = i: a batch row names its sample, and X/y rows must stay paired.
TensorDataset numbered_dataset(std::int64_t samples) {
  Tensor x = Tensor::arange(0.0f, static_cast<float>(2 * samples)).view_data_as({samples, 2});
  Tensor y = Tensor::arange(0.0f, static_cast<float>(samples));
  return TensorDataset({x, y});
}

// One epoch's sample ids in visiting order, checking every row on the way.
std::vector<std::int64_t> epoch_order(DataLoader& loader) {
  std::vector<std::int64_t> order;
  for (const std::vector<Tensor>& batch : loader) {
    REQUIRE(batch.size() == 2);
    const std::int64_t rows = batch[1].shape()[0];
    REQUIRE(batch[0].shape() == Shape{rows, 2});
    for (std::int64_t r = 0; r < rows; ++r) {
      const auto id = static_cast<std::int64_t>(batch[1].at({r}));
      REQUIRE(batch[0].at({r, 0}) == static_cast<float>(2 * id));
      REQUIRE(batch[0].at({r, 1}) == static_cast<float>(2 * id + 1));
      order.push_back(id);
    }
  }
  return order;
}

std::vector<std::int64_t> iota_ids(std::int64_t count) {
  std::vector<std::int64_t> ids(static_cast<std::size_t>(count));
  std::iota(ids.begin(), ids.end(), std::int64_t{0});
  return ids;
}

}  // namespace

TEST_CASE("DataLoader without shuffle yields batches of consecutive rows", "[loader]") {
  DataLoader loader(numbered_dataset(5), {.batch_size = 2});
  REQUIRE(loader.size() == 3);
  std::vector<Shape> shapes;
  std::int64_t batches = 0;
  for (const std::vector<Tensor>& batch : loader) {
    shapes.push_back(batch[0].shape());
    REQUIRE_FALSE(batch[0].requires_grad());
    ++batches;
  }
  REQUIRE(batches == loader.size());
  REQUIRE(shapes == std::vector<Shape>{{2, 2}, {2, 2}, {1, 2}});
  REQUIRE(epoch_order(loader) == iota_ids(5));
  REQUIRE(epoch_order(loader) == iota_ids(5));  // the next epoch too
}

TEST_CASE("DataLoader batch contents equal the dataset rows", "[loader]") {
  Generator generator(3);
  Tensor x = Tensor::normal({7, 3, 2}, 0.0f, 1.0f, generator);
  TensorDataset dataset({x});
  DataLoader loader(dataset, {.batch_size = 3});
  std::int64_t next = 0;
  for (const std::vector<Tensor>& batch : loader) {
    for (std::int64_t r = 0; r < batch[0].shape()[0]; ++r, ++next) {
      const Tensor row = dataset.get(next)[0];
      for (std::int64_t a = 0; a < 3; ++a)
        for (std::int64_t b = 0; b < 2; ++b) REQUIRE(batch[0].at({r, a, b}) == row.at({a, b}));
    }
  }
  REQUIRE(next == 7);
}

TEST_CASE("DataLoader drop_last drops only a short final batch", "[loader]") {
  DataLoader short_tail(numbered_dataset(5), {.batch_size = 2, .drop_last = true});
  REQUIRE(short_tail.size() == 2);
  REQUIRE(epoch_order(short_tail) == iota_ids(4));

  DataLoader exact(numbered_dataset(6), {.batch_size = 3, .drop_last = true});
  REQUIRE(exact.size() == 2);
  REQUIRE(epoch_order(exact) == iota_ids(6));

  DataLoader too_big(numbered_dataset(3), {.batch_size = 4, .drop_last = true});
  REQUIRE(too_big.size() == 0);
  REQUIRE(epoch_order(too_big).empty());

  DataLoader one_batch(numbered_dataset(3), {.batch_size = 4});
  REQUIRE(one_batch.size() == 1);
  REQUIRE(epoch_order(one_batch) == iota_ids(3));
}

TEST_CASE("DataLoader shuffle visits every sample exactly once per epoch", "[loader]") {
  for (bool drop_last : {false, true}) {
    DataLoader loader(numbered_dataset(23), {.batch_size = 4, .shuffle = true,
                                             .drop_last = drop_last, .seed = 7});
    for (int epoch = 0; epoch < 3; ++epoch) {
      std::vector<std::int64_t> order = epoch_order(loader);
      REQUIRE(order.size() == (drop_last ? 20u : 23u));
      std::sort(order.begin(), order.end());
      REQUIRE(std::adjacent_find(order.begin(), order.end()) == order.end());
      if (!drop_last) REQUIRE(order == iota_ids(23));
    }
  }
}

TEST_CASE("DataLoader shuffle is reproducible per seed and changes every epoch", "[loader]") {
  const TensorDataset dataset = numbered_dataset(20);
  DataLoader first(dataset, {.batch_size = 3, .shuffle = true, .seed = 42});
  DataLoader again(dataset, {.batch_size = 3, .shuffle = true, .seed = 42});
  DataLoader other(dataset, {.batch_size = 3, .shuffle = true, .seed = 43});
  std::vector<std::vector<std::int64_t>> epochs;
  for (int epoch = 0; epoch < 3; ++epoch) {
    epochs.push_back(epoch_order(first));
    REQUIRE(epoch_order(again) == epochs.back());
    REQUIRE(epoch_order(other) != epochs.back());
    REQUIRE(epochs.back() != iota_ids(20));  // 1 in 20! to fail by chance
  }
  REQUIRE(epochs[0] != epochs[1]);
  REQUIRE(epochs[1] != epochs[2]);
}

TEST_CASE("DataLoader shuffle draws all permutations about equally often", "[loader]") {
  // 6000 epochs over 3 samples: each of the 6 orders expects 1000 (sd 29). A biased shuffle such
  // as swapping with any position in [0, n) gives 889 or 1111 for some orders.
  DataLoader loader(numbered_dataset(3), {.batch_size = 3, .shuffle = true, .seed = 11});
  std::map<std::vector<std::int64_t>, int> counts;
  for (int epoch = 0; epoch < 6000; ++epoch) ++counts[epoch_order(loader)];
  REQUIRE(counts.size() == 6);
  for (const auto& [order, count] : counts) {
    INFO("order " << order[0] << order[1] << order[2]);
    REQUIRE(count > 900);
    REQUIRE(count < 1100);
  }
}

TEST_CASE("DataLoader iterators cache the batch and outlive a temporary dataset", "[loader]") {
  DataLoader loader(numbered_dataset(4), {.batch_size = 2});
  auto it = loader.begin();
  const std::vector<Tensor>& batch = *it;
  REQUIRE(&*it == &batch);
  REQUIRE(it->size() == 2);
  ++it;
  REQUIRE((*it)[1].at({0}) == 2.0f);
  it++;
  REQUIRE(it == loader.end());
  REQUIRE_THROWS_AS(*it, IndexError);
}

TEST_CASE("DataLoader rejects a non-positive batch_size", "[loader][errors]") {
  REQUIRE_THROWS_AS(DataLoader(numbered_dataset(4), {.batch_size = 0}), ValueError);
  REQUIRE_THROWS_WITH(DataLoader(numbered_dataset(4), {.batch_size = 0}),
                      Catch::Contains("DataLoader") && Catch::Contains("batch_size") &&
                          Catch::Contains("0"));
  REQUIRE_THROWS_AS(DataLoader(numbered_dataset(4), {.batch_size = -2}), ValueError);
}

TEST_CASE("DataLoader takes a batch_size near INT64_MAX as one batch", "[loader][shape]") {
  // ceil(samples / batch_size) was formed as samples + batch_size - 1, which overflowed.
  const std::int64_t huge = std::numeric_limits<std::int64_t>::max();
  DataLoader loader(numbered_dataset(5), {.batch_size = huge});
  REQUIRE(loader.size() == 1);
  std::vector<Shape> shapes;
  for (const std::vector<Tensor>& batch : loader) shapes.push_back(batch[0].shape());
  REQUIRE(shapes == std::vector<Shape>{{5, 2}});
  DataLoader dropping(numbered_dataset(5), {.batch_size = huge, .drop_last = true});
  REQUIRE(dropping.size() == 0);
}

// ---- any Dataset, collate_fn, prefetching, resumable state ----

namespace {

// Variable-length samples {ids [L_i], label []}: ids 100 * i + 1, ..., label i. get() of
// `faulty_index` throws, like a corrupt record.
class Sentences : public data::Dataset {
 public:
  explicit Sentences(std::vector<std::int64_t> lengths, std::int64_t faulty_index = -1)
      : lengths_(std::move(lengths)), faulty_index_(faulty_index) {}
  std::int64_t size() const override { return static_cast<std::int64_t>(lengths_.size()); }
  data::Sample get(std::int64_t index) const override {
    if (index < 0 || index >= size()) throw IndexError("Sentences.get: index out of range");
    if (index == faulty_index_) {
      throw ValueError("Sentences.get: sample " + std::to_string(index) + " is corrupt");
    }
    std::vector<float> ids;
    for (std::int64_t t = 0; t < lengths_[static_cast<std::size_t>(index)]; ++t) {
      ids.push_back(static_cast<float>(100 * index + 1 + t));
    }
    return {Tensor::from_vector(ids, {static_cast<std::int64_t>(ids.size())}),
            Tensor::scalar(static_cast<float>(index))};
  }

 private:
  std::vector<std::int64_t> lengths_;
  std::int64_t faulty_index_;
};

std::vector<std::int64_t> sentence_lengths(std::int64_t count) {
  std::vector<std::int64_t> lengths;
  for (std::int64_t i = 0; i < count; ++i) lengths.push_back(1 + (i * 7) % 5);
  return lengths;
}

// Either dtype (pad_collate's lengths are int64): same dtype, shape and bytes.
bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.data_ptr(), b.data_ptr(),
                     static_cast<std::size_t>(a.numel()) * element_size(a.dtype())) == 0;
}

bool same_batches(const std::vector<data::Batch>& a, const std::vector<data::Batch>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (a[k].size() != b[k].size()) return false;
    for (std::size_t f = 0; f < a[k].size(); ++f) {
      if (!same_bits(a[k][f], b[k][f])) return false;
    }
  }
  return true;
}

std::vector<data::Batch> epoch_batches(DataLoader& loader) {
  std::vector<data::Batch> batches;
  for (const data::Batch& batch : loader) batches.push_back(batch);
  return batches;
}

// Each batch's outcome, in order: its label ids, or the message of what loading it threw.
std::vector<std::string> epoch_outcomes(DataLoader& loader) {
  std::vector<std::string> outcomes;
  for (auto it = loader.begin(); it != loader.end(); ++it) {
    try {
      std::string labels = "labels";
      for (float label : it->back().to_vector()) {
        labels += ' ';
        labels += std::to_string(static_cast<int>(label));
      }
      outcomes.push_back(labels);
    } catch (const ValueError& error) {
      outcomes.push_back(std::string("error: ") + error.what());
    }
  }
  return outcomes;
}

// A collate_fn that records every call and the thread it ran on, then pads.
struct RecordingCollate {
  std::mutex mutex;
  std::vector<std::thread::id> threads;
  std::atomic<int> calls{0};

  data::CollateFn collate() {
    return [this, pad = data::pad_collate()](const std::vector<data::Sample>& samples) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        threads.push_back(std::this_thread::get_id());
      }
      data::Batch batch = pad(samples);
      ++calls;
      return batch;
    };
  }
  // Waits (at most 20 s: a hang fails instead of stalling CI) until `count` calls have finished.
  bool wait_for_calls(int count) {
    for (int k = 0; k < 20000 && calls.load() < count; ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return calls.load() >= count;
  }
};

}  // namespace

TEST_CASE("DataLoader over a custom Dataset pads each batch to its own longest sequence",
          "[loader][collate]") {
  auto sentences = std::make_shared<Sentences>(std::vector<std::int64_t>{3, 1, 4, 1, 5, 2, 2});
  DataLoader loader(sentences, {.batch_size = 3, .collate_fn = data::pad_collate()});
  REQUIRE(loader.size() == 3);
  REQUIRE(loader.dataset().size() == 7);
  const std::vector<data::Batch> batches = epoch_batches(loader);
  REQUIRE(batches.size() == 3);
  // samples 0, 1, 2: lengths 3, 1, 4, padded to 4 with 0
  REQUIRE(batches[0][0].shape() == Shape{3, 4});
  REQUIRE(batches[0][0].to_vector() ==
          std::vector<float>{1, 2, 3, 0, 101, 0, 0, 0, 201, 202, 203, 204});
  REQUIRE(batches[0][1].to_vector_i64() == std::vector<std::int64_t>{3, 1, 4});
  REQUIRE(batches[0][2].to_vector() == std::vector<float>{0, 1, 2});
  // samples 3, 4, 5 padded to 5; the last batch (sample 6, length 2) is not padded at all
  REQUIRE(batches[1][0].shape() == Shape{3, 5});
  REQUIRE(batches[1][1].to_vector_i64() == std::vector<std::int64_t>{1, 5, 2});
  REQUIRE(batches[2][0].to_vector() == std::vector<float>{601, 602});
  REQUIRE(batches[2][1].to_vector_i64() == std::vector<std::int64_t>{2});
}

TEST_CASE("A padded batch and its lengths give each sequence's own final state in a GRU",
          "[loader][collate]") {
  Generator generator(4);
  nn::GRU gru({.input_size = 1, .hidden_size = 3, .batch_first = true}, generator);
  auto sentences = std::make_shared<Sentences>(std::vector<std::int64_t>{2, 5, 3});
  DataLoader loader(sentences, {.batch_size = 3, .collate_fn = data::pad_collate()});
  const data::Batch batch = *loader.begin();
  // Ids scaled into a sane input range; padding stays 0.
  const Tensor inputs = reshape(batch[0], {3, 5, 1}) * 0.01f;
  const Tensor h_n = gru.forward(inputs, {}, data::tensor_to_ids(batch[1])).h_n;  // [1, 3, 3]
  for (std::int64_t s = 0; s < 3; ++s) {
    const Tensor alone = sentences->get(s)[0];  // [L]
    const Tensor alone_h = gru.forward(reshape(alone, {1, alone.size(0), 1}) * 0.01f).h_n;
    for (std::int64_t j = 0; j < 3; ++j) {
      REQUIRE(h_n.at({0, s, j}) == Approx(alone_h.at({0, 0, j})).margin(1e-6));
    }
  }
}

TEST_CASE("Prefetching gives the plain loader's batches bit for bit, epoch after epoch",
          "[loader][prefetch]") {
  Generator generator(9);
  const TensorDataset tensors({Tensor::normal({23, 3}, 0.0f, 1.0f, generator),
                               Tensor::arange(0.0f, 23.0f)});
  const auto sentences = std::make_shared<Sentences>(sentence_lengths(19));
  for (std::int64_t prefetch : {1, 3}) {
    for (bool drop_last : {false, true}) {
      INFO("prefetch_batches " << prefetch << ", drop_last " << drop_last);
      const data::LoaderOptions plain_options{.batch_size = 4, .shuffle = true,
                                              .drop_last = drop_last, .seed = 3};
      data::LoaderOptions prefetch_options = plain_options;
      prefetch_options.prefetch_batches = prefetch;
      DataLoader plain(tensors, plain_options), prefetching(tensors, prefetch_options);
      data::LoaderOptions padded_options = plain_options;
      padded_options.collate_fn = data::pad_collate();
      DataLoader plain_padded(sentences, padded_options);
      padded_options.prefetch_batches = prefetch;
      DataLoader prefetching_padded(sentences, padded_options);
      for (int epoch = 0; epoch < 3; ++epoch) {
        const auto expected = epoch_batches(plain);
        REQUIRE(expected.size() == static_cast<std::size_t>(plain.size()));
        REQUIRE(same_batches(epoch_batches(prefetching), expected));
        REQUIRE(same_batches(epoch_batches(prefetching_padded), epoch_batches(plain_padded)));
      }
    }
  }
  // With a sampler (a data-parallel rank's shard), too.
  const auto sampler = std::make_shared<data::DistributedSampler>(
      23, data::DistributedSamplerOptions{.num_replicas = 2, .rank = 1, .seed = 5});
  DataLoader plain(tensors, sampler, {.batch_size = 5});
  DataLoader prefetching(tensors, sampler, {.batch_size = 5, .prefetch_batches = 2});
  for (std::int64_t epoch = 0; epoch < 2; ++epoch) {
    sampler->set_epoch(epoch);
    REQUIRE(same_batches(epoch_batches(prefetching), epoch_batches(plain)));
  }
}

TEST_CASE("Prefetching loads on another thread, at most prefetch_batches ahead",
          "[loader][prefetch]") {
  // Needs a second thread, not a second core: the OS runs the loading thread while this one
  // sleeps, so it holds on one core too.
  if (std::thread::hardware_concurrency() < 2) WARN("one core: the loading thread time-shares");
  auto sentences = std::make_shared<Sentences>(sentence_lengths(12));
  RecordingCollate plain_record, prefetch_record;
  DataLoader plain(sentences, {.batch_size = 2, .collate_fn = plain_record.collate()});
  epoch_batches(plain);
  REQUIRE(plain_record.threads.size() == 6);
  for (std::thread::id id : plain_record.threads) REQUIRE(id == std::this_thread::get_id());

  DataLoader prefetching(sentences, {.batch_size = 2, .collate_fn = prefetch_record.collate(),
                                     .prefetch_batches = 2});
  auto it = prefetching.begin();
  // Before the loop asks for anything, batches 0 and 1 are loaded, and no more.
  REQUIRE(prefetch_record.wait_for_calls(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  REQUIRE(prefetch_record.calls.load() == 2);
  REQUIRE((*it)[2].to_vector() == std::vector<float>{0, 1});
  // Taking batch 0 made room for batch 2, loaded while the loop "trains" on batch 0.
  REQUIRE(prefetch_record.wait_for_calls(3));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  REQUIRE(prefetch_record.calls.load() == 3);
  for (++it; it != prefetching.end(); ++it) REQUIRE(it->size() == 3);
  std::lock_guard<std::mutex> lock(prefetch_record.mutex);
  REQUIRE(prefetch_record.threads.size() == 6);
  for (std::thread::id id : prefetch_record.threads) REQUIRE(id != std::this_thread::get_id());
}

TEST_CASE("An exception while loading reaches the loop at that batch, with or without prefetch",
          "[loader][prefetch][errors]") {
  // Sample 7 is corrupt: batch 3 (samples 6, 7) throws; the batches after it still load.
  auto faulty = std::make_shared<Sentences>(sentence_lengths(12), 7);
  DataLoader plain(faulty, {.batch_size = 2, .collate_fn = data::pad_collate()});
  DataLoader prefetching(faulty, {.batch_size = 2, .collate_fn = data::pad_collate(),
                                  .prefetch_batches = 2});
  const std::vector<std::string> expected = epoch_outcomes(plain);
  REQUIRE(expected.size() == 6);
  REQUIRE(expected[2] == "labels 4 5");
  REQUIRE(expected[3] == "error: Sentences.get: sample 7 is corrupt");
  REQUIRE(expected[4] == "labels 8 9");
  REQUIRE(epoch_outcomes(prefetching) == expected);

  // An exception ends a range-for; the epoch's thread is joined as the iterators go.
  DataLoader prefetching_loop(faulty, {.batch_size = 2, .collate_fn = data::pad_collate(),
                                          .prefetch_batches = 3});
  std::int64_t seen = 0;
  REQUIRE_THROWS_WITH(
      [&] {
        for (const data::Batch& batch : prefetching_loop) seen += batch[0].size(0);
      }(),
      Contains("sample 7 is corrupt"));
  REQUIRE(seen == 6);
}

TEST_CASE("Breaking early or destroying the loader mid-epoch stops the prefetch thread cleanly",
          "[loader][prefetch]") {
  auto sentences = std::make_shared<Sentences>(sentence_lengths(60));
  SECTION("break out of the loop") {
    RecordingCollate record;
    DataLoader loader(sentences, {.batch_size = 2, .collate_fn = record.collate(),
                                  .prefetch_batches = 2});
    int taken = 0;
    for (const data::Batch& batch : loader) {
      REQUIRE(batch.size() == 3);
      if (++taken == 2) break;
    }
    // The thread was joined as the loop's iterator went: no call is running or still to come.
    const int calls = record.calls.load();
    REQUIRE(calls >= 2);
    REQUIRE(calls <= 5);  // the 2 taken, at most 2 ready ahead, and the one being loaded
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    REQUIRE(record.calls.load() == calls);
    REQUIRE(record.threads.size() == static_cast<std::size_t>(calls));
  }
  SECTION("the loader goes first; its iterators finish the epoch") {
    const data::LoaderOptions options{.batch_size = 4, .shuffle = true, .seed = 8,
                                      .collate_fn = data::pad_collate(), .prefetch_batches = 3};
    DataLoader reference_loader(sentences, {.batch_size = 4, .shuffle = true, .seed = 8,
                                            .collate_fn = data::pad_collate()});
    const auto expected = epoch_batches(reference_loader);
    auto loader = std::make_unique<DataLoader>(sentences, options);
    auto it = loader->begin();
    const auto end = loader->end();
    std::vector<data::Batch> batches{*it};
    loader.reset();
    for (++it; it != end; ++it) batches.push_back(*it);
    REQUIRE(same_batches(batches, expected));
  }
  SECTION("loader and a started epoch destroyed before any batch is taken") {
    for (int repeat = 0; repeat < 20; ++repeat) {
      DataLoader loader(sentences, {.batch_size = 2, .prefetch_batches = 4});
      auto it = loader.begin();
      auto copy = it;  // copies share the epoch; its thread ends with the last of them
    }
  }
}

TEST_CASE("A loader restored from state() gives the original's next epoch orders",
          "[loader][state]") {
  const TensorDataset dataset = numbered_dataset(17);
  for (std::int64_t prefetch : {0, 2}) {
    DataLoader original(dataset, {.batch_size = 4, .shuffle = true, .seed = 21,
                                  .prefetch_batches = prefetch});
    REQUIRE(original.state().epochs_begun == 0);
    epoch_order(original);
    epoch_order(original);
    const data::LoaderState saved = original.state();
    REQUIRE(saved.epochs_begun == 2);
    const auto third = epoch_order(original);
    const auto fourth = epoch_order(original);

    DataLoader resumed(dataset, {.batch_size = 4, .shuffle = true, .seed = 999,
                                 .prefetch_batches = prefetch});
    resumed.load_state(saved);
    REQUIRE(resumed.epochs_begun() == 2);
    REQUIRE(epoch_order(resumed) == third);
    REQUIRE(epoch_order(resumed) == fourth);
    // The restored generator is the original's: both draw the same from here on.
    Generator resumed_generator = resumed.state().generator;
    Generator original_generator = original.state().generator;
    REQUIRE(resumed_generator.next_u64() == original_generator.next_u64());
    REQUIRE(resumed.epochs_begun() == 4);

    // Through text, as a checkpoint file stores it (Generator::state()).
    Generator from_text;
    from_text.load_state(saved.generator.state());
    DataLoader from_file(dataset, {.batch_size = 4, .shuffle = true,
                                   .prefetch_batches = prefetch});
    from_file.load_state({from_text, saved.epochs_begun});
    REQUIRE(epoch_order(from_file) == third);
  }
}

namespace {

// A loader of one configuration, and its sampler if it has one, as one process builds them.
struct ResumableLoader {
  std::shared_ptr<data::DistributedSampler> sampler;  // null: none
  std::unique_ptr<DataLoader> loader;
  // What a training loop does before epoch `epoch` (0-based): set the sampler's epoch.
  void start_epoch(std::int64_t epoch) const {
    if (sampler) sampler->set_epoch(epoch);
  }
};
using MakeLoader = std::function<ResumableLoader(std::uint64_t seed)>;

std::vector<data::Batch> uninterrupted_batches(const MakeLoader& make, std::int64_t epochs) {
  const ResumableLoader run = make(11);
  std::vector<data::Batch> batches;
  for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
    run.start_epoch(epoch);
    for (const data::Batch& batch : *run.loader) batches.push_back(batch);
  }
  return batches;
}

// Where a run is killed: in the loop's body for batch `batch` (counted over all epochs), or
// right after the loop over epoch `after_epoch` (0-based) and its end-of-epoch work.
struct Kill {
  std::int64_t batch = -1;
  std::int64_t after_epoch = -1;
};

// `epochs` epochs of training over the loader, as a run with a checkpoint does it: the loop keeps
// its own epoch counter, saved with the loader's state() at each kill; the process then dies
// (the loader is dropped) and a fresh one, with another seed, restores both and goes on. Returns
// every batch the loop was handed; `states` gets the states saved, `epochs_ended` the epoch of
// each pass through the end-of-epoch code.
std::vector<data::Batch> interrupted_batches(const MakeLoader& make, std::int64_t epochs,
                                             const std::vector<Kill>& kills,
                                             std::vector<data::LoaderState>& states,
                                             std::vector<std::int64_t>& epochs_ended) {
  ResumableLoader run = make(11);
  std::vector<data::Batch> batches;
  std::size_t next_kill = 0;
  std::int64_t epoch = 0;  // the loop's counter: the epoch in progress
  const auto kill_now = [&](bool in_body) {
    if (next_kill == kills.size()) return false;
    const Kill& kill = kills[next_kill];
    return in_body ? kill.batch == static_cast<std::int64_t>(batches.size()) - 1
                   : kill.after_epoch == epoch - 1;
  };
  while (true) {
    bool killed = false;
    for (; epoch < epochs && !killed;) {
      run.start_epoch(epoch);
      for (const data::Batch& batch : *run.loader) {
        batches.push_back(batch);
        if (kill_now(true)) {
          killed = true;
          break;
        }
      }
      if (killed) break;
      epochs_ended.push_back(epoch);
      ++epoch;
      killed = kill_now(false);
    }
    if (!killed) return batches;
    states.push_back(run.loader->state());
    const std::int64_t saved_epoch = epoch;
    ++next_kill;
    run = make(1000 + next_kill);  // other seeds: everything must come from the state
    run.loader->load_state(states.back());
    REQUIRE(run.loader->epochs_begun() == states.back().epochs_begun);
    epoch = saved_epoch;
  }
}

// The configurations a resume must handle; `batches_per_epoch` is each one's loader size().
struct ResumeCase {
  std::string name;
  MakeLoader make;
  std::int64_t batches_per_epoch = 0;
};

std::vector<ResumeCase> resume_cases() {
  std::vector<ResumeCase> cases;
  const TensorDataset numbers = numbered_dataset(11);
  auto sentences = std::make_shared<Sentences>(sentence_lengths(11));
  for (bool shuffle : {true, false}) {
    for (bool drop_last : {false, true}) {
      for (std::int64_t prefetch : {0, 2}) {
        const std::string name = std::string(shuffle ? "shuffle" : "no shuffle") +
                                 (drop_last ? ", drop_last" : "") + ", prefetch " +
                                 std::to_string(prefetch);
        const std::int64_t batches = drop_last ? 3 : 4;  // 11 rows in batches of 3
        cases.push_back({name + ", TensorDataset",
                         [=](std::uint64_t seed) {
                           return ResumableLoader{
                               nullptr, std::make_unique<DataLoader>(
                                            numbers, data::LoaderOptions{
                                                         .batch_size = 3,
                                                         .shuffle = shuffle,
                                                         .drop_last = drop_last,
                                                         .seed = seed,
                                                         .prefetch_batches = prefetch})};
                         },
                         batches});
        cases.push_back({name + ", pad_collate",
                         [=](std::uint64_t seed) {
                           return ResumableLoader{
                               nullptr, std::make_unique<DataLoader>(
                                            sentences, data::LoaderOptions{
                                                           .batch_size = 3,
                                                           .shuffle = shuffle,
                                                           .drop_last = drop_last,
                                                           .seed = seed,
                                                           .collate_fn = data::pad_collate(),
                                                           .prefetch_batches = prefetch})};
                         },
                         batches});
      }
    }
  }
  // A shuffling DistributedSampler (rank 1 of 2: 8 of 15 rows), its epoch set by the loop.
  const TensorDataset fifteen = numbered_dataset(15);
  for (bool drop_last : {false, true}) {
    for (std::int64_t prefetch : {0, 2}) {
      cases.push_back(
          {"sampler" + std::string(drop_last ? ", drop_last" : "") + ", prefetch " +
               std::to_string(prefetch),
           [=](std::uint64_t seed) {
             auto sampler = std::make_shared<data::DistributedSampler>(
                 15, data::DistributedSamplerOptions{.num_replicas = 2, .rank = 1, .seed = 5});
             auto loader = std::make_unique<DataLoader>(
                 fifteen, sampler,
                 data::LoaderOptions{.batch_size = 3, .drop_last = drop_last, .seed = seed,
                                     .prefetch_batches = prefetch});
             return ResumableLoader{sampler, std::move(loader)};
           },
           drop_last ? 2 : 3});
    }
  }
  return cases;
}

}  // namespace

TEST_CASE("A state taken mid-epoch resumes at the next batch, bit-identical over epochs",
          "[loader][state]") {
  constexpr std::int64_t epochs = 3;
  const std::vector<std::int64_t> all_epochs{0, 1, 2};
  for (const ResumeCase& config : resume_cases()) {
    INFO(config.name);
    const std::int64_t per_epoch = config.batches_per_epoch;
    REQUIRE(config.make(0).loader->size() == per_epoch);
    const std::vector<data::Batch> expected = uninterrupted_batches(config.make, epochs);
    const auto total = static_cast<std::int64_t>(expected.size());
    REQUIRE(total == epochs * per_epoch);
    // The epochs differ (else a resume in the wrong epoch could not show).
    if (config.name.rfind("shuffle", 0) == 0 || config.name.rfind("sampler", 0) == 0) {
      const std::vector<data::Batch> first(expected.begin(), expected.begin() + per_epoch);
      const std::vector<data::Batch> second(expected.begin() + per_epoch,
                                            expected.begin() + 2 * per_epoch);
      REQUIRE(!same_batches(first, second));
    }
    for (std::int64_t stop = 0; stop < total; ++stop) {
      INFO("killed in the body of batch " << stop);
      std::vector<data::LoaderState> states;
      std::vector<std::int64_t> ended;
      REQUIRE(same_batches(interrupted_batches(config.make, epochs, {{.batch = stop}}, states,
                                               ended),
                           expected));
      REQUIRE(ended == all_epochs);  // each epoch's end-of-epoch code ran once
      REQUIRE(states.size() == 1);
      // Epoch stop / per_epoch is in progress, its batches up to `stop` handed out (all of them
      // at its last batch: the resumed begin() yields none, and the loop ends that epoch).
      REQUIRE(states[0].epochs_begun == stop / per_epoch + 1);
      REQUIRE(states[0].batches_yielded == stop % per_epoch + 1);
    }
    for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
      INFO("killed after epoch " << epoch);
      std::vector<data::LoaderState> states;
      std::vector<std::int64_t> ended;
      REQUIRE(same_batches(
          interrupted_batches(config.make, epochs, {{.after_epoch = epoch}}, states, ended),
          expected));
      REQUIRE(ended == all_epochs);
      REQUIRE(states[0].epochs_begun == epoch + 1);  // a boundary
      REQUIRE(states[0].batches_yielded == 0);
    }
    // Killed again and again, twice inside one resumed epoch, and at every batch in turn.
    std::vector<Kill> every_batch;
    for (std::int64_t stop = 0; stop < total; ++stop) every_batch.push_back({.batch = stop});
    for (const std::vector<Kill>& kills :
         {std::vector<Kill>{{.batch = 0}, {.batch = 1}},
          std::vector<Kill>{{.batch = 1}, {.after_epoch = 0}, {.batch = total - 1}},
          every_batch}) {
      std::vector<data::LoaderState> states;
      std::vector<std::int64_t> ended;
      REQUIRE(same_batches(interrupted_batches(config.make, epochs, kills, states, ended),
                           expected));
      REQUIRE(ended == all_epochs);
      REQUIRE(states.size() == kills.size());
    }
  }
}

TEST_CASE("A state taken in the last batch's body resumes with an empty rest, then the next epoch",
          "[loader][state]") {
  const TensorDataset dataset = numbered_dataset(9);
  for (std::int64_t prefetch : {0, 2}) {
    const data::LoaderOptions options{.batch_size = 4, .shuffle = true, .seed = 6,
                                      .prefetch_batches = prefetch};
    DataLoader original(dataset, options);
    data::LoaderState in_last_body;
    for (const data::Batch& batch : original) {
      (void)batch;
      in_last_body = original.state();
    }
    REQUIRE(in_last_body.epochs_begun == 1);
    REQUIRE(in_last_body.batches_yielded == 3);  // all 3, the loop not yet done with the epoch
    const data::LoaderState after_loop = original.state();
    REQUIRE(after_loop.epochs_begun == 1);
    REQUIRE(after_loop.batches_yielded == 0);
    const auto second = epoch_order(original);

    DataLoader resumed(dataset, options);
    resumed.load_state(in_last_body);
    REQUIRE(resumed.begin() == resumed.end());  // the rest of epoch 1: nothing
    REQUIRE(resumed.epochs_begun() == 1);
    REQUIRE(resumed.state().batches_yielded == 0);  // that empty rest is over at once
    REQUIRE(resumed.state().generator.state() == after_loop.generator.state());
    REQUIRE(epoch_order(resumed) == second);
    REQUIRE(resumed.epochs_begun() == 2);
  }
}

TEST_CASE("A mid-epoch state round-trips, and a begun epoch without batches resumes whole",
          "[loader][state]") {
  const TensorDataset dataset = numbered_dataset(10);
  for (std::int64_t prefetch : {0, 3}) {
    INFO("prefetch " << prefetch);
    const data::LoaderOptions options{.batch_size = 3, .shuffle = true, .seed = 4,
                                      .prefetch_batches = prefetch};
    DataLoader original(dataset, options);
    epoch_order(original);
    auto it = original.begin();
    // begin() without a batch handed out: the boundary before that epoch, which a resume draws
    // again.
    REQUIRE(original.epochs_begun() == 2);
    const data::LoaderState before_any = original.state();
    REQUIRE(before_any.epochs_begun == 1);
    REQUIRE(before_any.batches_yielded == 0);
    std::vector<data::Batch> second_epoch;
    for (; it != original.end(); ++it) {
      const auto look_again = it;  // a copy without the cached batch: it loads it once more
      second_epoch.push_back(*it);
      REQUIRE(same_batches({*look_again}, {second_epoch.back()}));  // and counts it once
      REQUIRE(original.state().batches_yielded ==
              static_cast<std::int64_t>(second_epoch.size()));
    }
    REQUIRE(original.state().batches_yielded == 0);  // the iterator went past the last batch
    DataLoader from_boundary(dataset, options);
    from_boundary.load_state(before_any);
    REQUIRE(same_batches(epoch_batches(from_boundary), second_epoch));
    REQUIRE(from_boundary.epochs_begun() == 2);

    // A loaded mid-epoch state is what state() says until the resumed begin(), which keeps
    // epochs_begun; the epoch after it is the original's third.
    DataLoader mid(dataset, options);
    epoch_order(mid);
    auto mid_it = mid.begin();
    (void)*mid_it;
    (void)*++mid_it;
    const data::LoaderState saved = mid.state();
    REQUIRE(saved.epochs_begun == 2);
    REQUIRE(saved.batches_yielded == 2);
    DataLoader resumed(dataset, {.batch_size = 3, .shuffle = true, .seed = 77,
                                 .prefetch_batches = prefetch});
    resumed.load_state(saved);
    const data::LoaderState reported = resumed.state();
    REQUIRE(reported.generator.state() == saved.generator.state());
    REQUIRE(reported.epochs_begun == 2);
    REQUIRE(reported.batches_yielded == 2);
    const std::vector<data::Batch> rest = epoch_batches(resumed);
    REQUIRE(rest.size() == 2);
    REQUIRE(same_batches(rest, std::vector<data::Batch>(second_epoch.begin() + 2, second_epoch.end())));
    REQUIRE(resumed.epochs_begun() == 2);
    REQUIRE(resumed.state().batches_yielded == 0);
    REQUIRE(epoch_order(resumed) == epoch_order(original));
    REQUIRE(resumed.epochs_begun() == 3);
  }
}

TEST_CASE("A resumed epoch prefetches from the resume batch on, none before it",
          "[loader][state][prefetch]") {
  auto sentences = std::make_shared<Sentences>(sentence_lengths(12));  // 6 batches of 2
  std::mutex mutex;
  std::vector<float> collated;  // the first label of each batch collated, in order
  const data::CollateFn recording = [&, pad = data::pad_collate()](
                                        const std::vector<data::Sample>& samples) {
    data::Batch batch = pad(samples);
    std::lock_guard<std::mutex> lock(mutex);
    collated.push_back(batch[2].at({0}));
    return batch;
  };
  const data::LoaderOptions options{.batch_size = 2, .shuffle = true, .seed = 3,
                                    .collate_fn = recording, .prefetch_batches = 2};
  DataLoader original(sentences, options);
  auto it = original.begin();
  std::vector<float> firsts;
  for (int k = 0; k < 3; ++k, ++it) firsts.push_back((*it)[2].at({0}));
  const data::LoaderState saved = original.state();
  REQUIRE(saved.batches_yielded == 3);
  for (; it != original.end(); ++it) firsts.push_back((*it)[2].at({0}));
  {
    std::lock_guard<std::mutex> lock(mutex);
    collated.clear();
  }

  DataLoader resumed(sentences, options);
  resumed.load_state(saved);
  std::vector<float> rest;
  for (const data::Batch& batch : resumed) rest.push_back(batch[2].at({0}));
  REQUIRE(rest == std::vector<float>(firsts.begin() + 3, firsts.end()));
  std::lock_guard<std::mutex> lock(mutex);
  REQUIRE(collated == rest);  // batches 3, 4, 5 loaded once each; 0, 1, 2 never
}

TEST_CASE("A resumed epoch whose sampler shrank below the resume batch is refused at begin()",
          "[loader][state][errors]") {
  struct Rows : data::Sampler {
    std::int64_t count = 8;
    std::vector<std::int64_t> indices() const override { return iota_ids(count); }
    std::int64_t size() const override { return count; }
  };
  auto sampler = std::make_shared<Rows>();
  DataLoader loader(numbered_dataset(8), sampler, {.batch_size = 2});
  auto it = loader.begin();
  (void)*it;
  (void)*++it;
  (void)*++it;
  const data::LoaderState saved = loader.state();
  REQUIRE(saved.batches_yielded == 3);
  DataLoader resumed(numbered_dataset(8), sampler, {.batch_size = 2});
  resumed.load_state(saved);
  sampler->count = 4;
  REQUIRE_THROWS_AS(resumed.begin(), ValueError);
  REQUIRE_THROWS_WITH(resumed.begin(), Contains("resumes an epoch at batch 3, but an epoch now "
                                                "has 2 batches"));
  REQUIRE(resumed.state().batches_yielded == 3);  // still pending
  sampler->count = 8;
  std::vector<std::int64_t> ids;
  for (const data::Batch& batch : resumed) {
    for (float id : batch[1].to_vector()) ids.push_back(static_cast<std::int64_t>(id));
  }
  REQUIRE(ids == std::vector<std::int64_t>{6, 7});
}

TEST_CASE("A copied loader is a snapshot: the original's loop does not move its position",
          "[loader][state]") {
  const TensorDataset dataset = numbered_dataset(10);
  DataLoader original(dataset, {.batch_size = 3, .shuffle = true, .seed = 9});
  auto it = original.begin();
  (void)*it;  // one batch handed out
  const DataLoader snapshot = original;
  DataLoader assigned(dataset, {.batch_size = 3});
  assigned = original;
  for (++it; it != original.end(); ++it) (void)*it;  // the original finishes its epoch
  REQUIRE(original.state().batches_yielded == 0);
  for (const DataLoader* copy : std::initializer_list<const DataLoader*>{&snapshot, &assigned}) {
    const data::LoaderState state = copy->state();
    REQUIRE(state.epochs_begun == 1);
    REQUIRE(state.batches_yielded == 1);
  }
  // And the snapshot's state resumes where it was taken: the rest of that epoch, batches 1..3.
  DataLoader resumed(dataset, {.batch_size = 3, .shuffle = true, .seed = 9});
  resumed.load_state(snapshot.state());
  std::int64_t rest = 0;
  for (const data::Batch& batch : resumed) {
    (void)batch;
    ++rest;
  }
  REQUIRE(rest == 3);
}

TEST_CASE("DataLoader rejects bad options, datasets, collate results and states",
          "[loader][errors]") {
  auto sentences = std::make_shared<Sentences>(sentence_lengths(6));
  REQUIRE_THROWS_WITH(DataLoader(sentences, {.prefetch_batches = -1}),
                      Contains("DataLoader: prefetch_batches must be >= 0") && Contains("-1"));
  REQUIRE_THROWS_WITH(DataLoader(std::shared_ptr<const data::Dataset>(), data::LoaderOptions{}),
                      Contains("DataLoader: the dataset is null"));

  struct NegativeSize : data::Dataset {
    std::int64_t size() const override { return -3; }
    data::Sample get(std::int64_t) const override { return {}; }
  };
  DataLoader negative(std::make_shared<NegativeSize>(), {.batch_size = 2});
  REQUIRE(negative.size() == 0);
  REQUIRE_THROWS_WITH(negative.begin(),
                      Contains("DataLoader: the dataset's size() is -3, expected >= 0"));

  // A collate_fn that loses a sample: a ShapeError at that batch, prefetched or not.
  const data::CollateFn drops_one = [](const std::vector<data::Sample>& samples) {
    data::Batch batch = data::pad_collate()(samples);
    batch.push_back(Tensor::zeros({static_cast<std::int64_t>(samples.size()) - 1}));
    return batch;
  };
  for (std::int64_t prefetch : {0, 2}) {
    DataLoader loader(sentences, {.batch_size = 4, .collate_fn = drops_one,
                                  .prefetch_batches = prefetch});
    auto it = loader.begin();
    REQUIRE_THROWS_AS(*it, ShapeError);
    REQUIRE_THROWS_WITH(*it, Contains("DataLoader: collate_fn returned tensor 3 with shape [3] "
                                      "for batch 0 of 4 samples") &&
                                 Contains("batch size 4 as its first dim"));
  }
  DataLoader empty_collate(sentences, {.collate_fn = [](const std::vector<data::Sample>&) {
                                         return data::Batch{};
                                       }});
  REQUIRE_THROWS_WITH(*empty_collate.begin(),
                      Contains("DataLoader: collate_fn returned no tensors for batch 0"));
  DataLoader undefined_collate(sentences, {.collate_fn = [](const std::vector<data::Sample>&) {
                                             return data::Batch{Tensor()};
                                           }});
  REQUIRE_THROWS_WITH(*undefined_collate.begin(),
                      Contains("DataLoader: collate_fn returned an undefined tensor 0"));
  // Without a collate_fn, unequal lengths cannot be stacked: the error says what to use.
  DataLoader stacking(sentences, {.batch_size = 2});
  REQUIRE_THROWS_WITH(*stacking.begin(), Contains("default_collate: field 0 of sample 1") &&
                                             Contains("pad_collate"));

  // load_state: nothing changes on a bad state.
  DataLoader loader(sentences, {.batch_size = 2, .shuffle = true, .seed = 1,
                                .collate_fn = data::pad_collate()});
  epoch_batches(loader);
  const data::LoaderState before = loader.state();
  DataLoader twin(sentences, {.batch_size = 2, .shuffle = true, .seed = 1,
                              .collate_fn = data::pad_collate()});
  twin.load_state(before);
  REQUIRE_THROWS_WITH(loader.load_state({before.generator, -1}),
                      Contains("DataLoader.load_state: epochs_begun must be >= 0, got -1"));
  REQUIRE_THROWS_WITH(loader.load_state({Generator::torch(1), 3}),
                      Contains("DataLoader.load_state: the generator is on PyTorch's stream"));
  REQUIRE(loader.size() == 3);  // 6 sentences in batches of 2
  REQUIRE_THROWS_WITH(loader.load_state({before.generator, 1, -1}),
                      Contains("DataLoader.load_state: batches_yielded must be >= 0, got -1"));
  REQUIRE_THROWS_WITH(loader.load_state({before.generator, 0, 1}),
                      Contains("DataLoader.load_state: batches_yielded is 1 but epochs_begun is "
                               "0") &&
                          Contains("expected epochs_begun >= 1"));
  for (std::int64_t past_the_end : {4, 40}) {
    REQUIRE_THROWS_AS(loader.load_state({before.generator, 1, past_the_end}), ValueError);
    REQUIRE_THROWS_WITH(loader.load_state({before.generator, 1, past_the_end}),
                        Contains("DataLoader.load_state: batches_yielded must be <= 3 (the "
                                 "batches per epoch), got " +
                                 std::to_string(past_the_end)));
  }
  // check_state refuses the same, and changes nothing either.
  REQUIRE_THROWS_WITH(loader.check_state({before.generator, 1, 4}),
                      Contains("DataLoader.load_state: batches_yielded must be <= 3"));
  loader.check_state({before.generator, 1, 3});
  REQUIRE(loader.epochs_begun() == 1);
  const data::LoaderState after = loader.state();
  REQUIRE(after.generator.state() == before.generator.state());
  REQUIRE(after.epochs_begun == before.epochs_begun);
  REQUIRE(after.batches_yielded == 0);
  REQUIRE(same_batches(epoch_batches(loader), epoch_batches(twin)));
}
