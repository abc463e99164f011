#pragma once
// GradProbe: reads the gradient of any tensor of a graph, e.g. dL/dh_t of every hidden state of an
// unrolled recurrence, which backward otherwise frees once used (only leaves keep .grad).
//
//   std::vector<GradProbe> probes;
//   for (...) { h = cell.forward(x_t, h); probes.emplace_back(h); }
//   loss.backward();
//   probes[t].grad();  // dL/dh_t, same shape as h_t
//
// Built on Tensor::register_hook: the probe sees the sum over every use of the tensor, changes
// neither values nor gradients, and keeps a copy. Several backward calls (retain_graph) add up, as
// a leaf's .grad does; reset() clears. Destroying the probe removes its hook. Unlike retain_grad()
// it does not need the tensor's handle to be kept, and it also works on leaves.
#include <memory>

#include "autograd/tensor.h"

namespace tapegrad {

class GradProbe {
 public:
  // Throws AutogradError if `tensor` does not require grad (no gradient would ever arrive).
  explicit GradProbe(const Tensor& tensor);
  ~GradProbe() { hook_.remove(); }
  GradProbe(GradProbe&& other) noexcept = default;
  GradProbe& operator=(GradProbe&& other) noexcept;
  GradProbe(const GradProbe&) = delete;
  GradProbe& operator=(const GradProbe&) = delete;

  // The gradients seen so far, summed; undefined until a backward reaches the tensor. Plain data.
  Tensor grad() const;
  void reset();

 private:
  struct Sink;
  std::shared_ptr<Sink> sink_;  // shared with the hook, so a moved probe keeps receiving
  RemovableHandle hook_;
};

}  // namespace tapegrad
