// Checked shape arithmetic (issue 8, item 1): a shape whose element count overflows int64, or is
// too large for any tensor (max_numel), is a ShapeError naming the factory and the shape before
// anything is allocated; an allocation that fails is an OutOfMemoryError naming shape and bytes.
#include <fstream>
#include <limits>
#include <new>
#include <string>

#include "test_util.h"

using namespace tapegrad;

namespace {

// (2^61 + 1) * 8 wraps to 8 in int64: the shape of issue 8, which main took for 8 elements.
const Shape kWrapsToEight{(std::int64_t{1} << 61) + 1, 8};
const std::string kWrapsToEightText = "[2305843009213693953, 8]";

// "<op>: ..." naming the shape somewhere in the message.
Catch::Matchers::StdString::StartsWithMatcher names_op(const std::string& op) {
  return Catch::StartsWith(op + ": ");
}

}  // namespace

#define REQUIRE_SHAPE_ERROR(expr, op, shape_text)                                        \
  do {                                                                                   \
    REQUIRE_THROWS_AS(expr, ShapeError);                                                 \
    REQUIRE_THROWS_WITH(expr, names_op(op) && Catch::Contains(std::string(shape_text))); \
  } while (0)

TEST_CASE("factories refuse a shape whose element count overflows int64", "[tensor][shape]") {
  Generator generator(1);
  REQUIRE_SHAPE_ERROR(Tensor::zeros(kWrapsToEight), "zeros", kWrapsToEightText);
  REQUIRE_SHAPE_ERROR(Tensor::ones(kWrapsToEight), "ones", kWrapsToEightText);
  REQUIRE_SHAPE_ERROR(Tensor::empty(kWrapsToEight), "empty", kWrapsToEightText);
  REQUIRE_SHAPE_ERROR(Tensor::full(kWrapsToEight, 2.0f), "full", kWrapsToEightText);
  REQUIRE_SHAPE_ERROR(Tensor::from_vector(std::vector<float>(8, 1.0f), kWrapsToEight),
                      "from_vector", kWrapsToEightText);
  REQUIRE_SHAPE_ERROR(Tensor::uniform(kWrapsToEight, 0.0f, 1.0f, generator), "uniform",
                      kWrapsToEightText);
  REQUIRE_SHAPE_ERROR(Tensor::normal(kWrapsToEight, 0.0f, 1.0f, generator), "normal",
                      kWrapsToEightText);
  // A product that passes through zero on the way (2^62 * 4 = 2^64 = 0 mod 2^64).
  REQUIRE_SHAPE_ERROR(Tensor::zeros({std::int64_t{1} << 62, 4, 3}), "zeros",
                      "[4611686018427387904, 4, 3]");
  const std::int64_t max_extent = std::numeric_limits<std::int64_t>::max();
  REQUIRE_SHAPE_ERROR(Tensor::zeros({max_extent, max_extent}), "zeros",
                      std::to_string(max_extent));
}

TEST_CASE("factories refuse shapes over max_numel that do not overflow", "[tensor][shape]") {
  REQUIRE(max_numel == std::int64_t{1} << 45);  // 2^47 bytes of float32: a 47-bit address space
  REQUIRE_SHAPE_ERROR(Tensor::zeros({max_numel + 1}), "zeros",
                      "[" + std::to_string(max_numel + 1) + "]");
  REQUIRE_SHAPE_ERROR(Tensor::ones({std::int64_t{1} << 23, std::int64_t{1} << 23}), "ones",
                      "[8388608, 8388608]");
  // The message says what the limit is.
  REQUIRE_THROWS_WITH(Tensor::zeros({max_numel + 1}),
                      Catch::Contains("at most " + std::to_string(max_numel) + " elements"));
}

TEST_CASE("a zero extent does not excuse the other extents", "[tensor][shape]") {
  // The product of the nonzero extents is bounded, so every stride of a tensor fits in int64:
  // [0, 2^40, 2^40] has 0 elements but a dim-0 stride of 2^80.
  const std::int64_t big = std::int64_t{1} << 40;
  REQUIRE_SHAPE_ERROR(Tensor::zeros({0, big, big}), "zeros", "[0, 1099511627776, 1099511627776]");
  // Within the limit an empty tensor of any layout is fine.
  Tensor empty_rows = Tensor::zeros({0, big});
  REQUIRE(empty_rows.numel() == 0);
  REQUIRE(empty_rows.shape() == Shape{0, big});
}

TEST_CASE("negative extents name the factory and the shape and the dim", "[tensor][shape]") {
  REQUIRE_SHAPE_ERROR(Tensor::zeros({2, -3}), "zeros", "[2, -3]");
  REQUIRE_THROWS_WITH(Tensor::zeros({2, -3}), Catch::Contains("-3 at dim 1"));
  REQUIRE_SHAPE_ERROR(Tensor::empty({-1}), "empty", "[-1]");
}

TEST_CASE("numel_of and view_data_as check the shapes they are given", "[tensor][shape]") {
  REQUIRE(numel_of({2, 3, 4}) == 24);
  REQUIRE(numel_of({}) == 1);
  REQUIRE(numel_of({5, 0}) == 0);
  REQUIRE_SHAPE_ERROR(numel_of(kWrapsToEight), "numel_of", kWrapsToEightText);
  Tensor eight = Tensor::zeros({8});
  REQUIRE_SHAPE_ERROR(eight.view_data_as(kWrapsToEight), "view_data_as", kWrapsToEightText);
  Tensor none = Tensor::zeros({0});
  REQUIRE_SHAPE_ERROR(none.view_data_as({0, std::int64_t{1} << 40, std::int64_t{1} << 40}),
                      "view_data_as", "[0, 1099511627776, 1099511627776]");
}

TEST_CASE("arange refuses a count too large for a tensor", "[tensor][shape]") {
  // 1e30 steps: converting that count to int64 was undefined behaviour.
  REQUIRE_THROWS_AS(Tensor::arange(0.0f, 1e30f), ShapeError);
  REQUIRE_THROWS_WITH(Tensor::arange(0.0f, 1e30f), names_op("arange"));
  REQUIRE(Tensor::arange(0.0f, 3.0f).numel() == 3);
}

TEST_CASE("a failed allocation names the shape and the byte count", "[tensor][shape]") {
  // max_numel floats are 2^47 bytes: the whole user address space of a process with 4-level
  // page tables, so no allocator can give them, whatever the overcommit policy.
  try {
    Tensor::zeros({max_numel});
    FAIL("allocating 2^47 bytes succeeded");
  } catch (const OutOfMemoryError& error) {
    REQUIRE(std::string(error.what()) ==
            "tensor: cannot allocate [" + std::to_string(max_numel) + "] (" +
                std::to_string(max_numel * 4) + " bytes)");
  }
  // It is a std::bad_alloc, so existing handlers of allocation failure still see it.
  REQUIRE_THROWS_AS(Tensor::empty({max_numel}), std::bad_alloc);
}

TEST_CASE("zeros of 1e12 elements names shape and bytes (issue 8)", "[tensor][shape]") {
  // 4 TB: refused by the kernel under the default heuristic overcommit (and by strict mode), but
  // granted under "always overcommit" (mode 1), where zeros would then touch every page.
  std::ifstream policy("/proc/sys/vm/overcommit_memory");
  int mode = 0;
  if (policy >> mode && mode == 1) {
    WARN("skipped: vm.overcommit_memory = 1 would grant the 4 TB; the 2^47-byte case covers it");
    return;
  }
  REQUIRE_THROWS_AS(Tensor::zeros({1000000, 1000000}), OutOfMemoryError);
  REQUIRE_THROWS_WITH(Tensor::zeros({1000000, 1000000}),
                      "tensor: cannot allocate [1000000, 1000000] (4000000000000 bytes)");
}
