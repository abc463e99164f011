// tapegrad::set_num_threads / num_threads / TAPEGRAD_NUM_THREADS: the limit reaches TBB (so every
// parallel kernel), bad values are refused, and results are the same bits on one and two threads.
#include <catch2/catch.hpp>
#include <tbb/info.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/errors.h"
#include "autograd/generator.h"
#include "autograd/grad_mode.h"
#include "autograd/threads.h"
#include "nn/rnn.h"
#include "ops/kernels/column_sums.h"
#include "ops/ops.h"
#include "thread_test_util.h"

using namespace tapegrad;

namespace {

// Restores TBB's default limit when a test ends, so the other tests of this binary keep two threads.
struct RestoreThreads {
  ~RestoreThreads() { set_num_threads(std::min(kMaxThreads, tbb::info::default_concurrency())); }
};

// Outputs and gradients of an LSTM layer and a matrix product big enough that the kernels split
// their rows over threads (the gate kernels above 65536 positions, matmul above its serial
// cut-off, the bias rows and the bias gradients' column sums above 2^18 floats), at the matmul
// precision given.
std::vector<float> parallel_work(MatmulPrecision precision) {
  const MatmulPrecisionGuard guard(precision);
  Generator gen(3);
  nn::LSTM lstm({.input_size = 16, .hidden_size = 256, .batch_first = true}, gen);
  Tensor x = Tensor::uniform({256, 3, 16}, -1, 1, gen, true);
  Tensor a = Tensor::uniform({300, 200}, -1, 1, gen, true);
  Tensor b = Tensor::uniform({200, 300}, -1, 1, gen, true);
  Tensor out = lstm.forward(x).output;
  Tensor product = matmul(a, b);
  add(sum(mul(out, out)), sum(mul(product, product))).backward();
  std::vector<float> values = out.to_vector();
  const std::vector<Tensor> parameters = lstm.parameters();  // weight_ih, weight_hh, bias_ih, _hh
  for (const Tensor& t : {product, x.grad(), a.grad(), parameters[0].grad(), parameters[1].grad(),
                          parameters[2].grad(), parameters[3].grad()}) {
    const std::vector<float> v = t.to_vector();
    values.insert(values.end(), v.begin(), v.end());
  }
  return values;
}

}  // namespace

TEST_CASE("set_num_threads refuses a count outside [1, 1024], naming it, and keeps the setting",
          "[threads]") {
  RestoreThreads restore;
  set_num_threads(1);
  for (const int bad : {0, -1, kMaxThreads + 1}) {
    try {
      set_num_threads(bad);
      FAIL("set_num_threads(" << bad << ") was accepted");
    } catch (const ValueError& e) {
      const std::string what = e.what();
      CHECK(what.find("set_num_threads") != std::string::npos);
      CHECK(what.find("got " + std::to_string(bad)) != std::string::npos);
    }
  }
  CHECK(num_threads() == 1);
}

TEST_CASE("TAPEGRAD_NUM_THREADS: a whole number in [1, 1024], anything else is named and refused",
          "[threads]") {
  CHECK(detail::threads_from_environment(nullptr) == 0);
  CHECK(detail::threads_from_environment("") == 0);
  CHECK(detail::threads_from_environment("1") == 1);
  CHECK(detail::threads_from_environment("16") == 16);
  CHECK(detail::threads_from_environment("1024") == 1024);
  for (const char* bad : {"0", "-1", "1025", "99999999999", "02", " 2", "2 ", "1e3", "two", "+2", "0x2"}) {
    INFO(bad);
    try {
      (void)detail::threads_from_environment(bad);
      FAIL("accepted");
    } catch (const ValueError& e) {
      const std::string what = e.what();
      CHECK(what.find("TAPEGRAD_NUM_THREADS") != std::string::npos);
      CHECK(what.find(std::string("\"") + bad + "\"") != std::string::npos);
    }
  }
}

TEST_CASE("set_num_threads(1) keeps every TBB arena, the kernels' included, to the calling thread",
          "[threads]") {
  RestoreThreads restore;
  set_num_threads(1);
  CHECK(num_threads() == 1);
  tbb::task_arena arena(2);
  bool ran = false;
  // Two halves that wait for each other can only meet on two threads.
  const testing::TwoThreadMeeting meeting =
      testing::meet_two_threads(arena, std::chrono::milliseconds(200), [&] { ran = true; });
  CHECK_FALSE(meeting.met);
  CHECK_FALSE(ran);
  set_num_threads(2);
  CHECK(num_threads() == std::min(2, tbb::info::default_concurrency()));
}

TEST_CASE("the same bits on one thread and on two: an LSTM layer, a matrix product, their gradients",
          "[threads][two_threads]") {
  const MatmulPrecision precision = GENERATE(MatmulPrecision::float32, MatmulPrecision::bfloat16);
  INFO((precision == MatmulPrecision::bfloat16 ? "bfloat16" : "float32"));
  RestoreThreads restore;
  set_num_threads(1);
  const std::vector<float> one_thread = parallel_work(precision);
  set_num_threads(2);
  std::vector<float> two_threads;
  if (!testing::run_on_two_threads([&] { two_threads = parallel_work(precision); })) return;
  REQUIRE(two_threads.size() == one_thread.size());
  CHECK(two_threads == one_thread);  // bit for bit, not within a tolerance
}

TEST_CASE("column sums split over column ranges give the bits of one thread",
          "[threads][two_threads]") {
  // 3000 x 100: above the 2^18 floats where the sums split, a width that ends in a part chunk.
  Generator gen(17);
  const Tensor values = Tensor::uniform({3000, 100}, -1, 1, gen);
  RestoreThreads restore;
  set_num_threads(1);
  std::vector<float> one_thread(100, 0.25f), two_threads(100, 0.25f), reference(100, 0.25f);
  kernels::add_column_sums(one_thread.data(), values.data(), 3000, 100);
  kernels::add_column_sums_reference(reference.data(), values.data(), 3000, 100);
  for (std::size_t j = 0; j < reference.size(); ++j)
    CHECK(std::fabs(one_thread[j] - reference[j]) < 1e-3);
  set_num_threads(2);
  if (!testing::run_on_two_threads(
          [&] { kernels::add_column_sums(two_threads.data(), values.data(), 3000, 100); })) {
    return;
  }
  CHECK(two_threads == one_thread);
}
