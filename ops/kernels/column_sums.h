#pragma once
// Column sums of a row-major [rows, width] float array: the bias gradients of a recurrent layer
// (summed over every step and batch row) and its per-unit cell parameters. Accumulated in float
// within blocks of 64 rows, a loop that vectorises, and in double across blocks, so long T*B
// columns keep double accuracy; the order depends on rows and width only.
#include <cstdint>

namespace tapegrad::kernels {

// sums[j] += the sum over r of values[r * width + j].
void add_column_sums(float* sums, const float* values, std::int64_t rows, std::int64_t width);
// The same in double throughout, one row at a time: what the kernel is tested against.
void add_column_sums_reference(float* sums, const float* values, std::int64_t rows,
                               std::int64_t width);

}  // namespace tapegrad::kernels
