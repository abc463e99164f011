#pragma once
// Helpers shared by tapegrad's Catch2 tests.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/tensor.h"

namespace tapegrad::testing {

// Elementwise |a - b| <= atol + rtol * |b| with equal shapes. Returns "" when close, otherwise
// where and by how much they differ.
inline std::string mismatch(const Tensor& a, const Tensor& b, double rtol = 1e-5,
                            double atol = 1e-6) {
  std::ostringstream out;
  if (a.shape() != b.shape()) {
    out << "shapes differ: " << format_shape(a.shape()) << " vs " << format_shape(b.shape());
    return out.str();
  }
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data()[i];
    const double y = b.data()[i];
    if (std::isnan(x) != std::isnan(y) || std::abs(x - y) > atol + rtol * std::abs(y)) {
      out << "element " << i << ": " << x << " vs " << y << " (rtol " << rtol << ", atol "
          << atol << ")";
      return out.str();
    }
  }
  return "";
}

inline bool all_close(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-6) {
  return mismatch(a, b, rtol, atol).empty();
}

inline bool all_finite(const Tensor& t) {
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    if (!std::isfinite(t.data()[i])) return false;
  }
  return true;
}

}  // namespace tapegrad::testing

// REQUIRE_ALL_CLOSE(a, b[, rtol, atol]) reports the first differing element.
#define REQUIRE_ALL_CLOSE(...)                                                  \
  do {                                                                          \
    const std::string tapegrad_why_ = ::tapegrad::testing::mismatch(__VA_ARGS__); \
    INFO(tapegrad_why_);                                                        \
    REQUIRE(tapegrad_why_.empty());                                             \
  } while (0)

// REQUIRE_GRADCHECK(fn, inputs[, options]) prints the worst mismatches on failure.
#define REQUIRE_GRADCHECK(...)                                                          \
  do {                                                                                  \
    const ::tapegrad::GradcheckResult tapegrad_result_ = ::tapegrad::gradcheck(__VA_ARGS__); \
    INFO(tapegrad_result_.report);                                                      \
    REQUIRE(tapegrad_result_.ok);                                                       \
  } while (0)
