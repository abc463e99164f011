// Strided copy over contiguous storage, the one loop behind permute, slice, select, cat and split.
#include "ops/strided.h"

namespace tapegrad {

Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size(), 1);
  for (std::size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  return strides;
}

void strided_copy(const Shape& shape, float* dst, const Layout& dst_layout, const float* src,
                  const Layout& src_layout) {
  if (shape.empty()) {
    dst[dst_layout.offset] = src[src_layout.offset];
    return;
  }
  const std::int64_t inner = shape.back();
  const std::int64_t dst_step = dst_layout.strides.back();
  const std::int64_t src_step = src_layout.strides.back();
  if (dst_step == 1 && src_step == 1) {
    // the common case (slices of outer dims, cat along outer dims): whole rows at once
    for_each_row(shape, dst_layout, src_layout,
                 [&](std::int64_t d, std::int64_t s) { std::copy_n(src + s, inner, dst + d); });
    return;
  }
  for_each_row(shape, dst_layout, src_layout, [&](std::int64_t d, std::int64_t s) {
    for (std::int64_t j = 0; j < inner; ++j) dst[d + j * dst_step] = src[s + j * src_step];
  });
}

}  // namespace tapegrad
