#include <cmath>

#include "autograd/grad_mode.h"
#include "nn/layers.h"
#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;

TEST_CASE("Linear: PyTorch's shapes, init bounds and x W^T + b", "[layers]") {
  Generator gen(1);
  nn::Linear fc({.in_features = 16, .out_features = 3}, gen);
  REQUIRE(fc.weight.shape() == Shape{3, 16});
  REQUIRE(fc.bias.shape() == Shape{3});
  REQUIRE(fc.named_parameters()[0].first == "weight");
  REQUIRE(fc.named_parameters()[1].first == "bias");
  for (const Tensor& p : fc.parameters()) {
    for (float v : p.to_vector()) REQUIRE(std::abs(v) <= 0.25f);  // 1/sqrt(16)
  }
  Tensor x = Tensor::uniform({2, 5, 16}, -1, 1, gen);
  Tensor y = fc.forward(x);
  REQUIRE(y.shape() == Shape{2, 5, 3});
  // one output by hand
  double expected = fc.bias.data()[2];
  for (int k = 0; k < 16; ++k) expected += double(x.at({1, 4, k})) * fc.weight.at({2, k});
  REQUIRE(y.at({1, 4, 2}) == Approx(expected).epsilon(1e-5));
  nn::Linear no_bias({.in_features = 4, .out_features = 2, .bias = false}, gen);
  REQUIRE(no_bias.parameters().size() == 1);
  REQUIRE_FALSE(no_bias.bias.defined());
  REQUIRE_THROWS_AS(nn::Linear({.in_features = 0, .out_features = 2}, gen), ValueError);
  REQUIRE_THROWS_WITH(fc.forward(Tensor::zeros({2, 15})), Catch::Contains("[2, 15]"));
}

TEST_CASE("Embedding: N(0,1) table, zero padding row that gets no gradient", "[layers]") {
  Generator gen(2);
  nn::Embedding embed({.num_embeddings = 10, .embedding_dim = 4, .padding_idx = -1}, gen);
  REQUIRE(embed.weight.shape() == Shape{10, 4});
  for (int j = 0; j < 4; ++j) REQUIRE(embed.weight.at({9, j}) == 0.0f);  // -1 wraps to 9
  Tensor out = embed.forward({3, 9, 3}, {3});
  REQUIRE(out.shape() == Shape{3, 4});
  REQUIRE(out.at({0, 1}) == embed.weight.at({3, 1}));
  sum(out).backward();
  REQUIRE(embed.weight.grad().at({3, 0}) == 2.0f);  // used twice
  REQUIRE(embed.weight.grad().at({9, 0}) == 0.0f);  // padding
  REQUIRE(embed.weight.grad().at({0, 0}) == 0.0f);  // unused
  REQUIRE_THROWS_AS(nn::Embedding({.num_embeddings = 5, .embedding_dim = 2, .padding_idx = 5}, gen), IndexError);
  REQUIRE_THROWS_AS(embed.forward({10}, {1}), IndexError);
}

TEST_CASE("Embedding: forward on an int64 index tensor, padding row without gradient",
          "[layers][dtype]") {
  Generator gen(2);
  nn::Embedding embed({.num_embeddings = 10, .embedding_dim = 4, .padding_idx = 9}, gen);
  const Tensor ids = Tensor::from_vector_i64({3, 9, 3, 0}, {2, 2});
  Tensor out = embed.forward(ids);
  REQUIRE(out.shape() == Shape{2, 2, 4});
  REQUIRE(out.to_vector() == embed.forward({3, 9, 3, 0}, {2, 2}).to_vector());
  sum(out).backward();
  REQUIRE(embed.weight.grad().at({3, 0}) == 2.0f);
  REQUIRE(embed.weight.grad().at({9, 0}) == 0.0f);  // padding
  REQUIRE_THROWS_AS(embed.forward(ids.to(Dtype::float32)), TypeError);
  REQUIRE_THROWS_AS(embed.forward(Tensor::from_vector_i64({10}, {1})), IndexError);
}

TEST_CASE("Dropout: active in training, the identity in eval", "[layers]") {
  Generator gen(3);
  nn::Dropout drop(0.5f, gen);
  Tensor x = Tensor::ones({1000});
  Tensor trained = drop.forward(x);
  int zeros = 0;
  for (float v : trained.to_vector()) {
    REQUIRE((v == 0.0f || v == 2.0f));
    zeros += v == 0.0f;
  }
  REQUIRE(zeros > 400);
  REQUIRE(zeros < 600);
  drop.eval();
  REQUIRE(drop.forward(x).to_vector() == x.to_vector());
  REQUIRE_THROWS_AS(nn::Dropout(1.5f, gen), ValueError);
}

TEST_CASE("LayerNorm: matches the formula with biased variance, gradcheck", "[layers]") {
  Generator gen(4);
  nn::LayerNorm norm({.normalized_shape = {5}});
  REQUIRE(norm.weight.to_vector() == std::vector<float>(5, 1.0f));
  REQUIRE(norm.bias.to_vector() == std::vector<float>(5, 0.0f));
  Tensor x = Tensor::uniform({3, 5}, -2, 2, gen, true);
  Tensor y = norm.forward(x);
  for (int r = 0; r < 3; ++r) {
    double mean = 0, var = 0;
    for (int j = 0; j < 5; ++j) mean += x.at({r, j}) / 5.0;
    for (int j = 0; j < 5; ++j) var += (x.at({r, j}) - mean) * (x.at({r, j}) - mean) / 5.0;
    for (int j = 0; j < 5; ++j) {
      REQUIRE(y.at({r, j}) == Approx((x.at({r, j}) - mean) / std::sqrt(var + 1e-5)).epsilon(1e-4));
    }
  }
  {
    NoGradGuard no_grad;
    norm.weight.copy_(Tensor::uniform({5}, 0.5f, 1.5f, gen));
    norm.bias.copy_(Tensor::uniform({5}, -1, 1, gen));
  }
  REQUIRE_GRADCHECK(
      [&](const std::vector<Tensor>& in) { return norm.forward(in[0]); }, {x});
  nn::LayerNorm plain({.normalized_shape = {2, 5}, .elementwise_affine = false});
  REQUIRE(plain.parameters().empty());
  REQUIRE(plain.forward(Tensor::uniform({4, 2, 5}, -1, 1, gen)).shape() == Shape{4, 2, 5});
  REQUIRE_THROWS_WITH(norm.forward(Tensor::zeros({3, 4})), Catch::Contains("LayerNorm") && Catch::Contains("[5]"));
  REQUIRE_THROWS_AS(nn::LayerNorm({.normalized_shape = {}}), ShapeError);
}

TEST_CASE("Sequential chains layers, names them 0, 1, ... and switches modes", "[layers]") {
  Generator gen(5);
  nn::Sequential net;
  net.push_back(nn::Linear({.in_features = 3, .out_features = 8}, gen))
      .push_back(nn::Tanh())
      .push_back(nn::Dropout(0.5f, gen))
      .push_back(nn::Linear({.in_features = 8, .out_features = 1}, gen))
      .push_back(nn::Functional([](const Tensor& x) { return mul(x, 2.0f); }));
  REQUIRE(net.size() == 5);
  auto named = net.named_parameters();
  REQUIRE(named.size() == 4);
  REQUIRE(named[0].first == "0.weight");
  REQUIRE(named[3].first == "3.bias");
  Tensor x = Tensor::uniform({4, 3}, -1, 1, gen);
  net.eval();
  const Tensor y = net.forward(x);
  REQUIRE(y.shape() == Shape{4, 1});
  auto* first = static_cast<nn::Linear*>(net.named_children()[0].second);
  auto* last = static_cast<nn::Linear*>(net.named_children()[3].second);
  Tensor expected = mul(last->forward(tanh(first->forward(x))), 2.0f);
  REQUIRE_ALL_CLOSE(y, expected);
  REQUIRE(nn::ReLU().forward(Tensor::from_vector({-1, 2}, {2})).to_vector() == std::vector<float>{0, 2});
  REQUIRE(nn::Sigmoid().forward(Tensor::zeros({1})).item() == 0.5f);
}
