// A user program of the installed (or add_subdirectory'd) tapegrad: a tiny tanh layer with an MSE
// loss, forward and backward, checked against the same math written out in double precision.
// Exits non-zero on any mismatch, so the "consumer: ..." ctest tests fail when the package links
// but computes nonsense, or when the linked library's version is not its headers'. Built with CMake
// (find_package or add_subdirectory) and, from the installed package, with pkg-config alone.
#include <cmath>
#include <cstdio>
#include <vector>

#include <tapegrad/tapegrad.h>  // the umbrella header alone, as a user of the package writes

namespace {

int failures = 0;

void check_close(const char* what, double actual, double expected) {
  const double tolerance = 1e-5 + 1e-4 * std::abs(expected);
  const bool ok = std::abs(actual - expected) <= tolerance;
  std::printf("%-8s %+.7f (expected %+.7f)%s\n", what, actual, expected, ok ? "" : "  MISMATCH");
  if (!ok) ++failures;
}

}  // namespace

int main() {
  using tapegrad::Tensor;
  const tapegrad::Version linked = tapegrad::version();
  std::printf("tapegrad %s (headers %s)\n", tapegrad::version_string(), TAPEGRAD_VERSION_STRING);
  if (linked.major != TAPEGRAD_VERSION_MAJOR || linked.minor != TAPEGRAD_VERSION_MINOR ||
      linked.patch != TAPEGRAD_VERSION_PATCH) {
    std::printf("the linked library's version is not the headers'\n");
    return 1;
  }
  constexpr int rows = 2, inner = 3, cols = 2;
  const std::vector<float> x_values = {0.5f, -1.0f, 0.25f, 1.5f, 0.75f, -0.5f};
  const std::vector<float> w_values = {0.2f, -0.4f, 0.6f, 0.1f, -0.3f, 0.8f};
  const std::vector<float> target_values = {0.1f, -0.2f, 0.3f, 0.4f};

  Tensor x = Tensor::from_vector(x_values, {rows, inner}, /*requires_grad=*/true);
  Tensor w = Tensor::from_vector(w_values, {inner, cols}, /*requires_grad=*/true);
  Tensor target = Tensor::from_vector(target_values, {rows, cols});
  Tensor loss = tapegrad::mse_loss(tapegrad::tanh(tapegrad::matmul(x, w)), target);
  loss.backward();

  // loss = mean((tanh(x.w) - t)^2); dz = 2 (y - t) / n * (1 - y^2); dW = x^T dz; dx = dz W^T.
  std::vector<double> dz(rows * cols);
  double expected_loss = 0.0;
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      double z = 0.0;
      for (int k = 0; k < inner; ++k) z += double(x_values[i * inner + k]) * w_values[k * cols + j];
      const double y = std::tanh(z);
      const double diff = y - target_values[i * cols + j];
      expected_loss += diff * diff / (rows * cols);
      dz[i * cols + j] = 2.0 * diff / (rows * cols) * (1.0 - y * y);
    }
  }
  check_close("loss", loss.item(), expected_loss);

  if (!x.grad().defined() || !w.grad().defined()) {
    std::printf("backward left x.grad or w.grad undefined\n");
    return 1;
  }
  const std::vector<float> x_grad = x.grad().to_vector();
  const std::vector<float> w_grad = w.grad().to_vector();
  for (int i = 0; i < rows; ++i) {
    for (int k = 0; k < inner; ++k) {
      double expected = 0.0;
      for (int j = 0; j < cols; ++j) expected += dz[i * cols + j] * w_values[k * cols + j];
      check_close("dx", x_grad[i * inner + k], expected);
    }
  }
  for (int k = 0; k < inner; ++k) {
    for (int j = 0; j < cols; ++j) {
      double expected = 0.0;
      for (int i = 0; i < rows; ++i) expected += double(x_values[i * inner + k]) * dz[i * cols + j];
      check_close("dW", w_grad[k * cols + j], expected);
    }
  }

  // The library's exception types must cross the static-library boundary intact.
  try {
    tapegrad::matmul(x, x);  // [2,3] . [2,3]
    std::printf("matmul of [2,3] by [2,3] did not throw\n");
    ++failures;
  } catch (const tapegrad::ShapeError& error) {
    std::printf("ShapeError as expected: %s\n", error.what());
  }

  std::printf(failures == 0 ? "consumer OK\n" : "consumer FAILED: %d mismatches\n", failures);
  return failures == 0 ? 0 : 1;
}
