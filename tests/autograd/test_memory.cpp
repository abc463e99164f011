// The tensor memory cache (autograd/memory.h), observed through its gauges: a freed block serves
// the next request of its size class, empty_cache and the limit give memory back, a refused
// allocation empties the cache and retries, and concurrent threads never share a block.
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "autograd/memory.h"
#include "kernels/thread_test_util.h"
#include "nn/layers.h"
#include "nn/rnn.h"
#include "ops/losses.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

using namespace tapegrad;

namespace {

constexpr std::int64_t kMiB = std::int64_t{1} << 20;

// Each test starts from an empty cache with caching on (sanitizer builds default to a limit of
// 0, i.e. no caching), and leaves the limit and an empty cache behind.
class CacheScope {
 public:
  explicit CacheScope(std::int64_t limit = std::int64_t{1} << 30)
      : previous_limit_(memory_cache_limit()) {
    empty_cache();
    set_memory_cache_limit(limit);
  }
  ~CacheScope() {
    set_memory_cache_limit(previous_limit_);
    empty_cache();
  }
  CacheScope(const CacheScope&) = delete;
  CacheScope& operator=(const CacheScope&) = delete;

 private:
  std::int64_t previous_limit_;
};

}  // namespace

TEST_CASE("a freed block serves the next request of its size class", "[memory]") {
  const CacheScope scope;
  const MemoryStats start = memory_stats();
  const float* first_data = nullptr;
  {
    Tensor t = Tensor::empty({64, 512});  // 128 KiB, a class size exactly
    first_data = t.data();
    REQUIRE(memory_allocated() == start.allocated_bytes + 128 * 1024);
    REQUIRE(memory_reserved() == start.reserved_bytes + 128 * 1024);
  }
  const MemoryStats freed = memory_stats();
  REQUIRE(freed.allocated_bytes == start.allocated_bytes);
  REQUIRE(freed.cached_bytes == start.cached_bytes + 128 * 1024);
  REQUIRE(freed.reserved_bytes == start.reserved_bytes + 128 * 1024);  // kept, not returned

  // 64 x 500 floats (128,000 bytes) rounds up to the same 128 KiB class: same block, no new memory.
  Tensor again = Tensor::empty({64, 500});
  const MemoryStats reused = memory_stats();
  REQUIRE(again.data() == first_data);
  REQUIRE(reused.cache_hits == freed.cache_hits + 1);
  REQUIRE(reused.cache_misses == freed.cache_misses);
  REQUIRE(reused.reserved_bytes == freed.reserved_bytes);
  REQUIRE(reused.cached_bytes == start.cached_bytes);
  REQUIRE(reused.allocated_bytes == start.allocated_bytes + 64 * 500 * 4);  // as requested

  // A different class does not take it.
  Tensor other = Tensor::empty({64, 1024});
  REQUIRE(memory_stats().cache_misses == freed.cache_misses + 1);
}

TEST_CASE("buffers under 8 KiB bypass the cache but count in the gauges", "[memory]") {
  const CacheScope scope;
  const MemoryStats start = memory_stats();
  {
    Tensor small = Tensor::empty({1000});  // 4,000 bytes
    REQUIRE(memory_allocated() == start.allocated_bytes + 4000);
    REQUIRE(memory_reserved() == start.reserved_bytes + 4000);
  }
  const MemoryStats end = memory_stats();
  REQUIRE(end.allocated_bytes == start.allocated_bytes);
  REQUIRE(end.reserved_bytes == start.reserved_bytes);
  REQUIRE(end.cached_bytes == start.cached_bytes);
  REQUIRE(end.cache_hits + end.cache_misses == start.cache_hits + start.cache_misses);
}

TEST_CASE("training steps after the first reuse the cache for every buffer", "[memory]") {
  const CacheScope scope;
  // One thread: with two, the number of matmul packing buffers alive at once (one per running
  // block) would depend on scheduling, and so would the cache's high-water mark.
  tbb::task_arena arena(1);
  arena.execute([] {
    Generator gen(3);
    nn::LSTM lstm({.input_size = 8, .hidden_size = 32, .batch_first = true}, gen);  // gates 80 KiB
    nn::Linear head({.in_features = 32, .out_features = 1}, gen);
    std::vector<Tensor> params = lstm.parameters();
    for (const Tensor& p : head.parameters()) params.push_back(p);
    optim::Adam adam(params, {.lr = 1e-3f});
    const Tensor x = Tensor::normal({16, 10, 8}, 0, 1, gen);
    const Tensor y = Tensor::normal({16, 1}, 0, 1, gen);
    auto step = [&] {
      adam.zero_grad();
      Tensor loss = mse_loss(head.forward(select(lstm.forward(x).output, 1, -1)), y);
      loss.backward();
      adam.step();
    };
    step();  // creates grads and Adam's state
    step();
    const MemoryStats warm = memory_stats();
    reset_peak_memory_stats();
    for (int i = 0; i < 3; ++i) step();
    const MemoryStats after = memory_stats();
    REQUIRE(after.cache_hits > warm.cache_hits);     // the step does use cached sizes
    REQUIRE(after.cache_misses == warm.cache_misses);  // and never needs new memory for them
    REQUIRE(after.reserved_bytes == warm.reserved_bytes);
    REQUIRE(after.allocated_bytes == warm.allocated_bytes);
    // What the cache holds stays within the step's own peak plus class rounding.
    REQUIRE(static_cast<double>(after.peak_reserved_bytes) <=
            1.5 * static_cast<double>(after.peak_allocated_bytes));
  });
}

TEST_CASE("empty_cache returns every cached block and leaves live ones", "[memory]") {
  const CacheScope scope;
  Tensor live = Tensor::empty({256, 256});
  {
    std::vector<Tensor> temporaries;
    for (int i = 1; i <= 4; ++i) temporaries.push_back(Tensor::empty({i * 10000}));
  }
  const MemoryStats before = memory_stats();
  REQUIRE(before.cached_bytes > 0);
  empty_cache();
  const MemoryStats after = memory_stats();
  REQUIRE(after.cached_bytes == 0);
  REQUIRE(after.reserved_bytes == before.reserved_bytes - before.cached_bytes);
  REQUIRE(after.allocated_bytes == before.allocated_bytes);
  live.data()[256 * 256 - 1] = 1.0f;  // still its own memory (ASan would see otherwise)
  REQUIRE(live.data()[256 * 256 - 1] == 1.0f);
}

TEST_CASE("the limit caps the bytes held, never a live allocation", "[memory]") {
  const CacheScope scope(0);
  const std::int64_t base = memory_reserved();
  const std::int64_t limit = base + kMiB;
  set_memory_cache_limit(limit);
  REQUIRE(memory_cache_limit() == limit);
  {
    std::vector<Tensor> live;
    for (int i = 0; i < 4; ++i) live.push_back(Tensor::empty({128 * 1024}));  // 512 KiB each
    REQUIRE(memory_reserved() == base + 2 * kMiB);  // over the limit: live memory is never refused
  }
  // Freed in order: the first two found reserved above the limit and went back to the system.
  MemoryStats s = memory_stats();
  REQUIRE(s.reserved_bytes == limit);
  REQUIRE(s.cached_bytes == kMiB);

  // A request that cannot fit beside the cache makes it give blocks back first.
  {
    Tensor big = Tensor::empty({512 * 1024});  // 2 MiB
    s = memory_stats();
    REQUIRE(s.cached_bytes == 0);
    REQUIRE(s.reserved_bytes == base + 2 * kMiB);
  }
  REQUIRE(memory_reserved() == base);  // freed above the limit: not kept

  // Lowering the limit returns cached blocks at once; 0 turns caching off.
  { Tensor t = Tensor::empty({128 * 1024}); }
  REQUIRE(memory_stats().cached_bytes == 512 * 1024);
  set_memory_cache_limit(0);
  REQUIRE(memory_stats().cached_bytes == 0);
  { Tensor t = Tensor::empty({128 * 1024}); }
  REQUIRE(memory_stats().cached_bytes == 0);
  REQUIRE(memory_reserved() == base);
}

TEST_CASE("set_memory_cache_limit refuses a negative limit", "[memory]") {
  const CacheScope scope;
  REQUIRE_THROWS_AS(set_memory_cache_limit(-1), ValueError);
  REQUIRE_THROWS_WITH(set_memory_cache_limit(-1),
                      "set_memory_cache_limit: expected a limit >= 0 bytes, got -1");
  REQUIRE(memory_cache_limit() == std::int64_t{1} << 30);  // unchanged
}

TEST_CASE("a refused allocation empties the cache, retries once, then names shape and bytes",
          "[memory]") {
  const CacheScope scope(std::int64_t{1} << 50);  // so the limit itself frees nothing
  { Tensor t = Tensor::empty({64, 512}); }
  const MemoryStats before = memory_stats();
  REQUIRE(before.cached_bytes > 0);
  // 2^47 bytes: the whole user address space, refused by any allocator (see test_shapes.cpp).
  try {
    Tensor::empty({max_numel});
    FAIL("allocating 2^47 bytes succeeded");
  } catch (const OutOfMemoryError& error) {
    REQUIRE(std::string(error.what()) == "tensor: cannot allocate [" + std::to_string(max_numel) +
                                             "] (" + std::to_string(max_numel * 4) + " bytes)");
  }
  const MemoryStats after = memory_stats();
  REQUIRE(after.alloc_retries == before.alloc_retries + 1);
  REQUIRE(after.cached_bytes == 0);  // emptied for the retry
  REQUIRE(after.allocated_bytes == before.allocated_bytes);
  REQUIRE(after.reserved_bytes == before.reserved_bytes - before.cached_bytes);
}

TEST_CASE("peak gauges keep the high-water mark until reset", "[memory]") {
  const CacheScope scope;
  reset_peak_memory_stats();
  const std::int64_t base = memory_allocated();
  REQUIRE(max_memory_allocated() == base);
  { Tensor t = Tensor::empty({1024, 1024}); }  // 4 MiB
  REQUIRE(memory_allocated() == base);
  REQUIRE(max_memory_allocated() == base + 4 * kMiB);
  REQUIRE(max_memory_reserved() >= memory_reserved());
  reset_peak_memory_stats();
  REQUIRE(max_memory_allocated() == base);
  REQUIRE(max_memory_reserved() == memory_reserved());
}

TEST_CASE("two threads allocating and freeing never share a block", "[memory][two_threads]") {
  const CacheScope scope;
  const MemoryStats start = memory_stats();
  std::thread::id ran_on[2];
  std::atomic<int> arrived{0}, failures{0};
  std::atomic<bool> met{false};
  const bool two = testing::run_on_two_threads([&] {
    tbb::parallel_for(
        0, 2,
        [&](int half) {
          ran_on[half] = std::this_thread::get_id();
          // Both halves start together, so their loops overlap in time.
          ++arrived;
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
          while (arrived.load() < 2 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::yield();
          }
          if (arrived.load() == 2) met = true;
          // Sizes from 3 classes, 4 live at a time: each block gets a value of its own, checked
          // before it is freed, so a block handed to both threads at once shows the other's.
          std::vector<std::pair<Tensor, float>> held;
          for (int i = 0; i < 3000; ++i) {
            const std::int64_t n = 2048 + 1024 * (i % 3);
            Tensor t = Tensor::empty({n});
            const float mark = static_cast<float>(half * 100000 + i);
            for (std::int64_t k = 0; k < n; k += 64) t.data()[k] = mark;
            held.emplace_back(t, mark);
            if (held.size() == 4) {
              const auto& [oldest, oldest_mark] = held.front();
              for (std::int64_t k = 0; k < oldest.numel(); k += 64) {
                if (oldest.data()[k] != oldest_mark) failures.fetch_add(1);
              }
              held.erase(held.begin());
            }
          }
        },
        tbb::simple_partitioner());
  });
  if (!two) return;
  if (!met.load()) {
    WARN("SKIPPED: the two halves did not run at the same time, so this tested one thread");
    return;
  }
  REQUIRE(ran_on[0] != ran_on[1]);  // both halves alive at once: two threads
  REQUIRE(failures.load() == 0);
  const MemoryStats end = memory_stats();
  REQUIRE(end.allocated_bytes == start.allocated_bytes);
  // Every block is either back in the cache or was never taken: live class-size bytes unchanged.
  REQUIRE(end.reserved_bytes - end.cached_bytes == start.reserved_bytes - start.cached_bytes);
  REQUIRE(end.cache_hits > start.cache_hits);
}

TEST_CASE("a buffer made on a thread that has ended still counts, and its free too",
          "[memory]") {
  const CacheScope scope;
  const std::int64_t start = memory_allocated();
  Tensor from_thread;
  std::thread([&] { from_thread = Tensor::empty({1000}); }).join();  // 4,000 bytes, unpublished
  REQUIRE(memory_allocated() == start + 4000);
  REQUIRE(max_memory_allocated() >= start + 4000);
  from_thread = Tensor();
  REQUIRE(memory_allocated() == start);
}

#ifdef TEST_ASAN
TEST_CASE("in ASan builds cached blocks and class tails stay poisoned", "[memory]") {
  const CacheScope scope;
  const float* stale = nullptr;
  {
    Tensor t = Tensor::empty({2049});  // 8,196 bytes in a 9,216-byte class
    REQUIRE(__asan_address_is_poisoned(t.data() + 2048) == 0);
    REQUIRE(__asan_address_is_poisoned(t.data() + 2049) != 0);  // past the request
    stale = t.data();
  }
  REQUIRE(memory_stats().cached_bytes > 0);
  REQUIRE(__asan_address_is_poisoned(stale) != 0);  // cached, so a use after free is caught
}
#endif
