#include "peephole.h"

#include <cmath>

#include <xtensor/xmath.hpp>

#include "autograd/node.h"
#include "autograd/xtensor_view.h"
#include "ops/ops.h"

namespace examples {

using namespace tapegrad;

// The op's math as lazy xtensor expressions over zero-copy views of the tensors
// (autograd/xtensor_view.h): xtensor evaluates each into the new tensor in one vectorised
// (xsimd) pass, with no temporary for 1 + |x|.
Tensor softsign(const Tensor& x) {
  if (!x.defined()) throw ValueError("softsign: the input is undefined");
  const auto in = xtensor_view::of(x);
  Tensor out = xtensor_view::from_expression(in / (1.0f + xt::abs(in)));
  // The backward needs x; it goes through `saved` so the engine can check it was not modified
  // in place since the forward.
  record("softsign", {x}, {out}, {x}, [](BackwardContext& ctx) {
    const auto saved_x = xtensor_view::of(ctx.saved(0));
    const auto grad_out = xtensor_view::of(ctx.grad_output(0));
    const auto denominator = 1.0f + xt::abs(saved_x);
    ctx.accumulate(0, xtensor_view::from_expression(grad_out / (denominator * denominator)));
  });
  return out;
}

// The same op with raw loops over data(), as it was written before the xtensor interop: the
// reference softsign is tested against (same bits) and benched against (bench_xtensor_op).
Tensor softsign_raw_loop(const Tensor& x) {
  if (!x.defined()) throw ValueError("softsign: the input is undefined");
  Tensor out = Tensor::empty(x.shape());
  const float* in = x.data();
  float* y = out.data();
  for (std::int64_t i = 0; i < x.numel(); ++i) y[i] = in[i] / (1.0f + std::abs(in[i]));
  record("softsign", {x}, {out}, {x}, [](BackwardContext& ctx) {
    const Tensor& saved_x = ctx.saved(0);
    const Tensor& grad_out = ctx.grad_output(0);
    Tensor grad_x = Tensor::empty(saved_x.shape());
    for (std::int64_t i = 0; i < grad_x.numel(); ++i) {
      const float denominator = 1.0f + std::abs(saved_x.data()[i]);
      grad_x.data()[i] = grad_out.data()[i] / (denominator * denominator);
    }
    ctx.accumulate(0, grad_x);
  });
  return out;
}

PeepholeLSTMCell::PeepholeLSTMCell(std::int64_t input_size, std::int64_t hidden_size, Generator& gen)
    : hidden_size_(hidden_size) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(hidden_size));
  weight_ih = register_parameter("weight_ih", Tensor::uniform({4 * hidden_size, input_size}, -bound, bound, gen));
  weight_hh = register_parameter("weight_hh", Tensor::uniform({4 * hidden_size, hidden_size}, -bound, bound, gen));
  bias = register_parameter("bias", Tensor::uniform({4 * hidden_size}, -bound, bound, gen));
  peephole_i = register_parameter("peephole_i", Tensor::uniform({hidden_size}, -bound, bound, gen));
  peephole_f = register_parameter("peephole_f", Tensor::uniform({hidden_size}, -bound, bound, gen));
  peephole_o = register_parameter("peephole_o", Tensor::uniform({hidden_size}, -bound, bound, gen));
}

nn::LSTMState PeepholeLSTMCell::forward(const Tensor& x, const nn::LSTMState& state) const {
  Tensor gates = add(linear(x, weight_ih, bias), linear(state.h, weight_hh, Tensor()));
  std::vector<Tensor> g = chunk(gates, 4, 1);  // i, f, g, o
  Tensor input_gate = sigmoid(add(g[0], mul(peephole_i, state.c)));
  Tensor forget_gate = sigmoid(add(g[1], mul(peephole_f, state.c)));
  Tensor c = add(mul(forget_gate, state.c), mul(input_gate, softsign(g[2])));
  Tensor output_gate = sigmoid(add(g[3], mul(peephole_o, c)));
  return {mul(output_gate, softsign(c)), c};
}

}  // namespace examples
