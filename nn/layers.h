#pragma once
// Feed-forward layers with PyTorch's options and initialisation: Linear, Embedding, Dropout,
// LayerNorm, the activations, and Sequential to chain single-input layers.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "autograd/generator.h"
#include "nn/module.h"

namespace tapegrad::nn {

// A module with one tensor in and one out; what Sequential chains. Calling it runs its forward
// hooks around forward (Module::register_forward_hook); forward() alone runs none.
class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) const = 0;
  Tensor operator()(const Tensor& x) const {
    return has_forward_hooks() ? call_hooked(x) : forward(x);
  }

 private:
  Tensor call_hooked(const Tensor& x) const;
};

struct LinearOptions {
  std::int64_t in_features = 0;
  std::int64_t out_features = 0;
  bool bias = true;
};

// y = x W^T + b; x [*, in_features] -> [*, out_features]. W and b from
// U(-1/sqrt(in_features), 1/sqrt(in_features)), PyTorch's default (kaiming_uniform_ with a = sqrt(5)).
class Linear : public UnaryModule {
 public:
  Linear(const LinearOptions& options, Generator& generator);
  Tensor forward(const Tensor& x) const override;
  std::string extra_repr() const override;
  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features] or undefined
};

struct EmbeddingOptions {
  std::int64_t num_embeddings = 0;
  std::int64_t embedding_dim = 0;
  std::optional<std::int64_t> padding_idx = std::nullopt;
};

// Rows of a [num_embeddings, embedding_dim] table, initialised from N(0, 1) with the padding row
// zeroed; the padding row gets no gradient.
class Embedding : public Module {
 public:
  Embedding(const EmbeddingOptions& options, Generator& generator);
  // indices of shape index_shape -> [*index_shape, embedding_dim]
  Tensor forward(const std::vector<std::int64_t>& indices, const Shape& index_shape) const;
  // int64 indices of any shape -> [*indices.shape, embedding_dim] (TypeError for float32).
  Tensor forward(const Tensor& indices) const;
  std::string extra_repr() const override;
  Tensor weight;

 private:
  std::optional<std::int64_t> padding_idx_;
};

// Zeroes elements with probability p in training mode (scaling the rest by 1/(1-p)); identity in
// eval mode. Its own generator is seeded from the one given at construction.
class Dropout : public UnaryModule {
 public:
  Dropout(float p, Generator& generator);
  Tensor forward(const Tensor& x) const override;
  std::string extra_repr() const override;

 protected:
  std::vector<std::pair<std::string, Generator*>> own_generators() override {
    return {{"generator", &generator_}};
  }

 private:
  float p_;
  mutable Generator generator_;
};

struct LayerNormOptions {
  Shape normalized_shape{};
  float eps = 1e-5f;
  bool elementwise_affine = true;
};

// Normalises over the last normalized_shape.size() dims (biased variance, as PyTorch), then
// weight * x_hat + bias with weight = 1, bias = 0 initially.
class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(const LayerNormOptions& options);
  Tensor forward(const Tensor& x) const override;
  std::string extra_repr() const override;
  Tensor weight, bias;

 private:
  Shape normalized_shape_;
  float eps_;
};

class ReLU : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) const override;
};
class Tanh : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) const override;
};
class Sigmoid : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) const override;
};

// Wraps a function as a layer, e.g. [](const Tensor& x) { return select(x, 1, -1); }.
class Functional : public UnaryModule {
 public:
  explicit Functional(std::function<Tensor(const Tensor&)> fn) : fn_(std::move(fn)) {}
  Tensor forward(const Tensor& x) const override { return fn_(x); }

 private:
  std::function<Tensor(const Tensor&)> fn_;
};

// Chains single-input layers; children are named "0", "1", ... as in PyTorch. Each layer is
// called (layer(x)), so hooks on the layers run.
class Sequential : public UnaryModule {
 public:
  template <typename M>
  Sequential& push_back(M&& module) {
    static_assert(std::is_base_of_v<UnaryModule, std::decay_t<M>>,
                  "Sequential holds single-input layers (nn::UnaryModule)");
    layers_.push_back(&register_module(std::to_string(layers_.size()), std::forward<M>(module)));
    return *this;
  }
  Tensor forward(const Tensor& x) const override;
  std::size_t size() const { return layers_.size(); }

 private:
  std::vector<UnaryModule*> layers_;
};

}  // namespace tapegrad::nn
