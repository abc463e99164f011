// The layer driver (ops/recurrent_layer.cpp) with cells whose kernels are derived from their math
// (ops/cells.h): gradcheck of every input and cell parameter at flashlight's tiny sizes, the fused
// layer against the same cell composed from generic ops (ops/recurrent_reference.h) on outputs and
// every gradient, the derived kernels against the hand-written ones at layer level, and error
// messages that name what the user called.
#include "ops/cells.h"
#include "ops/ops.h"
#include "ops/recurrent.h"
#include "ops/recurrent_reference.h"
#include "recurrent_test_util.h"
#include "test_util.h"

using namespace tapegrad;
using testing::flatten_result;
using testing::recurrent_tolerances;

namespace {

// Inputs of one layer: x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr, the gate
// rows' LayerNorm gains and biases (undefined unless the cell normalises them), params...
template <class Cell>
std::vector<Tensor> layer_inputs(std::int64_t T, std::int64_t B, std::int64_t I, std::int64_t H,
                                 std::int64_t P, Generator& gen, float low = -1.0f) {
  constexpr cell::Spec spec = Cell::spec;
  const std::int64_t G = spec.gates * H;
  std::vector<Tensor> in{Tensor::uniform({T, B, I}, low, 1, gen, true),
                         Tensor::uniform({B, P}, low, 1, gen, true),
                         spec.cell_state ? Tensor::uniform({B, H}, -1, 1, gen, true) : Tensor(),
                         Tensor::uniform({G, I}, low, 1, gen, true),
                         Tensor::uniform({G, P}, low, 1, gen, true),
                         Tensor::uniform({G}, low, 1, gen, true),
                         Tensor::uniform({G}, low, 1, gen, true),
                         P != H ? Tensor::uniform({P, H}, -1, 1, gen, true) : Tensor()};
  // gains away from 1 and biases away from 0, so a missing one shows
  for (const bool normalised : {spec.norm_ih, spec.norm_hh}) {
    in.push_back(normalised ? Tensor::uniform({G}, 0.5f, 1.5f, gen, true) : Tensor());
    in.push_back(normalised ? Tensor::uniform({G}, -0.3f, 0.3f, gen, true) : Tensor());
  }
  for (int k = 0; k < spec.params; ++k) {
    const bool gain = spec.param_init[static_cast<std::size_t>(k)] == cell::Init::One;
    in.push_back(Tensor::uniform({H}, gain ? 0.5f : -1.0f, gain ? 1.5f : 1.0f, gen, true));
  }
  return in;
}

constexpr std::size_t kFirstCellParam = 12;

// A layer-normalised row is steep where its variance is small (rstd up to 1/sqrt(eps)), so its
// second differences spoil a 2-point difference at eps 1e-2: normalised cells take the 4-point one.
template <class Cell>
GradcheckOptions tolerances_for() {
  GradcheckOptions options = recurrent_tolerances();
  options.four_point = Cell::spec.norm_ih || Cell::spec.norm_hh;
  return options;
}  // the inputs of layer_inputs before the cell's own

RecurrentWeights weights_of(const std::vector<Tensor>& in) {
  RecurrentWeights w{in[3], in[4], in[5], in[6], in[7], {}, in[8], in[9], in[10], in[11]};
  for (std::size_t k = kFirstCellParam; k < in.size(); ++k) w.cell_params.push_back(in[k]);
  return w;
}

struct Case {
  bool reverse;
  std::vector<std::int64_t> lengths;
};
const Case kCases[] = {{false, {}}, {true, {}}, {false, {3, 1}}, {true, {2, 3}}};

// flashlight's AutogradRnnTest sizes: hidden 2, batch 2, seq 3 (two layers: tests/nn). A cell
// that normalises over its H units takes 4: over 2 units LN is nearly a sign function, whose kink
// finite differences cannot cross, and 3 units often lie close enough for rstd to reach 30.
template <class Cell>
void check_cell(std::uint64_t seed, bool projection, std::int64_t H = 2) {
  constexpr cell::Spec spec = Cell::spec;
  const CellKernel& kernel = derived_cell(spec.name);
  const std::int64_t T = 3, B = 2, I = 2;
  // LN of h W_hh^T with h of one unit would be sign(h) LN(w): a step finite differences cannot cross
  const std::int64_t P = projection ? (spec.norm_hh ? 2 : 1) : H;
  Generator gen(seed);
  // ReLU: keep pre-activations positive, away from the kink finite differences cannot cross.
  const float low = std::string(spec.name) == "rnn_relu" ? 0.1f : -1.0f;
  for (const Case& c : kCases) {
    INFO(spec.name << " reverse " << c.reverse << " lengths " << c.lengths.size()
                   << " projection " << projection);
    const std::vector<Tensor> inputs = layer_inputs<Cell>(T, B, I, H, P, gen, low);
    const auto fused = [&](const std::vector<Tensor>& in) {
      return recurrent_layer("test", kernel, in[0], in[1], in[2], weights_of(in), c.lengths,
                             c.reverse);
    };
    REQUIRE_GRADCHECK([&](const std::vector<Tensor>& in) { return flatten_result(fused(in)); },
                      inputs, tolerances_for<Cell>());

    // fused vs composed: outputs and the gradient of every input
    const auto grads_of = [&](bool use_fused) {
      std::vector<Tensor> in;
      for (const Tensor& t : inputs) in.push_back(t.defined() ? t.detach().clone().requires_grad_(true) : t);
      const RecurrentResult r =
          use_fused ? fused(in)
                    : composed_cell_layer<Cell>(in[0], in[1], in[2], weights_of(in), c.lengths,
                                                c.reverse);
      const Tensor flat = flatten_result(r);
      Generator weights_gen(99);
      sum(mul(flat, Tensor::uniform(flat.shape(), -1, 1, weights_gen))).backward();
      std::vector<Tensor> out{flat};
      for (const Tensor& t : in) out.push_back(t.defined() ? t.grad() : t);
      return out;
    };
    const std::vector<Tensor> a = grads_of(true), b = grads_of(false);
    for (std::size_t k = 0; k < a.size(); ++k) {
      INFO("value " << k << " (0: outputs, then the gradient of input k-1)");
      if (!a[k].defined()) continue;
      REQUIRE_ALL_CLOSE(a[k], b[k], 1e-4, 1e-5);
    }
  }
}

}  // namespace

TEST_CASE("derived cells on the driver: gradcheck and fused vs composed", "[recurrent_layer]") {
  check_cell<cells::LSTM>(31, false);
  check_cell<cells::LSTM>(32, true);
  check_cell<cells::GRU>(33, false);
  check_cell<cells::RNNTanh>(34, false);
  check_cell<cells::RNNReLU>(35, false);
  check_cell<cells::PeepholeLSTM>(36, false);
  check_cell<cells::PeepholeLSTM>(37, true);
  check_cell<cells::CIFGLSTM>(38, false);
  check_cell<cells::LayerNormLSTM>(39, false, 4);
  check_cell<cells::LayerNormLSTM>(42, true, 4);
}

TEST_CASE("derived and hand-written kernels give the same layer", "[recurrent_layer]") {
  Generator gen(40);
  const std::int64_t T = 5, B = 3, I = 4, H = 19;  // H not a multiple of the SIMD width
  const std::vector<std::int64_t> lengths{5, 2, 4};
  for (const char* name : {"lstm", "gru", "rnn_tanh", "rnn_relu"}) {
    INFO(name);
    const CellKernel& hand = builtin_cell(name);
    const CellKernel& derived = derived_cell(name);
    const std::int64_t G = hand.gates * H;
    Tensor x = Tensor::uniform({T, B, I}, -1, 1, gen);
    RecurrentWeights w{Tensor::uniform({G, I}, -1, 1, gen, true),
                       Tensor::uniform({G, H}, -1, 1, gen, true),
                       Tensor::uniform({G}, -1, 1, gen, true),
                       Tensor::uniform({G}, -1, 1, gen, true), Tensor(), {}};
    const auto run = [&](const CellKernel& cell) {
      for (Tensor* t : {&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh}) t->zero_grad();
      RecurrentResult r = recurrent_layer("test", cell, x, Tensor(), Tensor(), w, lengths);
      sum(mul(r.output, r.output)).backward();
      return std::vector<Tensor>{r.output, r.h_n, w.weight_ih.grad().clone(),
                                 w.weight_hh.grad().clone(), w.bias_ih.grad().clone(),
                                 w.bias_hh.grad().clone()};
    };
    const std::vector<Tensor> a = run(hand), b = run(derived);
    for (std::size_t k = 0; k < a.size(); ++k) {
      INFO("value " << k);
      REQUIRE_ALL_CLOSE(b[k], a[k], 1e-4, 1e-5);
    }
  }
}

TEST_CASE("the driver's errors name what the user called", "[recurrent_layer]") {
  const CellKernel& lstm = builtin_cell("lstm");
  Tensor x = Tensor::zeros({4, 2, 3});
  RecurrentWeights w{Tensor::zeros({8, 3}), Tensor::zeros({8, 2}), Tensor(), Tensor(), Tensor(), {}};
  REQUIRE_NOTHROW(recurrent_layer("LSTM", lstm, x, {}, {}, w));
  REQUIRE_THROWS_WITH(recurrent_layer("LSTM", lstm, Tensor::zeros({4, 3}), {}, {}, w),
                      Catch::StartsWith("LSTM: expected input of shape [T, B, I]"));
  REQUIRE_THROWS_WITH(recurrent_layer("LSTM", lstm, x, {}, {}, w, {4, 9}),
                      Catch::StartsWith("LSTM: length 9"));
  REQUIRE_THROWS_WITH(recurrent_layer("MyCell", derived_cell("peephole_lstm"), x, {}, {}, w),
                      Catch::StartsWith("MyCell: the peephole_lstm cell takes 3 parameter vectors, got 0"));
  RecurrentWeights peephole = w;
  peephole.cell_params = {Tensor::zeros({2}), Tensor::zeros({2}), Tensor::zeros({3})};
  REQUIRE_THROWS_WITH(recurrent_layer("MyCell", derived_cell("peephole_lstm"), x, {}, {}, peephole),
                      Catch::StartsWith("MyCell") && Catch::Contains("[2]") && Catch::Contains("[3]"));
  RecurrentWeights gru{Tensor::zeros({6, 3}), Tensor::zeros({6, 2}), Tensor(), Tensor(),
                       Tensor::zeros({1, 2}), {}};
  REQUIRE_THROWS_WITH(recurrent_layer("GRU", builtin_cell("gru"), x, {}, {}, gru),
                      Catch::StartsWith("GRU: the gru cell reads h_prev") && Catch::Contains("projection"));
  gru.weight_hr = Tensor();
  REQUIRE_THROWS_WITH(recurrent_layer("GRU", builtin_cell("gru"), x, {}, Tensor::zeros({2, 2}), gru),
                      Catch::StartsWith("GRU: the gru cell has no cell state"));
  REQUIRE_THROWS_WITH(builtin_cell("lstn"), Catch::Contains("\"lstn\"") && Catch::Contains("lstm, gru"));
}

TEST_CASE("regulariser masks: gradcheck and fused vs composed", "[recurrent_layer]") {
  const std::int64_t T = 3, B = 2, I = 2, H = 4;
  Generator gen(50);
  const auto masks_for = [&](bool stateful, bool fractional) {
    RecurrentMasks m;
    m.recurrent = Tensor::uniform({B, H}, 0.0f, 2.0f, gen);  // dropout masks are 0 or 1/(1-p)
    m.recurrent.data()[1] = 0.0f;
    const auto zone = [&](std::int64_t width) {
      Tensor z = Tensor::uniform({T, B, width}, 0.0f, 1.0f, gen);
      if (!fractional) {
        for (std::int64_t i = 0; i < z.numel(); ++i) z.data()[i] = z.data()[i] < 0.5f ? 0.0f : 1.0f;
      }
      return z;
    };
    m.zoneout_h = zone(H);
    if (stateful) m.zoneout_c = zone(H);
    return m;
  };
  const auto check = [&]<class Cell>(const CellKernel& kernel) {
    constexpr bool stateful = Cell::spec.cell_state;
    for (const Case& c : kCases) {
      for (const bool fractional : {false, true}) {
        INFO(kernel.name << " reverse " << c.reverse << " lengths " << c.lengths.size()
                         << " fractional zoneout " << fractional);
        const RecurrentMasks masks = masks_for(stateful, fractional);
        const std::vector<Tensor> inputs = layer_inputs<Cell>(T, B, I, H, H, gen);
        const auto fused = [&](const std::vector<Tensor>& in) {
          return recurrent_layer("test", kernel, in[0], in[1], in[2], weights_of(in), c.lengths,
                                 c.reverse, masks);
        };
        REQUIRE_GRADCHECK([&](const std::vector<Tensor>& in) { return flatten_result(fused(in)); },
                          inputs, tolerances_for<Cell>());
        const RecurrentResult a = fused(inputs);
        const RecurrentResult b = composed_cell_layer<Cell>(inputs[0], inputs[1], inputs[2],
                                                            weights_of(inputs), c.lengths,
                                                            c.reverse, masks);
        REQUIRE_ALL_CLOSE(flatten_result(a), flatten_result(b), 1e-5, 1e-6);
      }
    }
  };
  check.operator()<cells::LSTM>(builtin_cell("lstm"));  // hand-written kernel
  check.operator()<cells::GRU>(builtin_cell("gru"));    // reads h_prev itself
  check.operator()<cells::PeepholeLSTM>(derived_cell("peephole_lstm"));
  check.operator()<cells::RNNTanh>(derived_cell("rnn_tanh"));
  check.operator()<cells::LayerNormLSTM>(derived_cell("ln_lstm"));
}

TEST_CASE("regulariser masks are checked", "[recurrent_layer]") {
  Tensor x = Tensor::zeros({4, 2, 3});
  RecurrentWeights w{Tensor::zeros({8, 3}), Tensor::zeros({8, 2}), Tensor(), Tensor(), Tensor(), {}};
  REQUIRE_THROWS_WITH(recurrent_layer("LSTM", builtin_cell("lstm"), x, {}, {}, w, {}, false,
                                      {Tensor::zeros({2, 3}), Tensor(), Tensor()}),
                      Catch::StartsWith("LSTM") && Catch::Contains("recurrent dropout mask"));
  REQUIRE_THROWS_WITH(recurrent_layer("LSTM", builtin_cell("lstm"), x, {}, {}, w, {}, false,
                                      {Tensor(), Tensor::zeros({3, 2, 2}), Tensor()}),
                      Catch::StartsWith("LSTM") && Catch::Contains("zoneout_h"));
  RecurrentWeights rnn{Tensor::zeros({2, 3}), Tensor::zeros({2, 2}), Tensor(), Tensor(), Tensor(), {}};
  REQUIRE_THROWS_WITH(recurrent_layer("RNN", builtin_cell("rnn_tanh"), x, {}, {}, rnn, {}, false,
                                      {Tensor(), Tensor(), Tensor::zeros({4, 2, 2})}),
                      Catch::StartsWith("RNN: zoneout_c needs a cell with a cell state"));
}

TEST_CASE("gate-row LayerNorm parameters are checked, naming the caller", "[recurrent_layer]") {
  Tensor x = Tensor::zeros({4, 2, 3});
  const CellKernel& ln_lstm = derived_cell("ln_lstm");
  // H = 2: gate rows of 8
  RecurrentWeights w{Tensor::zeros({8, 3}), Tensor::zeros({8, 2}), Tensor(), Tensor(), Tensor(),
                     {Tensor::ones({2}), Tensor::zeros({2})}, Tensor::ones({8}), Tensor::zeros({8}),
                     Tensor::ones({8}), Tensor::zeros({8})};
  REQUIRE_NOTHROW(recurrent_layer("LN", ln_lstm, x, {}, {}, w));
  RecurrentWeights missing = w;
  missing.layernorm_ih_weight = Tensor();
  REQUIRE_THROWS_WITH(recurrent_layer("LN", ln_lstm, x, {}, {}, missing),
                      Catch::StartsWith("LN: the ln_lstm cell layer-normalises its ih gate rows") &&
                          Catch::Contains("layernorm_ih_weight [8]"));
  RecurrentWeights wrong = w;
  wrong.layernorm_hh_bias = Tensor::zeros({7});
  REQUIRE_THROWS_WITH(recurrent_layer("LN", ln_lstm, x, {}, {}, wrong),
                      Catch::StartsWith("LN") && Catch::Contains("layernorm_hh_bias") &&
                          Catch::Contains("[8]") && Catch::Contains("[7]"));
  RecurrentWeights plain{Tensor::zeros({8, 3}), Tensor::zeros({8, 2}), Tensor(), Tensor(), Tensor(), {}};
  plain.layernorm_hh_weight = Tensor::ones({8});
  REQUIRE_THROWS_WITH(recurrent_layer("LSTM", builtin_cell("lstm"), x, {}, {}, plain),
                      Catch::StartsWith("LSTM: the lstm cell does not layer-normalise its hh gate "
                                        "rows, but layernorm_hh_weight was given"));
}

TEST_CASE("ln_lstm over one unit: finite, as torch's LayerNorm, and equal to the composed cell",
          "[recurrent_layer]") {
  // A row of one unit has variance 0: (c - mean) = 0 exactly, so LN(c) is its bias, and eps keeps
  // rstd finite. Nothing may turn into NaN, forward or backward, and c no longer reaches h.
  const std::int64_t T = 3, B = 2, I = 2, H = 1;
  Generator gen(60);
  const std::vector<Tensor> inputs = layer_inputs<cells::LayerNormLSTM>(T, B, I, H, H, gen);
  const auto run = [&](bool fused, const Tensor& c0) {
    std::vector<Tensor> in;
    for (const Tensor& t : inputs) in.push_back(t.defined() ? t.detach().clone().requires_grad_(true) : t);
    in[2] = c0.detach().clone().requires_grad_(true);
    const RecurrentResult r =
        fused ? recurrent_layer("test", derived_cell("ln_lstm"), in[0], in[1], in[2], weights_of(in))
              : composed_cell_layer<cells::LayerNormLSTM>(in[0], in[1], in[2], weights_of(in));
    sum(mul(r.output, r.output)).backward();
    std::vector<Tensor> out{r.output, r.c_n};
    for (const Tensor& t : in) {
      if (t.defined()) out.push_back(t.grad());
    }
    return out;
  };
  const std::vector<Tensor> fused = run(true, inputs[2]), composed = run(false, inputs[2]);
  for (std::size_t k = 0; k < fused.size(); ++k) {
    INFO("value " << k);
    REQUIRE(testing::all_finite(fused[k]));
    REQUIRE_ALL_CLOSE(fused[k], composed[k], 1e-4, 1e-5);
  }
  // h does not see c (the outputs are those of any other c0), while c itself does
  const std::vector<Tensor> other = run(true, add(inputs[2], 0.5f));
  REQUIRE_ALL_CLOSE(other[0], fused[0], 1e-6, 1e-7);
  REQUIRE_FALSE(testing::all_close(other[1], fused[1]));
}
