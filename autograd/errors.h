#pragma once
// Exceptions thrown for the user's mistakes. Every message starts with the op's name and states the
// expected and the actual shape or value, e.g.
//   "add: shapes [2, 3] and [4] cannot be broadcast (dim -1: 3 vs 4)".
// Our own bugs are InternalError; nothing in tapegrad aborts.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tapegrad {

using Shape = std::vector<std::int64_t>;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Wrong rank, mismatched or non-broadcastable shapes.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A value out of its domain: negative probability, NaN where forbidden, bad option.
class ValueError : public Error {
 public:
  using Error::Error;
};

// An index or dim out of range.
class IndexError : public Error {
 public:
  using Error::Error;
};

// A tensor of the wrong dtype: an int64 tensor passed to a float op, a float32 target where class
// indices are expected (PyTorch raises "expected scalar type Long but found Float").
class TypeError : public Error {
 public:
  using Error::Error;
};

// Misuse of the autograd engine: backward through a freed graph, a saved tensor modified in place.
class AutogradError : public Error {
 public:
  using Error::Error;
};

// A broken invariant inside tapegrad itself: a bug to report, not a user error.
class InternalError : public Error {
 public:
  using Error::Error;
};

// Allocation failure: the machine, not the arguments, said no. A std::bad_alloc (not an Error), so
// code that handles running out of memory (e.g. retrying with a smaller batch) keeps working, and
// what() names the shape and the byte count:
//   "tensor: cannot allocate [1000000, 1000000] (4000000000000 bytes)".
class OutOfMemoryError : public std::bad_alloc {
 public:
  explicit OutOfMemoryError(const std::string& message) : message_(message) {}
  const char* what() const noexcept override { return message_.what(); }

 private:
  std::runtime_error message_;  // a copy-safe (noexcept) holder of the text
};

// "[2, 3, 4]"
std::string format_shape(const Shape& shape);

// ---- checked shape arithmetic ----
// The largest tensor tapegrad makes: its float32 bytes must fit the user address space of a
// 64-bit process with 4-level page tables (2^47 bytes = 128 TiB on x86-64 and AArch64 Linux) and
// a size_t. So at most 2^45 elements; anything bigger could never be allocated, and refusing it
// up front keeps every element count, byte count and offset far from int64 overflow.
inline constexpr std::int64_t max_numel =
    std::numeric_limits<std::size_t>::max() / sizeof(float) < (std::uint64_t{1} << 45)
        ? static_cast<std::int64_t>(std::numeric_limits<std::size_t>::max() / sizeof(float))
        : std::int64_t{1} << 45;

// The element count of `shape`, checked: throws ShapeError naming op and shape when an extent is
// negative, or when the shape is too large: the product of its NONZERO extents over max_numel
// (int64 overflow included). Bounding the nonzero product, not only numel, means any product of a
// checked shape's extents (a stride, T * B rows, a [0, 2^40, 2^40] shape's strides) fits too, so
// code holding a checked shape multiplies its extents freely. Every tensor's shape is checked when
// its storage is made; ops check a shape they form (a broadcast, a matmul, a user's reshape) here,
// before they allocate or record anything.
std::int64_t checked_numel(std::string_view op, const Shape& shape);

// a * b (both >= 0) for counts belonging to `shape`; throws the same ShapeError as checked_numel
// (naming op and shape) when the product exceeds max_numel. For products formed before the shape
// can be checked as a whole (e.g. the known extents of a reshape with -1).
std::int64_t checked_mul(std::string_view op, std::int64_t a, std::int64_t b, const Shape& shape);

// Wraps a negative dim (PyTorch style: -1 is the last) into [0, rank); throws IndexError naming op.
std::int64_t wrap_dim(std::string_view op, std::int64_t dim, std::int64_t rank);

// Throws ShapeError("<op>: expected <what> <expected>, got <actual>") when the shapes differ.
void check_same_shape(std::string_view op, std::string_view what, const Shape& expected,
                      const Shape& actual);

// Throws ShapeError("<op>: expected a <rank>-D <what>, got shape [..]").
void check_rank(std::string_view op, std::string_view what, const Shape& shape, std::int64_t rank);

}  // namespace tapegrad
