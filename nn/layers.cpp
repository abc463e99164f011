#include "nn/layers.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/ops.h"

namespace tapegrad::nn {

Linear::Linear(const LinearOptions& options, Generator& generator) {
  if (options.in_features <= 0 || options.out_features <= 0) {
    throw ValueError("Linear: expected positive in_features and out_features, got " +
                     std::to_string(options.in_features) + " and " +
                     std::to_string(options.out_features));
  }
  // PyTorch's reset_parameters, in its double arithmetic: kaiming_uniform_(a = sqrt(5)) for the
  // weight, bound sqrt(3) * sqrt(2 / (1 + a^2)) / sqrt(fan_in), and 1 / sqrt(fan_in) for the bias.
  // Both are 1 / sqrt(fan_in) on paper but round differently; uniform_ rounds each to float.
  const double fan_in = static_cast<double>(options.in_features);
  const double a = std::sqrt(5.0);
  const auto weight_bound =
      static_cast<float>(std::sqrt(3.0) * (std::sqrt(2.0 / (1.0 + a * a)) / std::sqrt(fan_in)));
  const auto bias_bound = static_cast<float>(1.0 / std::sqrt(fan_in));
  weight = register_parameter("weight", Tensor::uniform({options.out_features, options.in_features},
                                                        -weight_bound, weight_bound, generator));
  if (options.bias) {
    bias = register_parameter(
        "bias", Tensor::uniform({options.out_features}, -bias_bound, bias_bound, generator));
  }
}

Tensor Linear::forward(const Tensor& x) const { return linear(x, weight, bias); }

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(weight.size(1)) +
         ", out_features=" + std::to_string(weight.size(0)) + ", bias=" + repr_bool(bias.defined());
}

Embedding::Embedding(const EmbeddingOptions& options, Generator& generator) {
  if (options.num_embeddings <= 0 || options.embedding_dim <= 0) {
    throw ValueError("Embedding: expected positive num_embeddings and embedding_dim, got " +
                     std::to_string(options.num_embeddings) + " and " +
                     std::to_string(options.embedding_dim));
  }
  if (options.padding_idx) {
    const std::int64_t n = options.num_embeddings;
    const std::int64_t idx = *options.padding_idx;
    if (idx < -n || idx >= n) {
      throw IndexError("Embedding: padding_idx " + std::to_string(idx) +
                       " is out of range for num_embeddings " + std::to_string(n));
    }
    padding_idx_ = idx < 0 ? idx + n : idx;
  }
  Tensor table = Tensor::normal({options.num_embeddings, options.embedding_dim}, 0.0f, 1.0f, generator);
  if (padding_idx_) {
    std::fill_n(table.data() + *padding_idx_ * options.embedding_dim, options.embedding_dim, 0.0f);
  }
  weight = register_parameter("weight", table);
}

Tensor Embedding::forward(const std::vector<std::int64_t>& indices, const Shape& index_shape) const {
  return embedding(weight, indices, index_shape, padding_idx_);
}

Tensor Embedding::forward(const Tensor& indices) const {
  return embedding(weight, indices, padding_idx_);
}

std::string Embedding::extra_repr() const {
  return std::to_string(weight.size(0)) + ", " + std::to_string(weight.size(1)) +
         (padding_idx_ ? ", padding_idx=" + std::to_string(*padding_idx_) : "");
}

Dropout::Dropout(float p, Generator& generator) : p_(p), generator_(generator.child_seed()) {
  if (!(p >= 0.0f && p <= 1.0f)) {
    throw ValueError("Dropout: p must be in [0, 1], got " + std::to_string(p));
  }
}

Tensor Dropout::forward(const Tensor& x) const {
  return dropout(x, p_, is_training(), generator_);
}

std::string Dropout::extra_repr() const { return "p=" + repr_float(p_) + ", inplace=False"; }

LayerNorm::LayerNorm(const LayerNormOptions& options)
    : normalized_shape_(options.normalized_shape), eps_(options.eps) {
  if (normalized_shape_.empty() || numel_of(normalized_shape_) == 0) {
    throw ShapeError("LayerNorm: expected a non-empty normalized_shape, got " +
                     format_shape(normalized_shape_));
  }
  if (!(eps_ > 0.0f)) throw ValueError("LayerNorm: eps must be > 0, got " + std::to_string(eps_));
  if (options.elementwise_affine) {
    weight = register_parameter("weight", Tensor::ones(normalized_shape_));
    bias = register_parameter("bias", Tensor::zeros(normalized_shape_));
  }
}

Tensor LayerNorm::forward(const Tensor& x) const {
  const auto k = static_cast<std::int64_t>(normalized_shape_.size());
  if (!x.defined() || x.dim() < k ||
      !std::equal(normalized_shape_.begin(), normalized_shape_.end(), x.shape().end() - k)) {
    throw ShapeError("LayerNorm: expected input with trailing shape " +
                     format_shape(normalized_shape_) + ", got " +
                     (x.defined() ? format_shape(x.shape()) : "undefined"));
  }
  std::vector<std::int64_t> dims;
  for (std::int64_t d = x.dim() - k; d < x.dim(); ++d) dims.push_back(d);
  // x_hat = (x - mean) / sqrt(var + eps), biased variance over the normalised dims.
  Tensor centred = sub(x, mean(x, dims, true));
  Tensor variance = mean(mul(centred, centred), dims, true);
  Tensor normalised = div(centred, sqrt(add(variance, eps_)));
  return weight.defined() ? add(mul(normalised, weight), bias) : normalised;
}

// Python's tuple repr: "(10,)", "(2, 3)".
std::string LayerNorm::extra_repr() const {
  std::string shape = "(";
  for (std::size_t i = 0; i < normalized_shape_.size(); ++i) {
    shape += (i ? ", " : "") + std::to_string(normalized_shape_[i]);
  }
  shape += normalized_shape_.size() == 1 ? ",)" : ")";
  return shape + ", eps=" + repr_float(eps_) + ", elementwise_affine=" + repr_bool(weight.defined());
}

Tensor ReLU::forward(const Tensor& x) const { return relu(x); }
Tensor Tanh::forward(const Tensor& x) const { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) const { return sigmoid(x); }

Tensor Sequential::forward(const Tensor& x) const {
  Tensor out = x;
  for (const UnaryModule* layer : layers_) out = (*layer)(out);
  return out;
}

Tensor UnaryModule::call_hooked(const Tensor& x) const {
  return call_with_hooks({x}, [this](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{forward(in[0])};
  })[0];
}

}  // namespace tapegrad::nn
