// Gradchecks and bad-input tests of the fused recurrent layer ops (ops/*_layer.cpp, lstm_cell).
// Their values are checked against PyTorch in tests/nn/test_rnn.cpp.
#include "ops/ops.h"
#include "ops/recurrent.h"
#include "recurrent_test_util.h"
#include "test_util.h"

using namespace tapegrad;
using testing::flatten_result;
using testing::recurrent_tolerances;

namespace {

}  // namespace

TEST_CASE("lstm_layer gradcheck: every input, with projection, lengths and reverse", "[recurrent]") {
  Generator gen(21);
  const std::int64_t T = 3, B = 3, I = 2, H = 3;
  for (int variant = 0; variant < 4; ++variant) {
    const bool projected = variant & 1;
    const bool reverse = variant & 2;
    const std::int64_t P = projected ? 2 : H;
    const std::vector<std::int64_t> lengths = variant == 3 ? std::vector<std::int64_t>{3, 1, 2}
                                                           : std::vector<std::int64_t>{};
    std::vector<Tensor> inputs{
        Tensor::uniform({T, B, I}, -1, 1, gen, true), Tensor::uniform({B, P}, -1, 1, gen, true),
        Tensor::uniform({B, H}, -1, 1, gen, true), Tensor::uniform({4 * H, I}, -1, 1, gen, true),
        Tensor::uniform({4 * H, P}, -1, 1, gen, true), Tensor::uniform({4 * H}, -1, 1, gen, true),
        Tensor::uniform({4 * H}, -1, 1, gen, true),
        projected ? Tensor::uniform({P, H}, -1, 1, gen, true) : Tensor()};
    INFO("variant " << variant);
    REQUIRE_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          return flatten_result(lstm_layer(in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7],
                                           lengths, reverse));
        },
        inputs, recurrent_tolerances());
  }
}

TEST_CASE("rnn_layer and gru_layer gradcheck", "[recurrent]") {
  Generator gen(22);
  const std::int64_t T = 3, B = 2, I = 2, H = 3;
  for (int variant = 0; variant < 3; ++variant) {
    const bool reverse = variant == 1;
    const std::vector<std::int64_t> lengths =
        variant == 2 ? std::vector<std::int64_t>{1, 3} : std::vector<std::int64_t>{};
    for (RNNNonlinearity act : {RNNNonlinearity::Tanh, RNNNonlinearity::ReLU}) {
      // Finite differences across the ReLU kink are meaningless; with positive inputs, weights and
      // biases every pre-activation stays positive. Negative pre-activations (zero gradient) are
      // covered by the PyTorch fixtures in tests/nn/test_rnn.cpp.
      const float low = act == RNNNonlinearity::ReLU ? 0.1f : -1.0f;
      std::vector<Tensor> rnn_inputs{
          Tensor::uniform({T, B, I}, low, 1, gen, true), Tensor::uniform({B, H}, low, 1, gen, true),
          Tensor::uniform({H, I}, low, 1, gen, true), Tensor::uniform({H, H}, low, 1, gen, true),
          Tensor::uniform({H}, low, 1, gen, true), Tensor::uniform({H}, low, 1, gen, true)};
      REQUIRE_GRADCHECK(
          [&](const std::vector<Tensor>& in) {
            return flatten_result(
                rnn_layer(in[0], in[1], in[2], in[3], in[4], in[5], act, lengths, reverse));
          },
          rnn_inputs, recurrent_tolerances());
    }
    std::vector<Tensor> gru_inputs{
        Tensor::uniform({T, B, I}, -1, 1, gen, true), Tensor::uniform({B, H}, -1, 1, gen, true),
        Tensor::uniform({3 * H, I}, -1, 1, gen, true), Tensor::uniform({3 * H, H}, -1, 1, gen, true),
        Tensor::uniform({3 * H}, -1, 1, gen, true), Tensor::uniform({3 * H}, -1, 1, gen, true)};
    REQUIRE_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          return flatten_result(gru_layer(in[0], in[1], in[2], in[3], in[4], in[5], lengths, reverse));
        },
        gru_inputs, recurrent_tolerances());
  }
}

TEST_CASE("lstm_cell gradcheck and extreme gates", "[recurrent]") {
  Generator gen(23);
  Tensor gates = Tensor::uniform({2, 12}, -2, 2, gen, true);
  Tensor c = Tensor::uniform({2, 3}, -1, 1, gen, true);
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        auto hc = lstm_cell(in[0], in[1]);
        return cat({reshape(hc[0], {-1}), reshape(hc[1], {-1})}, 0);
      },
      {gates, c}, recurrent_tolerances());
  Tensor extreme = Tensor::full({1, 8}, 50.0f, true);
  for (int j = 0; j < 8; j += 2) extreme.data()[j] = -50.0f;
  auto hc = lstm_cell(extreme, Tensor::ones({1, 2}));
  add(sum(hc[0]), sum(hc[1])).backward();
  REQUIRE(testing::all_finite(hc[0]));
  REQUIRE(testing::all_finite(hc[1]));
  REQUIRE(testing::all_finite(extreme.grad()));
}

TEST_CASE("recurrent ops reject bad shapes before computing anything", "[recurrent]") {
  Tensor x = Tensor::zeros({4, 2, 3});
  Tensor w_ih = Tensor::zeros({8, 3}), w_hh = Tensor::zeros({8, 2});
  REQUIRE_NOTHROW(lstm_layer(x, {}, {}, w_ih, w_hh, {}, {}, {}));
  REQUIRE_THROWS_WITH(lstm_layer(Tensor::zeros({4, 3}), {}, {}, w_ih, w_hh, {}, {}, {}),
                      Catch::Contains("lstm_layer") && Catch::Contains("[T, B, I]"));
  REQUIRE_THROWS_WITH(lstm_layer(x, {}, {}, Tensor::zeros({7, 3}), w_hh, {}, {}, {}),
                      Catch::Contains("weight_ih") && Catch::Contains("[7, 3]"));
  REQUIRE_THROWS_WITH(lstm_layer(x, {}, {}, w_ih, Tensor::zeros({8, 3}), {}, {}, {}),
                      Catch::Contains("weight_hh") && Catch::Contains("[8, 2]"));
  REQUIRE_THROWS_AS(lstm_layer(x, {}, {}, w_ih, w_hh, Tensor::zeros({7}), {}, {}), ShapeError);
  REQUIRE_THROWS_AS(lstm_layer(x, Tensor::zeros({3, 2}), {}, w_ih, w_hh, {}, {}, {}), ShapeError);
  REQUIRE_THROWS_AS(lstm_layer(x, {}, {}, w_ih, w_hh, {}, {}, {}, {4, 0}), ValueError);
  REQUIRE_THROWS_AS(lstm_layer(Tensor::zeros({0, 2, 3}), {}, {}, w_ih, w_hh, {}, {}, {}), ShapeError);
  REQUIRE_THROWS_WITH(gru_layer(x, {}, Tensor::zeros({6, 3}), Tensor::zeros({6, 3}), {}, {}),
                      Catch::Contains("gru_layer") && Catch::Contains("weight_hh"));
  REQUIRE_THROWS_WITH(rnn_layer(x, {}, Tensor::zeros({2, 2}), Tensor::zeros({2, 2}), {}, {},
                                RNNNonlinearity::Tanh),
                      Catch::Contains("rnn_layer") && Catch::Contains("weight_ih"));
  REQUIRE_THROWS_WITH(lstm_cell(Tensor::zeros({2, 7}), Tensor::zeros({2, 2})),
                      Catch::Contains("lstm_cell") && Catch::Contains("[2, 8]"));
}
