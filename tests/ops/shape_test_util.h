#pragma once
// Helpers shared by the tests of the shape, reduction and indexing ops.
#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "autograd/tensor.h"
#include "test_util.h"

namespace tapegrad::testing {

// 0, 1, 2, ... in row-major order: element values equal their flat offsets, so an expected
// value can be written as the offset formula of its source index.
inline Tensor iota(const Shape& shape, bool requires_grad = false) {
  const std::int64_t n = numel_of(shape);
  std::vector<float> values(static_cast<std::size_t>(n));
  std::iota(values.begin(), values.end(), 0.0f);
  return Tensor::from_vector(values, shape, requires_grad);
}

// Random values for gradchecks.
inline Tensor random_input(const Shape& shape, std::uint64_t seed = 7) {
  Generator generator(seed);
  return Tensor::uniform(shape, -1.0f, 1.0f, generator, /*requires_grad=*/true);
}

// Distinct values at least 0.1 apart in shuffled order, so a max/argmax cannot flip under a
// gradcheck's perturbation (eps 1e-3) and ties are impossible.
inline Tensor distinct_input(const Shape& shape, std::uint64_t seed = 7) {
  const std::int64_t n = numel_of(shape);
  std::vector<float> values(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    values[static_cast<std::size_t>(i)] = 0.1f * static_cast<float>(i) - 1.0f;
  std::mt19937_64 engine(seed);
  std::shuffle(values.begin(), values.end(), engine);
  return Tensor::from_vector(values, shape, /*requires_grad=*/true);
}

}  // namespace tapegrad::testing

// The exception has the given type and its message starts with "<op>:".
#define REQUIRE_THROWS_NAMING(expr, type, op)                            \
  do {                                                                   \
    REQUIRE_THROWS_AS(expr, type);                                       \
    REQUIRE_THROWS_WITH(expr, Catch::StartsWith(std::string(op) + ":")); \
  } while (0)
