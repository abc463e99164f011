// int64 tensors (issue 11): factories, accessors, conversion, and the dtype checks that keep them
// out of float code.
#include <cstdint>
#include <limits>
#include <string>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;
using Catch::Matchers::Contains;

TEST_CASE("float32 is the default dtype of every factory", "[tensor][dtype]") {
  REQUIRE(Tensor::zeros({2}).dtype() == Dtype::float32);
  REQUIRE(Tensor::from_vector({1, 2}, {2}).dtype() == Dtype::float32);
  REQUIRE(Tensor::scalar(1.0f).is_floating_point());
  REQUIRE(Tensor::empty({3}).dtype() == Dtype::float32);
  REQUIRE(std::string(dtype_name(Dtype::int64)) == "int64");
  REQUIRE(element_size(Dtype::int64) == 8);
  REQUIRE(element_size(Dtype::float32) == 4);
}

TEST_CASE("int64 factories and accessors hold values beyond float precision exactly",
          "[tensor][dtype]") {
  const std::int64_t big = (std::int64_t{1} << 53) + 1;  // not representable as float or double
  const std::int64_t lowest = std::numeric_limits<std::int64_t>::min();
  Tensor ids = Tensor::from_vector_i64({0, -7, big, lowest, 42, 3}, {2, 3});
  REQUIRE(ids.dtype() == Dtype::int64);
  REQUIRE_FALSE(ids.is_floating_point());
  REQUIRE(ids.shape() == Shape{2, 3});
  REQUIRE(ids.numel() == 6);
  REQUIRE(ids.to_vector_i64() == std::vector<std::int64_t>{0, -7, big, lowest, 42, 3});
  REQUIRE(ids.data_i64()[2] == big);
  ids.data_i64()[0] = 11;
  const Tensor& view = ids;
  REQUIRE(view.data_i64()[0] == 11);
  REQUIRE(Tensor::from_vector_i64({9}, {}).item_i64() == 9);

  REQUIRE(Tensor::zeros({2, 2}, Dtype::int64).to_vector_i64() == std::vector<std::int64_t>(4, 0));
  REQUIRE(Tensor::ones({3}, Dtype::int64).to_vector_i64() == std::vector<std::int64_t>(3, 1));
  REQUIRE(Tensor::empty({0, 5}, Dtype::int64).numel() == 0);
  REQUIRE(Tensor::zeros_like(ids).dtype() == Dtype::int64);
  REQUIRE(Tensor::ones_like(ids).to_vector_i64() == std::vector<std::int64_t>(6, 1));
  REQUIRE(Tensor::zeros({2}, Dtype::float32).to_vector() == std::vector<float>{0, 0});

  REQUIRE_THROWS_MATCHES(Tensor::from_vector_i64({1, 2, 3}, {2}), ShapeError,
                         Catch::Message("from_vector_i64: shape [2] needs 2 values, got 3"));
  REQUIRE_THROWS_AS(Tensor::zeros({-1}, Dtype::int64), ShapeError);
  REQUIRE_THROWS_AS(Tensor::from_vector_i64({1, 2}, {2}).item_i64(), ShapeError);
}

TEST_CASE("an int64 tensor too large for its bytes is a ShapeError naming the dtype",
          "[tensor][dtype]") {
  // max_numel float32 elements are allowed; as int64 they would be twice the bytes.
  REQUIRE_THROWS_WITH(Tensor::empty({max_numel}, Dtype::int64),
                      Contains("empty: shape [" + std::to_string(max_numel) +
                               "] is too large for int64") &&
                          Contains(std::to_string(max_numel / 2) + " elements of int64"));
}

TEST_CASE("data and data_i64 refuse the other dtype with TypeError", "[tensor][dtype]") {
  Tensor ids = Tensor::from_vector_i64({1, 2}, {2});
  Tensor values = Tensor::from_vector({1, 2}, {2});
  REQUIRE_THROWS_MATCHES(ids.data(), TypeError,
                         Catch::Message("Tensor::data: tensor is int64; use data_i64(), or "
                                        "to(Dtype::float32) for a float copy"));
  REQUIRE_THROWS_MATCHES(values.data_i64(), TypeError,
                         Catch::Message("Tensor::data_i64: tensor is float32; use data(), or "
                                        "to(Dtype::int64) for an int64 copy"));
  const Tensor& const_ids = ids;
  REQUIRE_THROWS_AS(const_ids.data(), TypeError);
  REQUIRE_THROWS_WITH(ids.item(), Contains("item: expected the tensor (use item_i64() for int64) "
                                           "to be float32, got int64"));
  REQUIRE_THROWS_WITH(ids.to_vector(), Contains("to_vector: expected"));
  REQUIRE_THROWS_WITH(ids.at({0}), Contains("at: expected the tensor to be float32, got int64"));
  REQUIRE_THROWS_AS(values.to_vector_i64(), TypeError);
  REQUIRE_THROWS_AS(values.item_i64(), TypeError);
}

TEST_CASE("an int64 tensor cannot require grad", "[tensor][dtype]") {
  Tensor ids = Tensor::from_vector_i64({1, 2}, {2});
  REQUIRE_THROWS_MATCHES(ids.requires_grad_(), TypeError,
                         Catch::Message("requires_grad_: only float32 tensors can require "
                                        "gradients, this one is int64 (as in PyTorch: indices and "
                                        "labels are not differentiable)"));
  REQUIRE_FALSE(ids.requires_grad());
  ids.requires_grad_(false);  // turning it off is fine
  Tensor x = Tensor::ones({2}, true);
  Tensor y = x.clone();
  REQUIRE_THROWS_AS(y.backward(ids), TypeError);
  REQUIRE_THROWS_WITH(y.backward(ids),
                      Contains("backward: expected the gradient to be float32, got int64"));
  REQUIRE_FALSE(x.grad().defined());
}

TEST_CASE("to converts between float32 and int64 like .float() and .long()", "[tensor][dtype]") {
  Tensor x = Tensor::from_vector({2.9f, -2.9f, 0.5f, -0.0f, 1e10f, -3.0f}, {2, 3});
  Tensor ids = x.to(Dtype::int64);
  REQUIRE(ids.dtype() == Dtype::int64);
  REQUIRE(ids.shape() == Shape{2, 3});
  // Truncation toward zero.
  REQUIRE(ids.to_vector_i64() == std::vector<std::int64_t>{2, -2, 0, 0, 10000000000, -3});
  Tensor back = ids.to(Dtype::float32);
  REQUIRE(back.dtype() == Dtype::float32);
  REQUIRE(back.to_vector() == std::vector<float>{2, -2, 0, 0, 1e10f, -3});
  // Same dtype: the same handle, as PyTorch returns self.
  REQUIRE(ids.to(Dtype::int64).is_same(ids));
  REQUIRE(x.to(Dtype::float32).is_same(x));
  // Not differentiable into int64.
  Tensor w = Tensor::ones({2}, true);
  REQUIRE_FALSE(w.to(Dtype::int64).requires_grad());

  const float nan = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_MATCHES(Tensor::from_vector({1, nan}, {2}).to(Dtype::int64), ValueError,
                         Catch::Message("to: cannot convert nan at flat index 1 to int64 (NaN, "
                                        "infinite or out of range)"));
  REQUIRE_THROWS_AS(Tensor::from_vector({1e19f}, {1}).to(Dtype::int64), ValueError);
  REQUIRE_THROWS_AS(
      Tensor::from_vector({std::numeric_limits<float>::infinity()}, {1}).to(Dtype::int64),
      ValueError);
  // -2^63 is the one float at the edge that fits.
  REQUIRE(Tensor::from_vector({-9223372036854775808.0f}, {1}).to(Dtype::int64).item_i64() ==
          std::numeric_limits<std::int64_t>::min());
}

TEST_CASE("views, clones and copies of an int64 tensor keep its dtype and bits",
          "[tensor][dtype]") {
  const std::int64_t big = (std::int64_t{1} << 62) + 3;
  Tensor ids = Tensor::from_vector_i64({1, big, 3, 4}, {4});
  Tensor detached = ids.detach();
  REQUIRE(detached.dtype() == Dtype::int64);
  REQUIRE(detached.data_i64() == ids.data_i64());  // shares storage
  Tensor view = ids.view_data_as({2, 2});
  REQUIRE(view.dtype() == Dtype::int64);
  REQUIRE(view.to_vector_i64() == ids.to_vector_i64());
  Tensor copy = ids.clone();
  REQUIRE(copy.dtype() == Dtype::int64);
  REQUIRE(copy.grad_fn() == nullptr);
  copy.data_i64()[0] = 100;
  REQUIRE(ids.data_i64()[0] == 1);

  Tensor target = Tensor::zeros({4}, Dtype::int64);
  const std::uint64_t version = target.version();
  target.copy_(ids);
  REQUIRE(target.to_vector_i64() == ids.to_vector_i64());
  REQUIRE(target.version() == version + 1);
  REQUIRE_THROWS_MATCHES(target.copy_(Tensor::zeros({4})), TypeError,
                         Catch::Message("copy_: expected a source of dtype int64, got float32 "
                                        "(convert it with to() first)"));
  REQUIRE(target.to_vector_i64() == ids.to_vector_i64());  // nothing written
  REQUIRE_THROWS_AS(Tensor::zeros({4}).copy_(ids), TypeError);
}

TEST_CASE("float in-place methods refuse int64 tensors naming the method", "[tensor][dtype]") {
  Tensor ids = Tensor::from_vector_i64({1, 2}, {2});
  REQUIRE_THROWS_WITH(ids.fill_(0.0f),
                      Contains("fill_: expected the tensor to be float32, got int64"));
  REQUIRE_THROWS_WITH(ids.mul_(2.0f), Contains("mul_: expected the tensor to be float32"));
  REQUIRE_THROWS_WITH(ids.add_(ids), Contains("add_: expected the tensor to be float32"));
  REQUIRE_THROWS_WITH(Tensor::zeros({2}).add_(ids),
                      Contains("add_: expected the other tensor to be float32, got int64"));
  REQUIRE(ids.to_vector_i64() == std::vector<std::int64_t>{1, 2});
  REQUIRE(ids.version() == 0);
}

TEST_CASE("to_string shows an int64 tensor's dtype and integer values", "[tensor][dtype]") {
  REQUIRE(Tensor::from_vector_i64({3, -1, 9007199254740993}, {3}).to_string() ==
          "Tensor(shape=[3], dtype=int64, values=[3, -1, 9007199254740993])");
  REQUIRE(Tensor::from_vector({1.5f}, {1}).to_string() == "Tensor(shape=[1], values=[1.5])");
}

TEST_CASE("check_floating and check_int64 name the op and the argument", "[tensor][dtype]") {
  Tensor ids = Tensor::from_vector_i64({1}, {1});
  Tensor values = Tensor::ones({1});
  REQUIRE_THROWS_MATCHES(check_floating("my_op", "x", ids), TypeError,
                         Catch::Message("my_op: expected x to be float32, got int64 (ops compute "
                                        "in float32: convert with to(Dtype::float32))"));
  REQUIRE_THROWS_MATCHES(check_int64("my_op", "target", values), TypeError,
                         Catch::Message("my_op: expected target to be int64, got float32 "
                                        "(indices and class targets are int64, like torch.long: "
                                        "convert with to(Dtype::int64))"));
  REQUIRE_NOTHROW(check_floating("my_op", "x", values));
  REQUIRE_NOTHROW(check_int64("my_op", "x", ids));
  REQUIRE_NOTHROW(check_floating("my_op", "x", Tensor()));
}

// The engine's own dtype checks: nothing that runs during backward can make a float parameter's
// gradient int64 (it would fail later, in an optimizer step or a DDP hook, half applied).
TEST_CASE("backward refuses int64 gradients from hooks and custom ops, and int64 outputs are not "
          "differentiable",
          "[tensor][dtype][autograd]") {
  SECTION("a tensor hook that returns an int64 gradient") {
    Tensor w = Tensor::ones({3}, /*requires_grad=*/true);
    w.register_hook([](const Tensor& grad) { return grad.to(Dtype::int64); });
    Tensor loss = sum(mul(w, w));
    REQUIRE_THROWS_AS(loss.backward(), AutogradError);
    REQUIRE_THROWS_WITH(sum(mul(w, w)).backward(),
                        Contains("returned a gradient of dtype int64, expected float32"));
    REQUIRE_FALSE(w.grad().defined());
  }
  SECTION("a custom op whose backward accumulates an int64 gradient") {
    Tensor x = Tensor::ones({2}, /*requires_grad=*/true);
    Tensor out = Tensor::zeros({2});
    record("int64_backward", {x}, {out}, /*saved=*/{}, [](BackwardContext& ctx) {
      ctx.accumulate(0, Tensor::ones({2}, Dtype::int64));
    });
    REQUIRE_THROWS_WITH(sum(out).backward(),
                        Contains("int64_backward: backward produced a gradient of dtype int64"));
    REQUIRE_FALSE(x.grad().defined());
  }
  SECTION("a custom op with a float and an int64 output") {
    Tensor x = Tensor::from_vector({3, 1, 2}, {3}, /*requires_grad=*/true);
    Tensor doubled = Tensor::from_vector({6, 2, 4}, {3});
    Tensor order = Tensor::from_vector_i64({1, 2, 0}, {3});
    record("double_and_argsort", {x}, {doubled, order}, /*saved=*/{}, [](BackwardContext& ctx) {
      ctx.accumulate(0, mul(ctx.grad_output(0), Tensor::full({3}, 2.0f)));
    });
    REQUIRE(doubled.requires_grad());
    REQUIRE_FALSE(order.requires_grad());
    REQUIRE(order.grad_fn() == nullptr);
    sum(doubled).backward();
    REQUIRE(x.grad().to_vector() == std::vector<float>{2, 2, 2});
    // Anomaly mode looks for NaN and inf in float outputs only.
    DetectAnomalyGuard anomaly;
    Tensor again = Tensor::from_vector({6, 2, 4}, {3});
    Tensor order_again = Tensor::from_vector_i64({1, 2, 0}, {3});
    record("double_and_argsort", {x}, {again, order_again}, /*saved=*/{},
           [](BackwardContext&) {});
    REQUIRE(again.requires_grad());
  }
}
