#include "autograd/node.h"
#include "test_util.h"

using namespace tapegrad;

namespace {

// y = x^3 with a correct backward, or with a bug selected by `bug`.
enum class Bug { None, WrongFactor, IgnoresGradOutput };

Tensor cube(const Tensor& x, Bug bug) {
  Tensor out = Tensor::empty(x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) out.data()[i] = x.data()[i] * x.data()[i] * x.data()[i];
  record("cube", {x}, {out}, {x}, [bug](BackwardContext& ctx) {
    const Tensor& saved = ctx.saved(0);
    const Tensor& g = ctx.grad_output();
    Tensor grad = Tensor::empty(saved.shape());
    for (std::int64_t i = 0; i < grad.numel(); ++i) {
      const float v = saved.data()[i];
      const float factor = bug == Bug::WrongFactor ? 2.0f : 3.0f;
      const float upstream = bug == Bug::IgnoresGradOutput ? 1.0f : g.data()[i];
      grad.data()[i] = factor * v * v * upstream;
    }
    ctx.accumulate(0, grad);
  });
  return out;
}

}  // namespace

TEST_CASE("gradcheck accepts a correct backward", "[gradcheck]") {
  Generator gen(3);
  Tensor x = Tensor::uniform({4, 3}, -1, 1, gen, true);
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return cube(in[0], Bug::None); }, {x});
  GradcheckOptions four_point;
  four_point.four_point = true;
  four_point.atol = 1e-4;
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return cube(in[0], Bug::None); }, {x},
                    four_point);
  REQUIRE_FALSE(x.grad().defined());  // the caller's tensors are left as they were
}

TEST_CASE("gradcheck rejects wrong backwards, including one that ignores grad_output",
          "[gradcheck]") {
  Generator gen(5);
  Tensor x = Tensor::uniform({6}, 0.5f, 1.5f, gen, true);
  const std::vector<float> before = x.to_vector();
  GradcheckResult wrong =
      gradcheck([](const std::vector<Tensor>& in) { return cube(in[0], Bug::WrongFactor); }, {x});
  REQUIRE_FALSE(wrong.ok);
  REQUIRE_THAT(wrong.report, Catch::Contains("input 0"));
  // With all-ones projection weights this bug would pass; random signed weights catch it.
  GradcheckResult ignores = gradcheck(
      [](const std::vector<Tensor>& in) { return cube(in[0], Bug::IgnoresGradOutput); }, {x});
  REQUIRE_FALSE(ignores.ok);
  REQUIRE(x.to_vector() == before);  // perturbations are undone
}

TEST_CASE("gradcheck validates its arguments", "[gradcheck]") {
  Tensor x = Tensor::ones({2});
  auto fn = [](const std::vector<Tensor>& in) { return cube(in[0], Bug::None); };
  REQUIRE_THROWS_AS(gradcheck(fn, {x}), ValueError);
  Tensor y = Tensor::ones({2}, true);
  GradcheckOptions bad;
  bad.eps = 0;
  REQUIRE_THROWS_AS(gradcheck(fn, {y}, bad), ValueError);
}
