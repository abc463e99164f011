#pragma once
// Reading the gradient of an intermediate tensor: the "hook" idiom.
//
// tapegrad keeps .grad only on leaves (as PyTorch does without retain_grad()): the gradient of an
// intermediate value such as a hidden state h_t lives in the engine's buffers while backward runs
// and is freed once consumed. To observe it, pass the value through grad_probe, an identity op
// whose backward copies the gradient arriving at its output into a side buffer before passing it
// on unchanged:
//
//   auto probe = std::make_shared<examples::GradProbe>();
//   Tensor h_observed = examples::grad_probe(h, probe);  // use h_observed wherever h was used
//   ...loss computed from h_observed...
//   loss.backward();
//   probe->grad;  // dL/dh, same shape as h (undefined if backward never reached the probe)
//
// Every use of h must go through the probed tensor, otherwise the probe sees only the part of the
// gradient that flows through it. The probe changes neither values nor gradients: the rest of the
// graph computes exactly what it would without it. With retain_graph and several backward calls,
// the probe adds up the gradients of every call, like a leaf's .grad; reset() clears it.
#include <memory>

#include "autograd/tensor.h"

namespace examples {

struct GradProbe {
  tapegrad::Tensor grad;  // the captured gradient; plain data, no history
  void reset() { grad = tapegrad::Tensor(); }
};

// Identity in the forward (a copy of x); in the backward, records the incoming gradient into
// `sink->grad` and passes it to x. Records nothing when x does not require grad (then the probe
// never fires). Throws tapegrad::ValueError for an undefined x or a null sink.
tapegrad::Tensor grad_probe(const tapegrad::Tensor& x, std::shared_ptr<GradProbe> sink);

}  // namespace examples
