#pragma once
// Helpers shared by the pointwise and gate kernel tests: seeded inputs, an elementwise
// closeness check that treats NaN == NaN and inf == inf, and a 4-point central difference.
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/generator.h"

namespace tapegrad::testing {

// Uniform in [low, high). With grid set, values are multiples of 2^-10, so x +- k * 2^-7 is exact
// in float and a finite difference divides by exactly the step it took.
inline std::vector<float> random_floats(std::int64_t n, float low, float high, Generator& gen,
                                        bool grid = false) {
  std::vector<float> values(static_cast<std::size_t>(n));
  for (float& v : values) {
    v = gen.uniform(low, high);
    if (grid) v = std::round(v * 1024.0f) / 1024.0f;
  }
  return values;
}

// "" when |a - b| <= atol + rtol |b| everywhere (equal values, including infinities and NaN in the
// same places, always pass), otherwise the first offending element.
inline std::string first_mismatch(const std::vector<float>& a, const std::vector<float>& b,
                                  double rtol, double atol) {
  std::ostringstream out;
  if (a.size() != b.size()) {
    out << "sizes differ: " << a.size() << " vs " << b.size();
    return out.str();
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double x = a[i], y = b[i];
    if (x == y || (std::isnan(x) && std::isnan(y))) continue;
    if (std::isnan(x) || std::isnan(y) || !(std::abs(x - y) <= atol + rtol * std::abs(y))) {
      out.precision(9);
      out << "element " << i << " of " << a.size() << ": " << x << " vs " << y << " (rtol " << rtol
          << ", atol " << atol << ")";
      return out.str();
    }
  }
  return "";
}

// d loss / d values[k] by (8 (L(+h) - L(-h)) - (L(+2h) - L(-2h))) / (12 h), h = 2^-7, restoring
// values[k] afterwards. Truncation error is O(h^4) ~ 1e-9; the float forward's rounding gives
// about 1e-5.
inline double central_difference(std::vector<float>& values, std::size_t k,
                                 const std::function<double()>& loss) {
  const float step = 1.0f / 128.0f;
  const float original = values[k];
  const auto at = [&](float offset) {
    values[k] = original + offset;
    return loss();
  };
  const double near = at(step) - at(-step);
  const double far = at(2 * step) - at(-2 * step);
  values[k] = original;
  return (8.0 * near - far) / (12.0 * static_cast<double>(step));
}

}  // namespace tapegrad::testing

#define REQUIRE_FLOATS_CLOSE(a, b, rtol, atol)                                            \
  do {                                                                                    \
    const std::string tapegrad_why_ = ::tapegrad::testing::first_mismatch(a, b, rtol, atol); \
    INFO(tapegrad_why_);                                                                  \
    REQUIRE(tapegrad_why_.empty());                                                       \
  } while (0)
