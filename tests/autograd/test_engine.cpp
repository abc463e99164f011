// The tape engine, exercised through small ops defined here with record(): the same way a user
// adds an op outside the library.
#include <thread>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "test_util.h"

using namespace tapegrad;

namespace {

// y = k * x
Tensor scale(const Tensor& x, float k) {
  Tensor out = Tensor::empty(x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) out.data()[i] = k * x.data()[i];
  record("scale", {x}, {out}, {}, [k](BackwardContext& ctx) {
    Tensor g = Tensor::empty(ctx.grad_output().shape());
    for (std::int64_t i = 0; i < g.numel(); ++i) g.data()[i] = k * ctx.grad_output().data()[i];
    ctx.accumulate(0, g);
  });
  return out;
}

// y = a * b (same shapes); saves both inputs
Tensor times(const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(a.shape());
  for (std::int64_t i = 0; i < a.numel(); ++i) out.data()[i] = a.data()[i] * b.data()[i];
  record("times", {a, b}, {out}, {a, b}, [](BackwardContext& ctx) {
    const Tensor& g = ctx.grad_output();
    for (std::size_t input = 0; input < 2; ++input) {
      if (!ctx.needs_grad(input)) continue;
      const Tensor& other = ctx.saved(1 - input);
      Tensor grad = Tensor::empty(g.shape());
      for (std::int64_t i = 0; i < g.numel(); ++i) grad.data()[i] = g.data()[i] * other.data()[i];
      ctx.accumulate(input, grad);
    }
  });
  return out;
}

Tensor plus(const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(a.shape());
  for (std::int64_t i = 0; i < a.numel(); ++i) out.data()[i] = a.data()[i] + b.data()[i];
  record("plus", {a, b}, {out}, {}, [](BackwardContext& ctx) {
    ctx.accumulate(0, ctx.grad_output());
    ctx.accumulate(1, ctx.grad_output());
  });
  return out;
}

Tensor total(const Tensor& x) {
  double s = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) s += x.data()[i];
  Tensor out = Tensor::scalar(static_cast<float>(s));
  Shape shape = x.shape();
  record("total", {x}, {out}, {}, [shape](BackwardContext& ctx) {
    ctx.accumulate(0, Tensor::full(shape, ctx.grad_output().item()));
  });
  return out;
}

// Two outputs: (2x, 3x)
std::pair<Tensor, Tensor> twice_thrice(const Tensor& x) {
  Tensor a = scale(x.detach(), 2), b = scale(x.detach(), 3);
  record("twice_thrice", {x}, {a, b}, {}, [](BackwardContext& ctx) {
    Tensor g = Tensor::empty(ctx.grad_output(0).shape());
    for (std::int64_t i = 0; i < g.numel(); ++i) {
      g.data()[i] = 2 * ctx.grad_output(0).data()[i] + 3 * ctx.grad_output(1).data()[i];
    }
    ctx.accumulate(0, g);
  });
  return {a, b};
}

}  // namespace

TEST_CASE("gradients of a diamond and of a reused node", "[engine]") {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}, true);
  // a = 2x, b = a*a, c = b + a: dc/dx = (2a + 1) * 2 = 8x + 2
  Tensor a = scale(x, 2);
  Tensor c = total(plus(times(a, a), a));
  c.backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{10, 18, 26});
  REQUIRE(x.grad().grad_fn() == nullptr);  // grads carry no history
  REQUIRE_FALSE(x.grad().requires_grad());
  REQUIRE(a.grad().defined() == false);   // only leaves keep .grad
}

TEST_CASE("gradients accumulate across backward calls until zero_grad", "[engine]") {
  Tensor x = Tensor::from_vector({1, -2}, {2}, true);
  total(scale(x, 3)).backward();
  total(scale(x, 3)).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{6, 6});
  x.zero_grad();
  REQUIRE_FALSE(x.grad().defined());
  total(scale(x, 1)).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{1, 1});
}

TEST_CASE("retain_graph allows a second backward and without it the error names the op",
          "[engine]") {
  Tensor x = Tensor::from_vector({2}, {1}, true);
  Tensor y = total(times(x, x));
  y.backward({.retain_graph = true});
  y.backward();
  REQUIRE(x.grad().item() == 8.0f);
  REQUIRE_THROWS_AS(y.backward(), AutogradError);
  REQUIRE_THROWS_WITH(y.backward(), Catch::Contains("total") && Catch::Contains("retain_graph"));
}

TEST_CASE("backward after an in-place change of a saved tensor throws naming the op",
          "[engine]") {
  Tensor x = Tensor::from_vector({1, 2}, {2}, true);
  Tensor y = total(times(x, x));
  {
    NoGradGuard no_grad;
    x.fill_(0.0f);
  }
  REQUIRE_THROWS_AS(y.backward(), AutogradError);
  Tensor x2 = Tensor::from_vector({1, 2}, {2}, true);
  Tensor y2 = total(times(x2, x2));
  {
    NoGradGuard no_grad;
    x2.mul_(2.0f);
  }
  REQUIRE_THROWS_WITH(y2.backward(), Catch::Contains("times") &&
                                         Catch::Contains("modified in place") &&
                                         Catch::Contains("version 1, expected 0"));
  REQUIRE_FALSE(x2.grad().defined());
}

TEST_CASE("a 100,000-op chain runs backward and is destroyed without recursion", "[engine]") {
  Tensor x = Tensor::from_vector({1.0f}, {1}, true);
  {
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = scale(y, 1.0f);
    y.backward();
    REQUIRE(x.grad().item() == 1.0f);
  }
  {
    // destroyed without ever running backward (the recursive shared_ptr teardown case)
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = times(y, y.detach());
  }
  SUCCEED("no stack overflow");
}

TEST_CASE("backward seeds: scalars implicitly, others need an explicit gradient", "[engine]") {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}, true);
  Tensor y = scale(x, 2);
  REQUIRE_THROWS_AS(y.backward(), AutogradError);
  REQUIRE_THROWS_AS(y.backward(Tensor::ones({2})), ShapeError);
  y.backward(Tensor::from_vector({1, 0, -1}, {3}));
  REQUIRE(x.grad().to_vector() == std::vector<float>{2, 0, -2});
  Tensor plain = Tensor::ones({1});
  REQUIRE_THROWS_AS(plain.backward(), AutogradError);
  // a leaf that requires grad can be the root itself
  Tensor leaf = Tensor::ones({1}, true);
  leaf.backward();
  REQUIRE(leaf.grad().item() == 1.0f);
}

TEST_CASE("an unused output of a multi-output node contributes zero", "[engine]") {
  Tensor x = Tensor::from_vector({1, 2}, {2}, true);
  auto [a, b] = twice_thrice(x);
  total(b).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{3, 3});
  x.zero_grad();
  auto [c, d] = twice_thrice(x);
  total(plus(c, d)).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{5, 5});
}

TEST_CASE("detach stops the gradient", "[engine]") {
  Tensor x = Tensor::from_vector({3}, {1}, true);
  Tensor y = times(x, x.detach());
  total(y).backward();
  REQUIRE(x.grad().item() == 3.0f);
}

TEST_CASE("no-grad mode records nothing and is thread-local", "[grad_mode]") {
  Tensor x = Tensor::ones({2}, true);
  REQUIRE(is_grad_enabled());
  {
    NoGradGuard no_grad;
    REQUIRE_FALSE(is_grad_enabled());
    Tensor y = scale(x, 2);
    REQUIRE(y.grad_fn() == nullptr);
    REQUIRE_FALSE(y.requires_grad());
    {
      GradModeGuard enable(true);
      REQUIRE(scale(x, 2).grad_fn() != nullptr);
    }
    REQUIRE_FALSE(is_grad_enabled());
    bool other_thread_enabled = false;
    std::thread([&] { other_thread_enabled = is_grad_enabled(); }).join();
    REQUIRE(other_thread_enabled);
  }
  REQUIRE(is_grad_enabled());
  REQUIRE(scale(x, 2).grad_fn() != nullptr);
  REQUIRE(scale(x.detach(), 2).grad_fn() == nullptr);
}

TEST_CASE("clone is differentiable and copies", "[engine]") {
  Tensor x = Tensor::from_vector({1, 2}, {2}, true);
  Tensor y = x.clone();
  REQUIRE(y.data() != x.data());
  REQUIRE(y.grad_fn()->name() == "clone");
  total(times(y, y)).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{2, 4});
}

TEST_CASE("a post-accumulate-grad hook runs once per backward, after the leaf's last gradient",
          "[engine][hooks]") {
  Tensor x = Tensor::from_vector({1, 2}, {2}, true);
  std::vector<std::vector<float>> seen;
  x.register_post_accumulate_grad_hook([&](Tensor& leaf) {
    REQUIRE(leaf.is_same(x));
    REQUIRE_FALSE(is_grad_enabled());
    seen.push_back(leaf.grad().to_vector());
  });
  // x reaches the loss along three edges (times uses it twice, plus once): one call, with the sum.
  total(plus(times(x, x), x)).backward();
  REQUIRE(seen == std::vector<std::vector<float>>{{3, 5}});  // 2x + 1
  // A second backward accumulates on top, and the hook sees the accumulated grad.
  total(scale(x, 10)).backward();
  REQUIRE(seen.back() == std::vector<float>{13, 15});
  // A leaf that is the root itself.
  x.backward(Tensor::from_vector({1, 1}, {2}));
  REQUIRE(seen.size() == 3);
  REQUIRE(seen.back() == std::vector<float>{14, 16});
}

TEST_CASE("post-accumulate-grad hooks fire as leaves finish, not at the end of backward",
          "[engine][hooks]") {
  // loss = total(times(scale(scale(scale(c))), a)): a is final once the times node has run, while
  // three more nodes stand between that node and c.
  Tensor a = Tensor::from_vector({2}, {1}, true);
  Tensor b = Tensor::from_vector({5}, {1}, true);
  Tensor c = Tensor::from_vector({3}, {1}, true);
  std::vector<std::string> order;
  a.register_post_accumulate_grad_hook([&](Tensor&) { order.push_back("a"); });
  RemovableHandle removed =
      b.register_post_accumulate_grad_hook([&](Tensor&) { order.push_back("b"); });
  c.register_post_accumulate_grad_hook([&](Tensor&) { order.push_back("c"); });
  removed.remove();
  removed.remove();  // a second time: nothing
  total(plus(times(scale(scale(scale(c, 1), 1), 1), a), b)).backward();
  REQUIRE(order == std::vector<std::string>{"a", "c"});
  REQUIRE(c.grad().item() == 2);
}

TEST_CASE("post-accumulate-grad hooks: errors and a leaf the pass gives no gradient",
          "[engine][hooks][errors]") {
  using Catch::Matchers::Contains;
  Tensor x = Tensor::from_vector({1}, {1}, true);
  Tensor y = scale(x, 2);
  REQUIRE_THROWS_WITH(y.register_post_accumulate_grad_hook([](Tensor&) {}),
                      Contains("only a leaf accumulates a gradient") && Contains("'scale'"));
  REQUIRE_THROWS_WITH(x.register_post_accumulate_grad_hook({}), Contains("the hook is empty"));
  x.register_post_accumulate_grad_hook([](Tensor&) { throw ValueError("hook says no"); });
  REQUIRE_THROWS_WITH(total(scale(x, 2)).backward(), Contains("hook says no"));

  // An op whose backward passes nothing to its second input: that input's hook still runs, once.
  Tensor used = Tensor::from_vector({1}, {1}, true);
  Tensor skipped = Tensor::from_vector({1}, {1}, true);
  int calls = 0;
  skipped.register_post_accumulate_grad_hook([&](Tensor& leaf) {
    ++calls;
    REQUIRE_FALSE(leaf.grad().defined());
  });
  Tensor out = Tensor::empty({1});
  out.data()[0] = used.data()[0];
  record("first_only", {used, skipped}, {out}, {},
         [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad_output()); });
  out.backward();
  REQUIRE(calls == 1);
  REQUIRE(used.grad().item() == 1);
}
