#pragma once
// Helpers shared by the tests of the shape, reduction and indexing ops.
#include <algorithm>
#include <cstdint>
#include <limits>
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

// The int64 value wide_ids holds at flat offset `offset`: INT64_MIN, INT64_MAX, then 2^53 + 1,
// 2^53 + 2, ... Neither float nor double holds 2^53 + 1 (9007199254740993) or the odd ones after
// it, so any float round trip in a data-movement op changes values, and neighbours differ in
// the lowest bit only.
inline std::int64_t wide_id(std::int64_t offset) {
  if (offset == 0) return std::numeric_limits<std::int64_t>::min();
  if (offset == 1) return std::numeric_limits<std::int64_t>::max();
  return (std::int64_t{1} << 53) + offset - 1;
}

// An int64 tensor of `shape` with wide_id(i) at flat offset i.
inline Tensor wide_ids(const Shape& shape) {
  std::vector<std::int64_t> values(static_cast<std::size_t>(numel_of(shape)));
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = wide_id(static_cast<std::int64_t>(i));
  return Tensor::from_vector_i64(values, shape);
}

// `ids_out` is a data-movement op applied to wide_ids(shape) and `offsets_out` the same op applied
// to iota(shape): the int64 result must have the same shape, hold exactly wide_id(k) wherever the
// float one holds offset k, and carry no gradient.
inline void require_moved_exactly(const Tensor& ids_out, const Tensor& offsets_out) {
  REQUIRE(ids_out.dtype() == Dtype::int64);
  REQUIRE(ids_out.shape() == offsets_out.shape());
  REQUIRE_FALSE(ids_out.requires_grad());
  REQUIRE(ids_out.grad_fn() == nullptr);
  const std::vector<float> offsets = offsets_out.to_vector();
  std::vector<std::int64_t> expected(offsets.size());
  for (std::size_t i = 0; i < offsets.size(); ++i)
    expected[i] = wide_id(static_cast<std::int64_t>(offsets[i]));
  REQUIRE(ids_out.to_vector_i64() == expected);
}

}  // namespace tapegrad::testing

// The exception has the given type and its message starts with "<op>:".
#define REQUIRE_THROWS_NAMING(expr, type, op)                            \
  do {                                                                   \
    REQUIRE_THROWS_AS(expr, type);                                       \
    REQUIRE_THROWS_WITH(expr, Catch::StartsWith(std::string(op) + ":")); \
  } while (0)
