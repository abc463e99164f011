#include "grad_probe.h"

#include <algorithm>

#include "autograd/node.h"

namespace examples {

using namespace tapegrad;

// y = x, dL/dx = dL/dy. The output is a copy rather than the same handle because record()
// attaches the probe's node to its outputs, and x must keep its own history.
Tensor grad_probe(const Tensor& x, std::shared_ptr<GradProbe> sink) {
  if (!x.defined()) throw ValueError("grad_probe: the input is undefined");
  if (!sink) throw ValueError("grad_probe: the sink is null (pass std::make_shared<GradProbe>())");
  Tensor out = Tensor::empty(x.shape());
  std::copy_n(x.data(), x.numel(), out.data());
  // The lambda holds the sink (plain data, no history), not any tensor of the graph.
  record("grad_probe", {x}, {out}, {}, [sink](BackwardContext& ctx) {
    const Tensor& grad_out = ctx.grad_output(0);
    // A copy: the engine may reuse grad_out's storage as the input's gradient buffer and add
    // into it later.
    if (sink->grad.defined()) {
      sink->grad.add_(grad_out);
    } else {
      sink->grad = Tensor::empty(grad_out.shape());
      std::copy_n(grad_out.data(), grad_out.numel(), sink->grad.data());
    }
    if (ctx.needs_grad(0)) ctx.accumulate(0, grad_out);
  });
  return out;
}

}  // namespace examples
