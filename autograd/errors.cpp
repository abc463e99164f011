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

namespace {

[[noreturn]] void throw_too_large(std::string_view op, const Shape& shape) {
  throw ShapeError(std::string(op) + ": shape " + format_shape(shape) +
                   " is too large (a tensor holds at most " + std::to_string(max_numel) +
                   " elements, " + std::to_string(max_numel * std::int64_t{sizeof(float)}) +
                   " bytes of float32)");
}

}  // namespace

std::int64_t checked_numel(std::string_view op, const Shape& shape) {
  std::int64_t nonzero_product = 1;
  bool has_zero = false;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    const std::int64_t extent = shape[d];
    if (extent < 0) {
      throw ShapeError(std::string(op) + ": shape " + format_shape(shape) +
                       " has a negative extent (" + std::to_string(extent) + " at dim " +
                       std::to_string(d) + ")");
    }
    if (extent == 0) {
      has_zero = true;
      continue;
    }
    if (__builtin_mul_overflow(nonzero_product, extent, &nonzero_product) ||
        nonzero_product > max_numel) {
      throw_too_large(op, shape);
    }
  }
  return has_zero ? 0 : nonzero_product;
}

std::int64_t checked_mul(std::string_view op, std::int64_t a, std::int64_t b, const Shape& shape) {
  std::int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product) || product > max_numel) throw_too_large(op, shape);
  return product;
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
