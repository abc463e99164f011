// Synthetic long-lag tasks: shapes, the structure of every sample recomputed from the inputs,
// the input-ignoring baselines measured on many samples, reproducibility per seed, bad arguments.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "data/tasks.h"
#include "test_util.h"

using namespace tapegrad;
using tapegrad::data::adding_problem;
using tapegrad::data::copy_memory;
using tapegrad::data::delayed_sine;

namespace {

double mean_of(const std::vector<double>& values) {
  double total = 0.0;
  for (double v : values) total += v;
  return total / static_cast<double>(values.size());
}

}  // namespace

// ---------------------------------------------------------------- adding problem

TEST_CASE("adding_problem: two markers, one per half, and the target is their values' sum",
          "[tasks][adding]") {
  Generator gen(101);
  for (std::int64_t T : {2, 3, 7, 50}) {
    INFO("T " << T);
    const std::int64_t N = 64;
    const auto task = adding_problem(N, T, gen);
    REQUIRE(task.inputs.shape() == Shape{N, T, 2});
    REQUIRE(task.targets.shape() == Shape{N, 1});
    const std::int64_t half = T / 2;
    for (std::int64_t n = 0; n < N; ++n) {
      std::vector<std::int64_t> marked;
      double expected = 0.0;
      for (std::int64_t t = 0; t < T; ++t) {
        const float value = task.inputs.at({n, t, 0});
        const float marker = task.inputs.at({n, t, 1});
        REQUIRE(value >= 0.0f);
        REQUIRE(value < 1.0f);
        REQUIRE((marker == 0.0f || marker == 1.0f));
        if (marker == 1.0f) {
          marked.push_back(t);
          expected += value;
        }
      }
      REQUIRE(marked.size() == 2);
      REQUIRE(marked[0] < half);
      REQUIRE(marked[1] >= half);
      REQUIRE(task.targets.at({n, 0}) == Approx(expected).epsilon(1e-6));
    }
  }
}

TEST_CASE("adding_problem: marker positions are uniform within each half", "[tasks][adding]") {
  Generator gen(102);
  const std::int64_t N = 8000, T = 10;
  const auto task = adding_problem(N, T, gen);
  std::vector<double> counts(T, 0.0);
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t t = 0; t < T; ++t) counts[t] += task.inputs.at({n, t, 1});
  }
  // Each of the 5 positions of a half expects N/5 = 1600 hits, binomial sd about 36.
  for (std::int64_t t = 0; t < T; ++t) {
    INFO("step " << t);
    REQUIRE(counts[t] == Approx(N / 5.0).margin(200.0));
  }
}

TEST_CASE("adding_problem: predicting the mean scores MSE 1/6, the documented baseline",
          "[tasks][adding]") {
  Generator gen(103);
  const std::int64_t N = 40000;
  const auto task = adding_problem(N, 8, gen);
  REQUIRE(task.baseline_mse == Approx(1.0 / 6.0));
  std::vector<double> sums(N), squared_errors(N);
  for (std::int64_t n = 0; n < N; ++n) {
    sums[n] = task.targets.data()[n];
    squared_errors[n] = (sums[n] - 1.0) * (sums[n] - 1.0);  // a model that always outputs 1
  }
  // Sum of two U(0,1): mean 1, variance 1/6; the sd of these estimates is below 0.002.
  REQUIRE(mean_of(sums) == Approx(1.0).margin(0.01));
  REQUIRE(mean_of(squared_errors) == Approx(task.baseline_mse).margin(0.008));
}

TEST_CASE("adding_problem: the same seed gives the same data, another seed other data",
          "[tasks][adding]") {
  Generator first(7), second(7), other(8);
  const auto a = adding_problem(16, 20, first);
  const auto b = adding_problem(16, 20, second);
  const auto c = adding_problem(16, 20, other);
  REQUIRE(a.inputs.to_vector() == b.inputs.to_vector());
  REQUIRE(a.targets.to_vector() == b.targets.to_vector());
  REQUIRE(a.inputs.to_vector() != c.inputs.to_vector());
  // The generator advances: a second draw is a new dataset.
  REQUIRE(adding_problem(16, 20, first).inputs.to_vector() != a.inputs.to_vector());
}

TEST_CASE("adding_problem: bad sizes throw ValueError naming the function and the value",
          "[tasks][adding]") {
  Generator gen(104);
  REQUIRE_THROWS_AS(adding_problem(0, 10, gen), ValueError);
  REQUIRE_THROWS_AS(adding_problem(-3, 10, gen), ValueError);
  REQUIRE_THROWS_AS(adding_problem(4, 1, gen), ValueError);
  REQUIRE_THROWS_AS(adding_problem(4, 0, gen), ValueError);
  REQUIRE_THROWS_AS(adding_problem(4, -5, gen), ValueError);
  REQUIRE_THROWS_WITH(adding_problem(0, 10, gen),
                      Catch::Contains("adding_problem") && Catch::Contains("N = 0"));
  REQUIRE_THROWS_WITH(adding_problem(4, 1, gen),
                      Catch::Contains("adding_problem") && Catch::Contains("T = 1"));
}

// ---------------------------------------------------------------- copy memory

TEST_CASE("copy_memory: symbols, blanks, delimiter, then the symbols again as targets",
          "[tasks][copy]") {
  Generator gen(201);
  struct Case {
    std::int64_t delay, K, S;
  };
  for (const Case c : {Case{0, 8, 10}, Case{5, 3, 4}, Case{30, 1, 1}, Case{12, 8, 10}}) {
    INFO("delay " << c.delay << ", K " << c.K << ", S " << c.S);
    const std::int64_t N = 20;
    const auto task = copy_memory(N, c.delay, c.K, c.S, gen);
    const std::int64_t T = 2 * c.S + c.delay + 1;
    const std::int64_t classes = c.K + 2;
    REQUIRE(task.num_classes == classes);
    REQUIRE(task.sequence_length == c.S);
    REQUIRE(task.inputs.shape() == Shape{N, T, classes});
    REQUIRE(task.targets.size() == static_cast<std::size_t>(N * T));
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t t = 0; t < T; ++t) {
        // Decode the one-hot row: exactly one 1, the rest 0.
        std::int64_t hot = -1, ones = 0;
        for (std::int64_t k = 0; k < classes; ++k) {
          const float v = task.inputs.at({n, t, k});
          REQUIRE((v == 0.0f || v == 1.0f));
          if (v == 1.0f) {
            hot = k;
            ++ones;
          }
        }
        REQUIRE(ones == 1);
        const std::int64_t target = task.targets[static_cast<std::size_t>(n * T + t)];
        if (t < c.S) {
          REQUIRE(hot >= 1);
          REQUIRE(hot <= c.K);
          REQUIRE(target == 0);
        } else if (t == c.S + c.delay) {
          REQUIRE(hot == c.K + 1);
          REQUIRE(target == 0);
        } else {
          REQUIRE(hot == 0);
        }
        if (t >= T - c.S) {
          // The symbol read S + delay + 1 steps earlier, in order.
          const std::int64_t source = t - (T - c.S);
          REQUIRE(task.inputs.at({n, source, target}) == 1.0f);
          REQUIRE(target >= 1);
          REQUIRE(target <= c.K);
        } else {
          REQUIRE(target == 0);
        }
      }
    }
  }
}

TEST_CASE("copy_memory: the default overload is the paper's 8 symbols and length 10",
          "[tasks][copy]") {
  Generator first(202), second(202);
  const auto by_default = copy_memory(4, 99, first);
  const auto explicit_args = copy_memory(4, 99, 8, 10, second);
  REQUIRE(by_default.inputs.shape() == Shape{4, 120, 10});  // the paper's T = 100: length T + 20
  REQUIRE(by_default.inputs.to_vector() == explicit_args.inputs.to_vector());
  REQUIRE(by_default.targets == explicit_args.targets);
  // 10 ln 8 / 120, the baseline the paper quotes for T = 100.
  REQUIRE(by_default.baseline_cross_entropy == Approx(0.17328679513998632));
}

TEST_CASE("copy_memory: the baseline equals the measured cross-entropy of blanks then a guess",
          "[tasks][copy]") {
  Generator gen(203);
  for (std::int64_t K : {2, 5, 8}) {
    INFO("K " << K);
    const std::int64_t N = 50, delay = 17, S = 6;
    const auto task = copy_memory(N, delay, K, S, gen);
    const std::int64_t T = 2 * S + delay + 1;
    // The baseline predictor: blank with probability 1 before the last S steps, uniform over the
    // K symbols (never blank or delimiter) on them. Its mean negative log-likelihood per step:
    double total = 0.0;
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t t = 0; t < T; ++t) {
        const std::int64_t target = task.targets[static_cast<std::size_t>(n * T + t)];
        const double p = t < T - S ? (target == 0 ? 1.0 : 0.0)
                                   : (target >= 1 && target <= K ? 1.0 / double(K) : 0.0);
        REQUIRE(p > 0.0);
        total -= std::log(p);
      }
    }
    REQUIRE(task.baseline_cross_entropy == Approx(total / double(N * T)).epsilon(1e-9));
  }
}

TEST_CASE("copy_memory: symbols are uniform over 1..K", "[tasks][copy]") {
  Generator gen(204);
  const std::int64_t N = 2000, K = 4, S = 5;
  const auto task = copy_memory(N, 0, K, S, gen);
  const std::int64_t T = 2 * S + 1;
  std::vector<double> counts(K + 2, 0.0);
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t t = T - S; t < T; ++t) counts[task.targets[n * T + t]] += 1.0;
  }
  REQUIRE(counts[0] == 0.0);
  REQUIRE(counts[K + 1] == 0.0);
  // N*S/K = 2500 expected per symbol, binomial sd about 43.
  for (std::int64_t k = 1; k <= K; ++k) REQUIRE(counts[k] == Approx(2500.0).margin(250.0));
}

TEST_CASE("copy_memory: reproducible by seed", "[tasks][copy]") {
  Generator first(9), second(9), other(10);
  const auto a = copy_memory(8, 15, first);
  const auto b = copy_memory(8, 15, second);
  const auto c = copy_memory(8, 15, other);
  REQUIRE(a.inputs.to_vector() == b.inputs.to_vector());
  REQUIRE(a.targets == b.targets);
  REQUIRE(a.targets != c.targets);
}

TEST_CASE("copy_memory: bad arguments throw ValueError naming the function and the value",
          "[tasks][copy]") {
  Generator gen(205);
  REQUIRE_THROWS_AS(copy_memory(0, 10, gen), ValueError);
  REQUIRE_THROWS_AS(copy_memory(-1, 10, gen), ValueError);
  REQUIRE_THROWS_AS(copy_memory(4, -1, gen), ValueError);
  REQUIRE_THROWS_AS(copy_memory(4, 10, 0, 10, gen), ValueError);
  REQUIRE_THROWS_AS(copy_memory(4, 10, 8, 0, gen), ValueError);
  REQUIRE_THROWS_AS(copy_memory(4, 10, 8, -2, gen), ValueError);
  REQUIRE_THROWS_WITH(copy_memory(0, 10, gen),
                      Catch::Contains("copy_memory") && Catch::Contains("N = 0"));
  REQUIRE_THROWS_WITH(copy_memory(4, -1, gen),
                      Catch::Contains("copy_memory") && Catch::Contains("delay = -1"));
  REQUIRE_THROWS_WITH(copy_memory(4, 10, 0, 10, gen),
                      Catch::Contains("copy_memory") && Catch::Contains("num_symbols = 0"));
  REQUIRE_THROWS_WITH(copy_memory(4, 10, 8, 0, gen),
                      Catch::Contains("copy_memory") && Catch::Contains("sequence_length = 0"));
}

// ---------------------------------------------------------------- delayed sine

TEST_CASE("delayed_sine: the target is the input lag steps before the end", "[tasks][sine]") {
  Generator gen(301);
  const std::int64_t N = 12, T = 25;
  for (std::int64_t lag : {0, 1, 10, 24}) {
    INFO("lag " << lag);
    const auto task = delayed_sine(N, T, lag, gen);
    REQUIRE(task.inputs.shape() == Shape{N, T, 1});
    REQUIRE(task.targets.shape() == Shape{N, 1});
    REQUIRE(testing::all_finite(task.inputs));
    for (std::int64_t n = 0; n < N; ++n) {
      REQUIRE(task.targets.at({n, 0}) == task.inputs.at({n, T - 1 - lag, 0}));
    }
  }
}

TEST_CASE("delayed_sine: without noise each sample is a sine of 0.2 to 0.6 rad per step",
          "[tasks][sine]") {
  Generator gen(302);
  const std::int64_t N = 50, T = 40;
  const auto task = delayed_sine(N, T, 3, gen, /*noise_std=*/0.0f);
  for (std::int64_t n = 0; n < N; ++n) {
    // A sampled sine obeys x[t+1] + x[t-1] = 2 cos(omega) x[t]; fit cos(omega) by least squares.
    double num = 0.0, den = 0.0, peak = 0.0;
    for (std::int64_t t = 1; t + 1 < T; ++t) {
      const double prev = task.inputs.at({n, t - 1, 0});
      const double here = task.inputs.at({n, t, 0});
      const double next = task.inputs.at({n, t + 1, 0});
      num += (prev + next) * here;
      den += 2.0 * here * here;
      peak = std::max(peak, std::abs(here));
    }
    const double cos_omega = num / den;
    REQUIRE(cos_omega <= std::cos(0.2) + 1e-4);
    REQUIRE(cos_omega >= std::cos(0.6) - 1e-4);
    double worst = 0.0;
    for (std::int64_t t = 1; t + 1 < T; ++t) {
      const double residual = task.inputs.at({n, t - 1, 0}) + task.inputs.at({n, t + 1, 0}) -
                              2.0 * cos_omega * task.inputs.at({n, t, 0});
      worst = std::max(worst, std::abs(residual));
    }
    REQUIRE(worst < 1e-4);
    REQUIRE(peak <= 1.0);
    REQUIRE(peak > 0.9);  // 40 steps cover more than one period, so the peak is reached closely
  }
}

TEST_CASE("delayed_sine: the noise is N(0, noise_std^2) on top of the same sines",
          "[tasks][sine]") {
  Generator clean_gen(303), noisy_gen(303);
  const std::int64_t N = 200, T = 50;
  const auto clean = delayed_sine(N, T, 5, clean_gen, 0.0f);
  const auto noisy = delayed_sine(N, T, 5, noisy_gen, 0.25f);
  std::vector<double> noise(N * T), noise_squared(N * T);
  for (std::int64_t i = 0; i < N * T; ++i) {
    noise[i] = double(noisy.inputs.data()[i]) - double(clean.inputs.data()[i]);
    noise_squared[i] = noise[i] * noise[i];
  }
  // 10000 draws: sd of the mean 0.0025, of the mean square about 0.0009.
  REQUIRE(mean_of(noise) == Approx(0.0).margin(0.015));
  REQUIRE(mean_of(noise_squared) == Approx(0.0625).margin(0.006));
}

TEST_CASE("delayed_sine: predicting 0 scores MSE 0.5 + noise_std^2, the documented baseline",
          "[tasks][sine]") {
  Generator gen(304);
  const std::int64_t N = 40000;
  const float noise_std = 0.3f;
  const auto task = delayed_sine(N, 16, 4, gen, noise_std);
  REQUIRE(task.baseline_mse == Approx(0.5 + 0.09).epsilon(1e-6));
  std::vector<double> targets(N), squared(N);
  for (std::int64_t n = 0; n < N; ++n) {
    targets[n] = task.targets.data()[n];
    squared[n] = targets[n] * targets[n];
  }
  // sd of the mean square about 0.002, of the mean about 0.004.
  REQUIRE(mean_of(targets) == Approx(0.0).margin(0.02));
  REQUIRE(mean_of(squared) == Approx(task.baseline_mse).margin(0.015));
}

TEST_CASE("delayed_sine: reproducible by seed", "[tasks][sine]") {
  Generator first(11), second(11), other(12);
  const auto a = delayed_sine(6, 30, 7, first);
  const auto b = delayed_sine(6, 30, 7, second);
  const auto c = delayed_sine(6, 30, 7, other);
  REQUIRE(a.inputs.to_vector() == b.inputs.to_vector());
  REQUIRE(a.targets.to_vector() == b.targets.to_vector());
  REQUIRE(a.inputs.to_vector() != c.inputs.to_vector());
}

TEST_CASE("delayed_sine: bad arguments throw ValueError naming the function and the value",
          "[tasks][sine]") {
  Generator gen(305);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  REQUIRE_THROWS_AS(delayed_sine(0, 10, 2, gen), ValueError);
  REQUIRE_THROWS_AS(delayed_sine(-1, 10, 2, gen), ValueError);
  REQUIRE_THROWS_AS(delayed_sine(4, 0, 0, gen), ValueError);
  REQUIRE_THROWS_AS(delayed_sine(4, 10, -1, gen), ValueError);
  REQUIRE_THROWS_AS(delayed_sine(4, 10, 10, gen), ValueError);
  REQUIRE_THROWS_AS(delayed_sine(4, 10, 2, gen, -0.1f), ValueError);
  REQUIRE_THROWS_AS(delayed_sine(4, 10, 2, gen, nan), ValueError);
  REQUIRE_THROWS_AS(delayed_sine(4, 10, 2, gen, inf), ValueError);
  REQUIRE_NOTHROW(delayed_sine(4, 10, 9, gen));  // the first step is the furthest allowed
  REQUIRE_NOTHROW(delayed_sine(1, 1, 0, gen));
  REQUIRE_THROWS_WITH(delayed_sine(0, 10, 2, gen),
                      Catch::Contains("delayed_sine") && Catch::Contains("N = 0"));
  REQUIRE_THROWS_WITH(delayed_sine(4, 0, 0, gen),
                      Catch::Contains("delayed_sine") && Catch::Contains("T = 0"));
  REQUIRE_THROWS_WITH(delayed_sine(4, 10, 10, gen),
                      Catch::Contains("delayed_sine") && Catch::Contains("lag = 10") &&
                          Catch::Contains("T = 10"));
  REQUIRE_THROWS_WITH(delayed_sine(4, 10, 2, gen, -0.1f),
                      Catch::Contains("delayed_sine") && Catch::Contains("noise_std"));
}

TEST_CASE("task generators refuse sizes too large for a tensor", "[tasks][shape]") {
  Generator generator(3);
  const std::int64_t huge = std::numeric_limits<std::int64_t>::max();
  // T = 2 * S + delay + 1 and N * T overflowed, and sized the class buffers wrongly.
  REQUIRE_THROWS_AS(copy_memory(2, huge, generator), ShapeError);
  REQUIRE_THROWS_WITH(copy_memory(2, huge, generator), Catch::StartsWith("copy_memory: "));
  REQUIRE_THROWS_AS(copy_memory(std::int64_t{1} << 40, 1000, generator), ShapeError);
  REQUIRE_THROWS_WITH(copy_memory(std::int64_t{1} << 40, 1000, generator),
                      Catch::StartsWith("copy_memory: shape [1099511627776, 1021, 10]"));
  REQUIRE_THROWS_WITH(adding_problem(std::int64_t{1} << 62, 4, generator),
                      Catch::StartsWith("adding_problem: shape [4611686018427387904, 4, 2]"));
  REQUIRE_THROWS_WITH(delayed_sine(std::int64_t{1} << 62, 4, 0, generator),
                      Catch::StartsWith("delayed_sine: shape [4611686018427387904, 4, 1]"));
}
