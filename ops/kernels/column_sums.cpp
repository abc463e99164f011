// Column sums (column_sums.h): plain loops, vectorised by the compiler for each instruction-set
// build (built for the x86-64 baseline in the layer driver they ran 4 floats wide).
#include "ops/kernels/column_sums.h"
#include "ops/kernels/isa_namespace.h"

#include <algorithm>
#include <vector>

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA {

void add_column_sums(float* sums, const float* values, std::int64_t rows, std::int64_t width) {
  constexpr std::int64_t kBlockRows = 64;
  const auto columns = static_cast<std::size_t>(width);
  std::vector<double> total(columns, 0.0);
  std::vector<float> block(columns);
  for (std::int64_t begin = 0; begin < rows; begin += kBlockRows) {
    const std::int64_t end = std::min(rows, begin + kBlockRows);
    std::fill(block.begin(), block.end(), 0.0f);
    for (std::int64_t r = begin; r < end; ++r) {
      const float* row = values + r * width;
      for (std::size_t j = 0; j < columns; ++j) block[j] += row[j];
    }
    for (std::size_t j = 0; j < columns; ++j) total[j] += block[j];
  }
  for (std::size_t j = 0; j < columns; ++j) sums[j] += static_cast<float>(total[j]);
}

void add_column_sums_reference(float* sums, const float* values, std::int64_t rows,
                               std::int64_t width) {
  for (std::int64_t j = 0; j < width; ++j) {
    double total = 0.0;
    for (std::int64_t r = 0; r < rows; ++r) total += values[r * width + j];
    sums[j] += static_cast<float>(total);
  }
}

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA
