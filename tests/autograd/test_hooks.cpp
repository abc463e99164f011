// Tensor hooks, retain_grad, post-accumulate-grad hooks and GradProbe, with PyTorch's semantics
// (https://pytorch.org/docs/stable/notes/autograd.html#backward-hooks-execution): a hook sees the
// whole gradient of its tensor once per backward, hooks run in registration order, a returned
// tensor replaces the gradient, retain_grad keeps the final gradient of a non-leaf.
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/grad_probe.h"
#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;
using Catch::Matchers::Contains;

namespace {

Tensor vec(std::vector<float> values) {
  const auto n = static_cast<std::int64_t>(values.size());
  return Tensor::from_vector(values, {n});
}

Tensor leaf(std::vector<float> values) { return vec(std::move(values)).requires_grad_(); }

}  // namespace

// ---------------------------------------------------------------- register_hook

TEST_CASE("a hook on a non-leaf sees its whole gradient once and can inspect it", "[hooks]") {
  Tensor x = leaf({1.0f, -2.0f});
  Tensor y = mul(x, 3.0f);
  std::vector<std::vector<float>> seen;
  y.register_hook([&seen](const Tensor& grad) { seen.push_back(grad.to_vector()); });
  // L = sum(2 y) + sum(y^2): y is used twice, dL/dy = 2 + 2 y = {8, -10}.
  add(sum(mul(y, 2.0f)), sum(mul(y, y))).backward();
  REQUIRE(seen == std::vector<std::vector<float>>{{8.0f, -10.0f}});
  REQUIRE(x.grad().to_vector() == std::vector<float>{24.0f, -30.0f});  // unchanged: 3 dL/dy
}

TEST_CASE("hooks run in registration order, a returned tensor replaces the gradient", "[hooks]") {
  Tensor x = leaf({1.0f, 2.0f});
  Tensor y = mul(x, 2.0f);
  std::vector<std::string> order;
  y.register_hook([&](const Tensor& grad) {
    order.push_back("first saw " + std::to_string(grad.to_vector()[0]));
    return mul(grad, 10.0f);
  });
  y.register_hook([&](const Tensor& grad) {  // an undefined result leaves the gradient
    order.push_back("second saw " + std::to_string(grad.to_vector()[0]));
    return Tensor();
  });
  y.register_hook([&](const Tensor& grad) {
    order.push_back("third saw " + std::to_string(grad.to_vector()[0]));
    return add(grad, 1.0f);
  });
  sum(y).backward();
  REQUIRE(order == std::vector<std::string>{"first saw 1.000000", "second saw 10.000000",
                                            "third saw 10.000000"});
  // dL/dx = 2 * (10 * 1 + 1)
  REQUIRE(x.grad().to_vector() == std::vector<float>{22.0f, 22.0f});
  REQUIRE_FALSE(x.grad().requires_grad());
}

TEST_CASE("a leaf's hook runs once per backward with the sum over its uses, before .grad",
          "[hooks]") {
  // PyTorch: x.register_hook(h); (x*x + x*3).sum().backward() calls h once with 2x + 3.
  Tensor x = leaf({1.0f, 2.0f});
  int calls = 0;
  std::vector<float> seen;
  x.register_hook([&](const Tensor& grad) {
    ++calls;
    seen = grad.to_vector();
    return mul(grad, -1.0f);
  });
  Tensor loss = sum(add(mul(x, x), mul(x, 3.0f)));
  loss.backward({.retain_graph = true});
  REQUIRE(calls == 1);
  REQUIRE(seen == std::vector<float>{5.0f, 7.0f});
  REQUIRE(x.grad().to_vector() == std::vector<float>{-5.0f, -7.0f});
  loss.backward();  // a second backward: the hook runs again, .grad accumulates what it returns
  REQUIRE(calls == 2);
  REQUIRE(x.grad().to_vector() == std::vector<float>{-10.0f, -14.0f});
}

TEST_CASE("hooks on the root of backward and on a leaf root", "[hooks]") {
  Tensor x = leaf({1.0f, 2.0f});
  Tensor loss = sum(mul(x, 2.0f));
  loss.register_hook([](const Tensor& grad) { return mul(grad, 5.0f); });
  loss.backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{10.0f, 10.0f});

  Tensor scalar = Tensor::scalar(3.0f, true);
  scalar.register_hook([](const Tensor& grad) { return mul(grad, 5.0f); });
  scalar.backward();
  REQUIRE(scalar.grad().item() == 5.0f);
}

TEST_CASE("a hook on one output of a multi-output op changes only that output's gradient",
          "[hooks]") {
  Tensor x = leaf({1.0f, 2.0f, 3.0f, 4.0f});
  std::vector<Tensor> halves = split(x, 2);  // one node, two outputs
  halves[1].register_hook([](const Tensor& grad) { return mul(grad, 100.0f); });
  sum(cat({halves[0], halves[1]})).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{1.0f, 1.0f, 100.0f, 100.0f});
}

TEST_CASE("a hook lives with the graph, not with the handle it was registered through",
          "[hooks]") {
  Tensor x = leaf({1.0f, 2.0f});
  Tensor loss;
  {
    Tensor hidden = tanh(x);
    hidden.register_hook([](const Tensor& grad) { return mul(grad, 0.0f); });
    loss = sum(mul(hidden, 2.0f));
  }  // `hidden` is gone; its node and hook are still in loss's graph
  loss.backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{0.0f, 0.0f});
}

TEST_CASE("remove() unhooks, removing twice or after the tensor is gone does nothing",
          "[hooks]") {
  Tensor x = leaf({1.0f});
  int calls = 0;
  RemovableHandle kept = x.register_hook([&](const Tensor&) { ++calls; });
  RemovableHandle removed = x.register_hook([&](const Tensor& grad) { return mul(grad, 100.0f); });
  removed.remove();
  removed.remove();
  mul(x, 2.0f).backward();
  REQUIRE(calls == 1);
  REQUIRE(x.grad().item() == 2.0f);

  RemovableHandle moved = std::move(kept);
  kept.remove();  // moved-from: empty, nothing happens
  mul(x, 2.0f).backward();
  REQUIRE(calls == 2);
  moved.remove();
  mul(x, 2.0f).backward();
  REQUIRE(calls == 2);

  RemovableHandle orphan;
  {
    Tensor gone = leaf({1.0f});
    orphan = gone.register_hook([](const Tensor&) {});
  }
  orphan.remove();
}

TEST_CASE("a hook may remove itself while the hooks run", "[hooks]") {
  Tensor x = leaf({1.0f});
  int calls = 0;
  auto handle = std::make_shared<RemovableHandle>();
  *handle = x.register_hook([&calls, handle](const Tensor&) {
    ++calls;
    handle->remove();
  });
  Tensor loss = mul(x, 2.0f);
  loss.backward({.retain_graph = true});
  loss.backward();
  REQUIRE(calls == 1);
  handle.reset();
}

TEST_CASE("a returned gradient is used as data: it carries no history", "[hooks]") {
  Tensor x = leaf({1.0f, 2.0f});
  Tensor weight = leaf({3.0f, 4.0f});
  Tensor y = mul(x, 1.0f);
  y.register_hook([weight](const Tensor&) { return weight; });
  Tensor loss = sum(y);
  loss.backward({.retain_graph = true});
  REQUIRE(x.grad().to_vector() == std::vector<float>{3.0f, 4.0f});
  REQUIRE(x.grad().is_leaf());
  REQUIRE_FALSE(x.grad().requires_grad());
  REQUIRE_FALSE(weight.grad().defined());
  // x.grad is its own buffer: accumulating into it leaves the returned tensor alone.
  loss.backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{6.0f, 8.0f});
  REQUIRE(weight.to_vector() == std::vector<float>{3.0f, 4.0f});
}

TEST_CASE("register_hook refuses tensors without grad and hooks that change the shape",
          "[hooks]") {
  Tensor constant = vec({1.0f, 2.0f});
  REQUIRE_THROWS_AS(constant.register_hook([](const Tensor&) {}), AutogradError);
  REQUIRE_THROWS_WITH(constant.set_name("c").register_hook([](const Tensor&) {}),
                      Contains("register_hook: cannot register a hook on a tensor that does not "
                               "require grad ('c')"));
  {
    NoGradGuard no_grad;
    Tensor x = leaf({1.0f});
    Tensor computed = mul(x, 2.0f);  // nothing recorded: no grad
    REQUIRE_THROWS_AS(computed.register_hook([](const Tensor&) {}), AutogradError);
  }
  REQUIRE_THROWS_AS(Tensor().register_hook([](const Tensor&) {}), ValueError);
  Tensor x = leaf({1.0f, 2.0f});
  REQUIRE_THROWS_AS(x.register_hook(std::function<Tensor(const Tensor&)>()), ValueError);

  Tensor y = mul(x, 2.0f);
  y.register_hook([](const Tensor& grad) { return sum(grad); });
  REQUIRE_THROWS_WITH(sum(y).backward(),
                      Contains("register_hook: hook 0 of the tensor of shape [2] (output 0 of "
                               "'mul')") &&
                          Contains("returned a gradient of shape [], expected [2]"));
  Tensor z = leaf({1.0f}).set_name("z");
  z.register_hook([](const Tensor&) { return Tensor::zeros({3}); });
  REQUIRE_THROWS_WITH(mul(z, 2.0f).backward(),
                      Contains("hook 0 of leaf tensor 'z' of shape [1] returned a gradient of "
                               "shape [3]"));
  REQUIRE_FALSE(z.grad().defined());
}

// ---------------------------------------------------------------- retain_grad

TEST_CASE("retain_grad keeps a non-leaf's gradient, accumulated over backward calls",
          "[hooks][retain_grad]") {
  Tensor x = leaf({1.0f, 2.0f});
  Tensor y = mul(x, 2.0f);
  REQUIRE_FALSE(y.retains_grad());
  y.retain_grad();
  REQUIRE(y.retains_grad());
  Tensor loss = sum(mul(y, y));  // dL/dy = 2 y = {4, 8}
  loss.backward({.retain_graph = true});
  REQUIRE(y.grad().to_vector() == std::vector<float>{4.0f, 8.0f});
  REQUIRE_FALSE(y.grad().requires_grad());
  loss.backward();  // PyTorch: tensor([ 8., 16.])
  REQUIRE(y.grad().to_vector() == std::vector<float>{8.0f, 16.0f});
  y.zero_grad();
  REQUIRE_FALSE(y.grad().defined());

  Tensor z = mul(x, 2.0f);  // without retain_grad only leaves keep .grad
  sum(z).backward();
  REQUIRE_FALSE(z.grad().defined());
}

TEST_CASE("retain_grad sees the gradient after every hook, whatever the order",
          "[hooks][retain_grad]") {
  // PyTorch >= 2.0: "the retains_grad hook is always executed last".
  for (bool hook_first : {true, false}) {
    INFO("hook registered " << (hook_first ? "before" : "after") << " retain_grad");
    Tensor x = leaf({1.0f, 2.0f});
    Tensor y = mul(x, 2.0f);
    if (!hook_first) y.retain_grad();
    y.register_hook([](const Tensor& grad) { return mul(grad, 10.0f); });
    if (hook_first) y.retain_grad();
    sum(y).backward();
    REQUIRE(y.grad().to_vector() == std::vector<float>{10.0f, 10.0f});
    REQUIRE(x.grad().to_vector() == std::vector<float>{20.0f, 20.0f});
  }
}

TEST_CASE("retain_grad is a no-op on a leaf and refuses a tensor without grad",
          "[hooks][retain_grad]") {
  Tensor x = leaf({1.0f});
  x.retain_grad();
  REQUIRE_FALSE(x.retains_grad());
  mul(x, 3.0f).backward();
  REQUIRE(x.grad().item() == 3.0f);
  Tensor constant = vec({1.0f});
  REQUIRE_THROWS_WITH(constant.retain_grad(),
                      Contains("retain_grad: cannot retain the gradient of a tensor that does not "
                               "require grad"));
  REQUIRE_FALSE(constant.retains_grad());
}

// ---------------------------------------------------------------- both kinds on a leaf

TEST_CASE("a leaf's post-accumulate-grad hook sees .grad as its register_hook hooks left it",
          "[hooks][post_accumulate]") {
  // PyTorch: a leaf's register_hook hooks run on the summed gradient before AccumulateGrad adds
  // it into .grad; register_post_accumulate_grad_hook hooks run after, whatever the order of
  // registration.
  Tensor x = leaf({1.0f, 2.0f});
  std::vector<std::string> order;
  std::vector<std::vector<float>> seen;
  RemovableHandle post = x.register_post_accumulate_grad_hook([&](Tensor& t) {
    order.push_back("post");
    seen.push_back(t.grad().to_vector());
  });
  RemovableHandle doubling = x.register_hook([&](const Tensor& grad) {
    order.push_back("hook");
    return mul(grad, 2.0f);
  });
  auto loss_of = [](const Tensor& t) { return sum(mul(t, 3.0f)); };
  loss_of(x).backward();
  REQUIRE(order == std::vector<std::string>{"hook", "post"});
  REQUIRE(seen.back() == std::vector<float>{6.0f, 6.0f});
  // One removal design for both kinds: each handle takes away its own hook only.
  doubling.remove();
  loss_of(x).backward();
  REQUIRE(seen.back() == std::vector<float>{9.0f, 9.0f});
  post.remove();
  post.remove();
  loss_of(x).backward();
  REQUIRE(seen.size() == 2);
  REQUIRE(x.grad().to_vector() == std::vector<float>{12.0f, 12.0f});
}

TEST_CASE("a post-accumulate-grad hook may remove itself, non-leaves and constants are refused",
          "[hooks][post_accumulate]") {
  Tensor x = leaf({1.0f});
  int calls = 0;
  auto handle = std::make_shared<RemovableHandle>();
  *handle = x.register_post_accumulate_grad_hook([&calls, handle](Tensor&) {
    ++calls;
    handle->remove();
  });
  mul(x, 2.0f).backward();
  mul(x, 2.0f).backward();
  REQUIRE(calls == 1);
  REQUIRE(x.grad().item() == 4.0f);
  handle.reset();

  REQUIRE_THROWS_WITH(mul(x, 2.0f).register_post_accumulate_grad_hook([](Tensor&) {}),
                      Contains("register_post_accumulate_grad_hook: only a leaf accumulates a "
                               "gradient; this tensor is the output of 'mul'"));
  Tensor constant = vec({1.0f});
  REQUIRE_THROWS_WITH(constant.register_post_accumulate_grad_hook([](Tensor&) {}),
                      Contains("register_post_accumulate_grad_hook: cannot register a hook on a "
                               "tensor that does not require grad"));
}

// ---------------------------------------------------------------- GradProbe

TEST_CASE("GradProbe reads dL/dy of an intermediate tensor without changing anything",
          "[hooks][grad_probe]") {
  Generator gen(3);
  Tensor x = Tensor::uniform({3, 4}, -2.0f, 2.0f, gen, true);
  Tensor w = Tensor::uniform({3, 4}, -1.0f, 1.0f, gen);
  Tensor y = tanh(x);
  GradProbe probe(y);
  REQUIRE_FALSE(probe.grad().defined());
  sum(mul(w, mul(y, y))).backward();  // L = sum(w y^2)

  Tensor expected_probe = Tensor::empty({3, 4});
  Tensor expected_x = Tensor::empty({3, 4});
  for (std::int64_t i = 0; i < 12; ++i) {
    const float yi = std::tanh(x.data()[i]);
    expected_probe.data()[i] = 2.0f * w.data()[i] * yi;
    expected_x.data()[i] = expected_probe.data()[i] * (1.0f - yi * yi);
  }
  REQUIRE_ALL_CLOSE(probe.grad(), expected_probe, 1e-5, 1e-6);
  REQUIRE_ALL_CLOSE(x.grad(), expected_x, 1e-5, 1e-6);
  REQUIRE_FALSE(probe.grad().requires_grad());
}

TEST_CASE("GradProbe sums over retained backward calls, resets, and unhooks when destroyed",
          "[hooks][grad_probe]") {
  Tensor x = leaf({1.0f, -2.0f});
  Tensor y = mul(x, 1.0f);
  Tensor loss = add(sum(mul(y, 3.0f)), sum(mul(y, y)));  // dL/dy = 3 + 2 y
  std::vector<GradProbe> probes;
  probes.emplace_back(y);
  probes.emplace_back(x);  // a leaf: sees what goes into x.grad
  loss.backward({.retain_graph = true});
  REQUIRE(probes[0].grad().to_vector() == std::vector<float>{5.0f, -1.0f});
  REQUIRE(probes[1].grad().to_vector() == std::vector<float>{5.0f, -1.0f});
  loss.backward({.retain_graph = true});
  REQUIRE(probes[0].grad().to_vector() == std::vector<float>{10.0f, -2.0f});
  probes[0].reset();
  REQUIRE_FALSE(probes[0].grad().defined());

  GradProbe moved = std::move(probes[0]);
  probes.clear();  // the leaf's probe is destroyed: its hook is removed
  loss.backward();
  REQUIRE(moved.grad().to_vector() == std::vector<float>{5.0f, -1.0f});
  REQUIRE(x.grad().to_vector() == std::vector<float>{15.0f, -3.0f});
}

TEST_CASE("GradProbe refuses an undefined tensor or one without grad", "[hooks][grad_probe]") {
  REQUIRE_THROWS_AS(GradProbe(Tensor()), ValueError);
  REQUIRE_THROWS_WITH(GradProbe(vec({1.0f})), Contains("register_hook"));
}
