// Every op that computes refuses an int64 tensor with a TypeError naming the op (issue 11), before
// it allocates or records anything: never a crash or float garbage read from integer bits. The ops
// that only move data (reshape, transpose, slice, cat, index_select, ...) take int64 and keep it;
// their tests are in each op's own file ("[dtype]"), mixed-dtype cat and stack in test_cat.cpp.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "ops/ops.h"

using namespace tapegrad;

TEST_CASE("float ops refuse int64 inputs with a TypeError naming the op", "[dtype]") {
  const Tensor ids = Tensor::from_vector_i64({0, 1, 2, 1, 0, 2}, {2, 3});
  const Tensor x = Tensor::ones({2, 3});
  const Tensor square = Tensor::ones({3, 3});
  Generator generator(1);
  struct Case {
    std::string op;
    std::function<void()> call;
  };
  const std::vector<Case> cases = {
      {"add", [&] { add(x, ids); }},
      {"add", [&] { add(ids, 1.0f); }},
      {"sub", [&] { sub(ids, x); }},
      {"mul", [&] { mul(x, ids); }},
      {"div", [&] { div(ids, x); }},
      {"pow", [&] { pow(ids, 2.0f); }},
      {"maximum", [&] { maximum(ids, x); }},
      {"neg", [&] { neg(ids); }},
      {"exp", [&] { exp(ids); }},
      {"log", [&] { log(ids); }},
      {"abs", [&] { abs(ids); }},
      {"sigmoid", [&] { sigmoid(ids); }},
      {"tanh", [&] { tanh(ids); }},
      {"relu", [&] { relu(ids); }},
      {"clamp", [&] { clamp(ids, 0.0f, 1.0f); }},
      {"sum", [&] { sum(ids); }},
      {"mean", [&] { mean(ids, {0}); }},
      {"max", [&] { max(ids, 1); }},
      {"max", [&] { max(ids); }},
      {"argmax", [&] { argmax(ids, 1); }},
      {"matmul", [&] { matmul(ids, square); }},
      {"matmul", [&] { matmul(x, Tensor::from_vector_i64({1, 2, 3}, {3, 1})); }},
      {"linear", [&] { linear(ids, square, Tensor()); }},
      {"where", [&] { where(x, ids, x); }},
      {"masked_fill", [&] { masked_fill(ids, x, 0.0f); }},
      {"softmax", [&] { softmax(ids, 1); }},
      {"log_softmax", [&] { log_softmax(ids, 1); }},
      {"logsumexp", [&] { logsumexp(ids, 1); }},
      {"dropout", [&] { dropout(ids, 0.5f, true, generator); }},
      {"mse_loss", [&] { mse_loss(ids, x); }},
      {"l1_loss", [&] { l1_loss(x, ids); }},
      {"binary_cross_entropy", [&] { binary_cross_entropy(ids, x); }},
      {"cross_entropy", [&] { cross_entropy(ids, std::vector<std::int64_t>{0, 1}); }},
      {"nll_loss", [&] { nll_loss(ids, std::vector<std::int64_t>{0, 1}); }},
      {"embedding", [&] { embedding(ids, {0}, {1}); }},
  };
  for (const Case& c : cases) {
    INFO(c.op);
    try {
      c.call();
      FAIL("no exception");
    } catch (const TypeError& error) {
      const std::string message = error.what();
      INFO(message);
      REQUIRE(message.rfind(c.op + ": expected ", 0) == 0);
      REQUIRE(message.find("to be float32, got int64") != std::string::npos);
    }
  }
}
