#pragma once
// Exceptions thrown for the user's mistakes. Every message starts with the op's name and states the
// expected and the actual shape or value, e.g.
//   "add: shapes [2, 3] and [4] cannot be broadcast (dim -1: 3 vs 4)".
// Our own bugs are InternalError; nothing in tapegrad aborts.
#include <cstdint>
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

// "[2, 3, 4]"
std::string format_shape(const Shape& shape);

// Wraps a negative dim (PyTorch style: -1 is the last) into [0, rank); throws IndexError naming op.
std::int64_t wrap_dim(std::string_view op, std::int64_t dim, std::int64_t rank);

// Throws ShapeError("<op>: expected <what> <expected>, got <actual>") when the shapes differ.
void check_same_shape(std::string_view op, std::string_view what, const Shape& expected,
                      const Shape& actual);

// Throws ShapeError("<op>: expected a <rank>-D <what>, got shape [..]").
void check_rank(std::string_view op, std::string_view what, const Shape& shape, std::int64_t rank);

}  // namespace tapegrad
