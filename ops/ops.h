#pragma once
// The op catalogue: every differentiable op tapegrad has, one declaration each, grouped by family.
// Each op lives in ops/<op>.cpp with its forward and backward side by side. Semantics follow
// PyTorch (https://pytorch.org/docs/stable/torch.html) unless a comment says otherwise: binary
// pointwise ops broadcast NumPy-style, dims may be negative, reductions take keepdim.
// Every op checks its arguments first and throws ShapeError / IndexError / ValueError naming the op
// and the expected and actual shapes or values, before anything is allocated or recorded. A shape
// an op forms from several inputs or from the caller's sizes (broadcast, matmul, cat, reshape,
// expand, ...) is checked with checked_numel (errors.h): too large or overflowing is a ShapeError.
#include <cstdint>
#include <optional>
#include <vector>

#include "autograd/generator.h"
#include "autograd/tensor.h"
#include "ops/losses.h"  // mse_loss, l1_loss, binary_cross_entropy(_with_logits), cross_entropy, nll_loss
#include "ops/recurrent.h"  // lstm_layer, gru_layer, rnn_layer, lstm_cell

namespace tapegrad {

// ---- pointwise binary (broadcasting; backward reduces to each input's shape) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, float b);
Tensor mul(const Tensor& a, float b);
Tensor pow(const Tensor& base, float exponent);  // base^exponent, pointwise
Tensor pow(const Tensor& base, const Tensor& exponent);  // broadcasting; base > 0 where exponent needs grad
Tensor maximum(const Tensor& a, const Tensor& b);  // grad split evenly at ties, as PyTorch
Tensor minimum(const Tensor& a, const Tensor& b);

// ---- pointwise unary ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor relu(const Tensor& x);
// Bounds are optional, as torch.clamp(min=None, max=None); at least one must be given.
Tensor clamp(const Tensor& x, std::optional<float> min, std::optional<float> max);

// ---- reductions (dims may be negative; an empty dims list reduces every dim) ----
Tensor sum(const Tensor& x);  // 0-D
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);
// Max over one dim: values and int indices (as floats-free int64 vector via argmax below).
// The gradient goes to the first maximal element, as torch.max(dim) does.
Tensor max(const Tensor& x, std::int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements, 0-D; gradient split evenly over ties (amax)
std::vector<std::int64_t> argmax(const Tensor& x, std::int64_t dim);  // flat, row-major over the rest

// ---- linear algebra ----
// [M,K]x[K,N] -> [M,N]; [B,M,K]x[B,K,N] -> [B,M,N]; [B,M,K]x[K,N] -> [B,M,N] (shared weight).
Tensor matmul(const Tensor& a, const Tensor& b);
// x [*, in] . weight[out, in]^T + bias[out] (torch.nn.functional.linear); bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- shape ----
// These and index_select only move data, so they take int64 tensors too (slicing labels, cat of
// token-id batches): the result has the input's dtype and exactly its values, and an int64 result
// has no gradient. cat and stack need one dtype for all inputs (TypeError otherwise: no promotion).
Tensor reshape(const Tensor& x, const Shape& shape);  // one extent may be -1
Tensor view(const Tensor& x, const Shape& shape);     // same as reshape: storage is contiguous
Tensor flatten(const Tensor& x, std::int64_t start_dim = 0, std::int64_t end_dim = -1);
Tensor squeeze(const Tensor& x, std::int64_t dim);
Tensor unsqueeze(const Tensor& x, std::int64_t dim);
Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1);
Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims);
Tensor expand(const Tensor& x, const Shape& shape);  // broadcast to shape (-1 keeps an extent)
// x[..., start:end:step, ...] along dim (end clamps to the extent, as Python slicing).
Tensor slice(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t end,
             std::int64_t step = 1);
Tensor select(const Tensor& x, std::int64_t dim, std::int64_t index);  // removes dim; index may be -1
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, std::int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes,
                          std::int64_t dim = 0);
std::vector<Tensor> unbind(const Tensor& x, std::int64_t dim = 0);

// ---- indexing ----
Tensor index_select(const Tensor& x, std::int64_t dim, const std::vector<std::int64_t>& index);
// weight[num_embeddings, D] gathered at indices of `index_shape` -> [*index_shape, D]. Rows at
// padding_idx get no gradient (torch.nn.functional.embedding).
Tensor embedding(const Tensor& weight, const std::vector<std::int64_t>& indices,
                 const Shape& index_shape, std::optional<std::int64_t> padding_idx = std::nullopt);
// The same with the indices as an int64 tensor of any shape: [*indices.shape, D]. TypeError for a
// float32 indices tensor (as PyTorch, which wants Long or Int indices).
Tensor embedding(const Tensor& weight, const Tensor& indices,
                 std::optional<std::int64_t> padding_idx = std::nullopt);
// condition != 0 picks a, else b; all three broadcast together. condition gets no gradient.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
// x with value wherever mask != 0 (mask broadcasts to x).
Tensor masked_fill(const Tensor& x, const Tensor& mask, float value);

// ---- normalisation and probability ----
Tensor softmax(const Tensor& x, std::int64_t dim);
Tensor log_softmax(const Tensor& x, std::int64_t dim);  // x - logsumexp(x): stable at +-50 and beyond
Tensor logsumexp(const Tensor& x, std::int64_t dim, bool keepdim = false);
// Zeroes each element with probability p and scales the rest by 1/(1-p) when training; the
// identity (same handle) when not training or p == 0.
Tensor dropout(const Tensor& x, float p, bool training, Generator& generator);

// ---- operators (PyTorch spelling) ----
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& a, float b) { return add(a, b); }
inline Tensor operator+(float a, const Tensor& b) { return add(b, a); }
inline Tensor operator-(const Tensor& a, float b) { return add(a, -b); }
inline Tensor operator-(float a, const Tensor& b) { return add(neg(b), a); }
inline Tensor operator*(const Tensor& a, float b) { return mul(a, b); }
inline Tensor operator*(float a, const Tensor& b) { return mul(b, a); }
inline Tensor operator/(const Tensor& a, float b) { return mul(a, 1.0f / b); }

}  // namespace tapegrad
