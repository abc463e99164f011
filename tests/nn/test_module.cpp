#include "nn/module.h"
#include "test_util.h"

using namespace tapegrad;

namespace {

struct Leaf : nn::Module {
  Tensor weight;
  explicit Leaf(std::int64_t n) : weight(register_parameter("weight", Tensor::ones({n}))) {}
};

struct Tree : nn::Module {
  Leaf* first;
  Leaf* second;
  Tensor scale;
  Tree()
      : first(&register_module("first", Leaf(2))),
        second(&register_module("second", Leaf(3))),
        scale(register_parameter("scale", Tensor::ones({1}))) {}
};

struct Tied : nn::Module {
  Tensor shared;
  Tied() : shared(register_parameter("a", Tensor::ones({2}))) { register_parameter("b", shared); }
};

}  // namespace

TEST_CASE("named_parameters follow registration order, recursively", "[module]") {
  Tree tree;
  auto named = tree.named_parameters();
  REQUIRE(named.size() == 3);
  REQUIRE(named[0].first == "scale");
  REQUIRE(named[1].first == "first.weight");
  REQUIRE(named[2].first == "second.weight");
  REQUIRE(named[2].second.shape() == Shape{3});
  REQUIRE(tree.num_parameters() == 6);
  for (const Tensor& p : tree.parameters()) REQUIRE(p.requires_grad());
  REQUIRE(tree.named_children().size() == 2);
}

TEST_CASE("a shared parameter is counted once", "[module]") {
  Tied tied;
  REQUIRE(tied.parameters().size() == 1);
  REQUIRE(tied.named_parameters()[0].first == "a");
}

TEST_CASE("moving a module keeps its children and parameters valid", "[module]") {
  Tree original;
  Tensor weight = original.first->weight;
  Tree moved = std::move(original);
  REQUIRE(moved.first->weight.is_same(weight));
  REQUIRE(moved.named_parameters()[1].second.is_same(weight));
}

TEST_CASE("train/eval recurse and zero_grad clears every grad", "[module]") {
  Tree tree;
  REQUIRE(tree.is_training());
  tree.eval();
  REQUIRE_FALSE(tree.is_training());
  REQUIRE_FALSE(tree.first->is_training());
  tree.train();
  REQUIRE(tree.second->is_training());
  Tensor w = tree.second->weight;
  w.backward(Tensor::ones({3}));
  REQUIRE(w.grad().defined());
  tree.zero_grad();
  REQUIRE_FALSE(w.grad().defined());
}

TEST_CASE("registration rejects bad and duplicate names", "[module]") {
  struct Bad : nn::Module {
    void add(const std::string& name) { register_parameter(name, Tensor::ones({1})); }
  } bad;
  bad.add("w");
  REQUIRE_THROWS_AS(bad.add("w"), ValueError);
  REQUIRE_THROWS_AS(bad.add(""), ValueError);
  REQUIRE_THROWS_WITH(bad.add("a.b"), Catch::Contains("register_parameter"));
}
