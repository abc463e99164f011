#include <cmath>

#include "autograd/grad_mode.h"
#include "test_util.h"

using namespace tapegrad;

TEST_CASE("factories give the documented shapes and values", "[tensor]") {
  Tensor z = Tensor::zeros({2, 3});
  REQUIRE(z.shape() == Shape{2, 3});
  REQUIRE(z.numel() == 6);
  REQUIRE(z.to_vector() == std::vector<float>(6, 0.0f));
  REQUIRE(Tensor::ones({4}).to_vector() == std::vector<float>(4, 1.0f));
  REQUIRE(Tensor::full({2}, 2.5f).to_vector() == std::vector<float>{2.5f, 2.5f});
  Tensor s = Tensor::scalar(3.0f);
  REQUIRE(s.dim() == 0);
  REQUIRE(s.item() == 3.0f);
  REQUIRE(Tensor::arange(0, 5).to_vector() == std::vector<float>{0, 1, 2, 3, 4});
  REQUIRE(Tensor::arange(1, 2, 0.25f).to_vector() == std::vector<float>{1, 1.25f, 1.5f, 1.75f});
  REQUIRE(Tensor::arange(5, 0, -2).to_vector() == std::vector<float>{5, 3, 1});
  Tensor v = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  REQUIRE(v.at({1, 0}) == 4.0f);
  REQUIRE(v.at({-1, -1}) == 6.0f);
  REQUIRE(v.size(-1) == 3);
  REQUIRE(Tensor::zeros({0, 3}).numel() == 0);
}

TEST_CASE("random factories are reproducible from the seed and in range", "[tensor]") {
  Generator g1(42), g2(42), g3(7);
  Tensor a = Tensor::uniform({1000}, -0.5f, 0.5f, g1);
  Tensor b = Tensor::uniform({1000}, -0.5f, 0.5f, g2);
  Tensor c = Tensor::uniform({1000}, -0.5f, 0.5f, g3);
  REQUIRE(a.to_vector() == b.to_vector());
  REQUIRE(a.to_vector() != c.to_vector());
  double mean = 0;
  for (float x : a.to_vector()) {
    REQUIRE(x >= -0.5f);
    REQUIRE(x < 0.5f);
    mean += x;
  }
  REQUIRE(std::abs(mean / 1000) < 0.05);
  Generator g4(1);
  Tensor n = Tensor::normal({20000}, 2.0f, 3.0f, g4);
  double sum = 0, sq = 0;
  for (float x : n.to_vector()) {
    sum += x;
    sq += double(x) * x;
  }
  const double m = sum / 20000, var = sq / 20000 - m * m;
  REQUIRE(m == Approx(2.0).margin(0.1));
  REQUIRE(std::sqrt(var) == Approx(3.0).margin(0.1));
}

TEST_CASE("bad factory and access arguments throw clear errors", "[tensor]") {
  REQUIRE_THROWS_AS(Tensor::from_vector({1, 2, 3}, {2, 2}), ShapeError);
  REQUIRE_THROWS_WITH(Tensor::from_vector({1, 2, 3}, {2, 2}),
                      Catch::Contains("from_vector") && Catch::Contains("[2, 2]") &&
                          Catch::Contains("got 3"));
  REQUIRE_THROWS_AS(Tensor::zeros({2, -1}), ShapeError);
  REQUIRE_THROWS_AS(Tensor::arange(0, 1, 0), ValueError);
  Generator g;
  REQUIRE_THROWS_AS(Tensor::uniform({2}, 1, 0, g), ValueError);
  REQUIRE_THROWS_AS(Tensor::normal({2}, 0, -1, g), ValueError);
  Tensor v = Tensor::zeros({2, 3});
  REQUIRE_THROWS_AS(v.item(), ShapeError);
  REQUIRE_THROWS_AS(v.at({2, 0}), IndexError);
  REQUIRE_THROWS_AS(v.at({0}), IndexError);
  REQUIRE_THROWS_AS(v.size(2), IndexError);
  Tensor undefined;
  REQUIRE_FALSE(undefined.defined());
  REQUIRE_THROWS_AS(undefined.shape(), ValueError);
  REQUIRE_THROWS_AS(v.copy_(Tensor::zeros({3, 2})), ShapeError);
  REQUIRE_THROWS_AS(v.view_data_as({4}), ShapeError);
}

TEST_CASE("detach and view share data and the version counter", "[tensor]") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2}, true);
  Tensor d = x.detach();
  REQUIRE_FALSE(d.requires_grad());
  REQUIRE(d.is_leaf());
  REQUIRE(d.data() == x.data());
  {
    NoGradGuard no_grad;
    x.fill_(5.0f);
  }
  REQUIRE(d.at({1, 1}) == 5.0f);
  REQUIRE(d.version() == x.version());
  REQUIRE(x.version() == 1);
  Tensor flat = x.view_data_as({4});
  REQUIRE(flat.shape() == Shape{4});
  flat.mul_(2.0f);
  REQUIRE(x.at({0, 0}) == 10.0f);
  REQUIRE(x.version() == 2);
}

TEST_CASE("in-place writes to tensors that require grad need no-grad mode", "[tensor]") {
  Tensor w = Tensor::ones({3}, true);
  REQUIRE_THROWS_AS(w.fill_(0.0f), AutogradError);
  REQUIRE_THROWS_WITH(w.add_(Tensor::ones({3})), Catch::Contains("add_") &&
                                                    Catch::Contains("NoGradGuard"));
  REQUIRE(w.to_vector() == std::vector<float>(3, 1.0f));  // nothing half-written
  {
    NoGradGuard no_grad;
    w.add_(Tensor::ones({3}), 0.5f);
  }
  REQUIRE(w.to_vector() == std::vector<float>(3, 1.5f));
}

TEST_CASE("requires_grad_ only on leaves", "[tensor]") {
  Tensor x = Tensor::ones({2}, true);
  Tensor y = x.clone();
  REQUIRE_FALSE(y.is_leaf());
  REQUIRE(y.requires_grad());
  REQUIRE_THROWS_AS(y.requires_grad_(false), AutogradError);
  REQUIRE_THROWS_WITH(y.requires_grad_(false), Catch::Contains("clone"));
}

TEST_CASE("Generator state round-trips: a restored generator continues the same stream",
          "[tensor][generator]") {
  for (const bool torch_stream : {false, true}) {
    Generator original = torch_stream ? Generator::torch(11) : Generator(11);
    for (int i = 0; i < 700; ++i) original.uniform();  // past one mt19937 block (624 words)
    original.child_seed();
    const std::string saved = original.state();
    std::vector<float> expected;
    for (int i = 0; i < 50; ++i) expected.push_back(original.normal());
    const std::uint64_t expected_child = original.child_seed();

    Generator restored(999);  // another seed and, for the torch case, another stream
    restored.load_state(saved);
    REQUIRE(restored.is_torch_stream() == torch_stream);
    std::vector<float> actual;
    for (int i = 0; i < 50; ++i) actual.push_back(restored.normal());
    REQUIRE(actual == expected);
    // The child-seed count is part of the state: PyTorch-stream child seeds depend on it.
    REQUIRE(restored.child_seed() == expected_child);
  }
}

TEST_CASE("Generator::load_state rejects a bad state and leaves the generator unchanged",
          "[tensor][generator][errors]") {
  Generator generator(5);
  const std::string before = generator.state();
  const std::string good = Generator(6).state();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "expected a state starting with"},
      {"pcg64 0 1 2 3", "expected a state starting with \"tapegrad-mt19937_64\""},
      {"tapegrad-mt19937_64 x", "expected the child-seed count"},
      {good.substr(0, good.size() / 2), "truncated or malformed"},
      {good + " 17", "unexpected text after the tapegrad-mt19937_64 engine state"},
      {"torch-mt19937 0 1 2 3", "torch-mt19937 engine state is truncated or malformed"},
  };
  for (const auto& [state, message] : cases) {
    CAPTURE(state.substr(0, 60));
    REQUIRE_THROWS_WITH(generator.load_state(state),
                        Catch::Matchers::Contains("Generator::load_state") &&
                            Catch::Matchers::Contains(message));
    REQUIRE(generator.state() == before);
  }
}
