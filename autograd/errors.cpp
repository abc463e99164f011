#include "autograd/errors.h"

#include <sstream>

namespace tapegrad {

std::string format_shape(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) out << ", ";
    out << shape[i];
  }
  out << ']';
  return out.str();
}

std::int64_t wrap_dim(std::string_view op, std::int64_t dim, std::int64_t rank) {
  // A scalar (rank 0) accepts dim 0 and -1, as PyTorch does.
  const std::int64_t extent = rank == 0 ? 1 : rank;
  if (dim < -extent || dim >= extent) {
    throw IndexError(std::string(op) + ": dim " + std::to_string(dim) + " is out of range for a " +
                     std::to_string(rank) + "-D tensor (expected a dim in [" +
                     std::to_string(-extent) + ", " + std::to_string(extent - 1) + "])");
  }
  return dim < 0 ? dim + extent : dim;
}

void check_same_shape(std::string_view op, std::string_view what, const Shape& expected,
                      const Shape& actual) {
  if (expected != actual) {
    throw ShapeError(std::string(op) + ": expected " + std::string(what) + " of shape " +
                     format_shape(expected) + ", got " + format_shape(actual));
  }
}

void check_rank(std::string_view op, std::string_view what, const Shape& shape, std::int64_t rank) {
  if (static_cast<std::int64_t>(shape.size()) != rank) {
    throw ShapeError(std::string(op) + ": expected a " + std::to_string(rank) + "-D " +
                     std::string(what) + ", got shape " + format_shape(shape));
  }
}

}  // namespace tapegrad
