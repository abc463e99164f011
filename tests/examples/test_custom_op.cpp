// The user-defined op and cell of examples/custom_op.cpp, checked the way a user would check theirs.
#include "autograd/grad_mode.h"
#include "ops/ops.h"
#include "support/peephole.h"
#include "test_util.h"

using namespace tapegrad;

TEST_CASE("softsign: values, gradcheck, extremes and bad input", "[examples][custom_op]") {
  Tensor x = Tensor::from_vector({-3.0f, -0.5f, 0.0f, 2.0f}, {4});
  REQUIRE(examples::softsign(x).to_vector() == std::vector<float>{-0.75f, -1.0f / 3.0f, 0.0f, 2.0f / 3.0f});
  Generator gen(1);
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return examples::softsign(in[0]); },
                    {Tensor::uniform({3, 4}, -4, 4, gen, true)});
  Tensor extreme = Tensor::from_vector({-50.0f, 50.0f, -1e30f, 1e30f}, {4}, true);
  Tensor y = examples::softsign(extreme);
  sum(y).backward();
  REQUIRE(testing::all_finite(y));
  REQUIRE(testing::all_finite(extreme.grad()));
  REQUIRE_THROWS_WITH(examples::softsign(Tensor()), Catch::Contains("softsign"));
}

TEST_CASE("softsign as xtensor expressions equals its raw-loop form bit for bit, forward and backward",
          "[examples][custom_op]") {
  Generator gen(4);
  // 1000 elements: full SIMD blocks and a tail; extremes included.
  Tensor a = Tensor::uniform({10, 100}, -5, 5, gen, true);
  {
    NoGradGuard no_grad;
    a.data()[3] = 1e30f;
    a.data()[997] = -50.0f;
  }
  Tensor b = a.detach().clone();
  b.requires_grad_(true);
  Tensor upstream = Tensor::uniform({10, 100}, -1, 1, gen);
  Tensor ya = examples::softsign(a);
  Tensor yb = examples::softsign_raw_loop(b);
  ya.backward(upstream);
  yb.backward(upstream);
  CHECK(ya.to_vector() == yb.to_vector());
  CHECK(a.grad().to_vector() == b.grad().to_vector());
}

TEST_CASE("the peephole cell built from generic ops and softsign passes gradcheck", "[examples][custom_op]") {
  Generator gen(2);
  examples::PeepholeLSTMCell cell(2, 3, gen);
  GradcheckOptions options;
  options.eps = 1e-2;
  options.atol = 2e-3;
  options.rtol = 2e-2;
  REQUIRE_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        nn::LSTMState next = cell.forward(in[0], {in[1], in[2]});
        return cat({reshape(next.h, {-1}), reshape(next.c, {-1})}, 0);
      },
      {Tensor::uniform({2, 2}, -1, 1, gen, true), Tensor::uniform({2, 3}, -1, 1, gen, true),
       Tensor::uniform({2, 3}, -1, 1, gen, true)},
      options);
  REQUIRE(cell.parameters().size() == 6);
}
