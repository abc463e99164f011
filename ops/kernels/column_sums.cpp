// Column sums (column_sums.h): plain loops, vectorised by the compiler for each instruction-set
// build (built for the x86-64 baseline in the layer driver they ran 4 floats wide). Threads take
// whole column ranges, each column summed in the same order, so the bits do not depend on them.
#include "ops/kernels/column_sums.h"
#include "ops/kernels/isa_namespace.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <vector>

#include "autograd/stream_split.h"
#include "autograd/threads.h"

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA {

namespace {

// Columns first .. first + count of the sums: float partial sums over 64-row blocks, added up in
// double.
void add_column_range(float* sums, const float* values, std::int64_t rows, std::int64_t width,
                      std::int64_t first, std::int64_t count) {
  constexpr std::int64_t kBlockRows = 64;
  const auto columns = static_cast<std::size_t>(count);
  std::vector<double> total(columns, 0.0);
  std::vector<float> block(columns);
  for (std::int64_t begin = 0; begin < rows; begin += kBlockRows) {
    const std::int64_t end = std::min(rows, begin + kBlockRows);
    std::fill(block.begin(), block.end(), 0.0f);
    for (std::int64_t r = begin; r < end; ++r) {
      const float* row = values + r * width + first;
      for (std::size_t j = 0; j < columns; ++j) block[j] += row[j];
    }
    for (std::size_t j = 0; j < columns; ++j) total[j] += block[j];
  }
  for (std::size_t j = 0; j < columns; ++j) sums[first + j] += static_cast<float>(total[j]);
}

}  // namespace

void add_column_sums(float* sums, const float* values, std::int64_t rows, std::int64_t width) {
  // The bias gradients of a layer (rows = T * B): the sine tutorial's [9900, 400] was 3% of its
  // one-thread step and ran on one core with two. Chunks of 64 columns (four cache lines).
  constexpr std::int64_t kChunk = 64;
  const std::int64_t chunks = (width + kChunk - 1) / kChunk;
  if (tapegrad::num_threads() <= 1 || chunks < 2 ||
      rows * width < tapegrad::detail::kParallelStreamFloats) {
    add_column_range(sums, values, rows, width, 0, width);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, chunks),
                    [&](const tbb::blocked_range<std::int64_t>& range) {
                      const std::int64_t first = range.begin() * kChunk;
                      const std::int64_t last = std::min(width, range.end() * kChunk);
                      add_column_range(sums, values, rows, width, first, last - first);
                    });
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
