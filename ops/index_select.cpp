// index_select and embedding: gathering rows by integer index
// (https://pytorch.org/docs/stable/generated/torch.index_select.html,
//  https://pytorch.org/docs/stable/generated/torch.nn.functional.embedding.html).
//   index_select: y[o, k, i] = x[o, index[k], i] around dim.
//   embedding:    y[n, :] = weight[indices[n], :].
// The backward scatter-adds each gradient row back to the row it came from, so repeated indices sum
// their gradients; embedding skips rows equal to padding_idx (they get no gradient).
// Indices are int64 (a vector, or an int64 tensor for embedding): they carry no gradient, and are
// validated before anything else. The tensor overload checks its dtype and passes its values on,
// so both overloads share one implementation. index_select takes x of any dtype (ids picked by
// position, say): an int64 x gives an int64 result with the same values and no gradient.
#include <algorithm>
#include <string>

#include "autograd/node.h"
#include "ops/ops.h"

namespace tapegrad {

namespace {

void check_indices(const char* op, const std::vector<std::int64_t>& index, std::int64_t extent,
                   const std::string& what) {
  for (std::size_t k = 0; k < index.size(); ++k) {
    if (index[k] < 0 || index[k] >= extent) {
      throw IndexError(std::string(op) + ": index " + std::to_string(index[k]) + " (at position " +
                       std::to_string(k) + ") is out of range for " + what + " of size " +
                       std::to_string(extent) + " (expected [0, " + std::to_string(extent) + "))");
    }
  }
}

// values[o, k, :] = in[o, index[k], :] for x seen as [outer, extent, inner]; Element is x's own
// element type, so the rows are copied exactly.
template <typename Element>
void gather_rows(Element* values, const Element* in, const std::vector<std::int64_t>& index,
                 std::int64_t outer, std::int64_t extent, std::int64_t inner) {
  const auto picks = static_cast<std::int64_t>(index.size());
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t k = 0; k < picks; ++k) {
      std::copy_n(in + (o * extent + index[static_cast<std::size_t>(k)]) * inner, inner,
                  values + (o * picks + k) * inner);
    }
  }
}

}  // namespace

Tensor index_select(const Tensor& x, std::int64_t dim, const std::vector<std::int64_t>& index) {
  const Shape& shape = x.shape();
  if (shape.empty()) {
    throw ShapeError("index_select: expected a tensor with at least 1 dim, got shape []");
  }
  const auto d = static_cast<std::size_t>(wrap_dim("index_select", dim, x.dim()));
  const std::int64_t extent = shape[d];
  check_indices("index_select", index, extent, "dim " + std::to_string(dim));
  std::int64_t outer = 1;
  std::int64_t inner = 1;
  for (std::size_t k = 0; k < d; ++k) outer *= shape[k];
  for (std::size_t k = d + 1; k < shape.size(); ++k) inner *= shape[k];
  const auto picks = static_cast<std::int64_t>(index.size());

  Shape out_shape = shape;
  out_shape[d] = picks;
  checked_numel("index_select", out_shape);  // picks can exceed the extent ([0, 2^40] with 2^10)
  Tensor out = Tensor::empty(out_shape, x.dtype());
  if (x.dtype() == Dtype::int64) {
    gather_rows(out.data_i64(), x.data_i64(), index, outer, extent, inner);
  } else {
    gather_rows(out.data(), x.data(), index, outer, extent, inner);
  }
  record("index_select", {x}, {out}, {},
         [x_shape = shape, index, outer, extent, inner](BackwardContext& ctx) {
           if (!ctx.needs_grad(0)) return;
           const float* grad_out = ctx.grad_output(0).data();
           Tensor grad_x = Tensor::zeros(x_shape);
           float* grad = grad_x.data();
           const auto picks = static_cast<std::int64_t>(index.size());
           for (std::int64_t o = 0; o < outer; ++o) {
             for (std::int64_t k = 0; k < picks; ++k) {
               float* row = grad + (o * extent + index[static_cast<std::size_t>(k)]) * inner;
               const float* source = grad_out + (o * picks + k) * inner;
               for (std::int64_t i = 0; i < inner; ++i) row[i] += source[i];
             }
           }
           ctx.accumulate(0, std::move(grad_x));
         });
  return out;
}

Tensor embedding(const Tensor& weight, const std::vector<std::int64_t>& indices,
                 const Shape& index_shape, std::optional<std::int64_t> padding_idx) {
  if (!weight.defined()) throw ValueError("embedding: weight is undefined");
  check_floating("embedding", "weight", weight);
  check_rank("embedding", "weight [num_embeddings, embedding_dim]", weight.shape(), 2);
  const std::int64_t num_embeddings = weight.shape()[0];
  const std::int64_t width = weight.shape()[1];
  const std::int64_t count = checked_numel("embedding", index_shape);
  if (count != static_cast<std::int64_t>(indices.size())) {
    throw ShapeError("embedding: index_shape " + format_shape(index_shape) + " holds " +
                     std::to_string(count) + " indices, got " + std::to_string(indices.size()));
  }
  check_indices("embedding", indices, num_embeddings, "a weight with num_embeddings");
  // A negative padding_idx counts from the end, as in torch.nn.functional.embedding.
  std::int64_t padding_row = -1;
  if (padding_idx) {
    if (*padding_idx < -num_embeddings || *padding_idx >= num_embeddings) {
      throw IndexError("embedding: padding_idx " + std::to_string(*padding_idx) +
                       " is out of range for num_embeddings " + std::to_string(num_embeddings) +
                       " (expected [" + std::to_string(-num_embeddings) + ", " +
                       std::to_string(num_embeddings - 1) + "])");
    }
    padding_row = *padding_idx < 0 ? *padding_idx + num_embeddings : *padding_idx;
  }

  Shape out_shape = index_shape;
  out_shape.push_back(width);
  checked_numel("embedding", out_shape);
  Tensor out = Tensor::empty(out_shape);
  const float* table = weight.data();
  float* values = out.data();
  for (std::size_t n = 0; n < indices.size(); ++n) {
    std::copy_n(table + indices[n] * width, width, values + static_cast<std::int64_t>(n) * width);
  }
  record("embedding", {weight}, {out}, {},
         [weight_shape = weight.shape(), indices, width, padding_row](BackwardContext& ctx) {
           if (!ctx.needs_grad(0)) return;
           const float* grad_out = ctx.grad_output(0).data();
           Tensor grad_weight = Tensor::zeros(weight_shape);
           float* grad = grad_weight.data();
           for (std::size_t n = 0; n < indices.size(); ++n) {
             if (indices[n] == padding_row) continue;
             float* row = grad + indices[n] * width;
             const float* source = grad_out + static_cast<std::int64_t>(n) * width;
             for (std::int64_t i = 0; i < width; ++i) row[i] += source[i];
           }
           ctx.accumulate(0, std::move(grad_weight));
         });
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& indices,
                 std::optional<std::int64_t> padding_idx) {
  if (!indices.defined()) throw ValueError("embedding: indices is undefined");
  check_int64("embedding", "indices", indices);
  return embedding(weight, indices.to_vector_i64(), indices.shape(), padding_idx);
}

}  // namespace tapegrad
