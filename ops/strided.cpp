// Strided copy over contiguous storage, the one loop behind permute, slice, select, cat, split and
// expand.
#include "ops/strided.h"

#include <string>

namespace tapegrad {

namespace {

// Element is the tensor's own element type: a plain assignment copies it exactly.
template <typename Element>
void strided_copy_elements(const Shape& shape, Element* dst, const Layout& dst_layout,
                           const Element* src, const Layout& src_layout) {
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

}  // namespace

Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size(), 1);
  for (std::size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  return strides;
}

void strided_copy(const Shape& shape, float* dst, const Layout& dst_layout, const float* src,
                  const Layout& src_layout) {
  strided_copy_elements(shape, dst, dst_layout, src, src_layout);
}

void strided_copy(const Shape& shape, Tensor& dst, const Layout& dst_layout, const Tensor& src,
                  const Layout& src_layout) {
  if (dst.dtype() != src.dtype()) {
    throw InternalError(std::string("strided_copy: destination is ") + dtype_name(dst.dtype()) +
                        " but source is " + dtype_name(src.dtype()));
  }
  if (src.dtype() == Dtype::int64) {
    strided_copy_elements(shape, dst.data_i64(), dst_layout, src.data_i64(), src_layout);
  } else {
    strided_copy_elements(shape, dst.data(), dst_layout, src.data(), src_layout);
  }
}

}  // namespace tapegrad
