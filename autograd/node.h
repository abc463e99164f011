#pragma once
// The tape: one Node per recorded op. A node knows its op's name (for error messages), where the
// gradient of each input goes (an Edge), the values its backward saved, and the backward itself.
//
// Writing an op (see ops/*.cpp for many examples):
//
//   Tensor my_square(const Tensor& x) {
//     Tensor out = ...forward...;
//     record("my_square", {x}, {out}, /*saved=*/{x}, [](BackwardContext& ctx) {
//       const Tensor& x = ctx.saved(0);
//       if (ctx.needs_grad(0)) ctx.accumulate(0, 2 * x * ctx.grad_output(0));
//     });
//     return out;
//   }
//
// record() does nothing unless grad mode is on and some input requires grad, so ops cost nothing
// under NoGradGuard. Saved tensors are stored detached (data + version, no history): a backward
// never holds a graph alive, and the engine can check they were not modified in place.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad {

class BackwardContext;
struct TensorHooks;
struct AnomalyMetadata;
struct NodeExtras;
using BackwardFn = std::function<void(BackwardContext&)>;

// Where the gradient of one input goes: into the producing node's output slot, or into a leaf's
// .grad. Both empty when that input does not require grad.
struct Edge {
  std::shared_ptr<Node> node;
  int output_nr = 0;
  std::shared_ptr<TensorImpl> leaf;
  bool needs_grad() const { return node != nullptr || leaf != nullptr; }
};

struct SavedTensor {
  Tensor value;  // detached
  std::uint64_t version = 0;
};

class Node {
 public:
  Node(std::string name, std::vector<Edge> next_edges, std::vector<Shape> output_shapes,
       std::vector<SavedTensor> saved, BackwardFn backward);
  // Releases the chain of predecessors iteratively: a 100,000-op graph must not overflow the stack
  // through nested shared_ptr destructors (pytorch#5534).
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  const std::vector<Edge>& next_edges() const { return next_edges_; }
  const std::vector<Shape>& output_shapes() const { return output_shapes_; }
  std::size_t num_inputs() const { return next_edges_.size(); }
  bool released() const { return released_; }
  // Where anomaly mode recorded this node (null when it was recorded with the mode off).
  const AnomalyMetadata* anomaly_metadata() const;

 private:
  friend class Engine;
  friend class BackwardContext;
  friend struct TensorHooks;  // register_hook on an output stores the hooks here
  friend void record(const std::string& op, const std::vector<Tensor>& inputs,
                     const std::vector<Tensor>& outputs, const std::vector<Tensor>& saved,
                     BackwardFn backward);
  void release();  // drops saved values, edges and the backward (after a non-retained backward)

  std::string name_;
  std::vector<Edge> next_edges_;
  std::vector<Shape> output_shapes_;
  std::vector<SavedTensor> saved_;
  BackwardFn backward_;
  bool released_ = false;
  // Its outputs' hooks and anomaly mode's metadata: null for nearly every node, so a node without
  // them pays one pointer (one branch in backward).
  std::unique_ptr<NodeExtras> extras_;
};

// What a backward sees: the gradient of each output, the saved tensors, and a way to pass a
// gradient to each input. Gradients are plain tensors (the engine runs backward under no-grad).
class BackwardContext {
 public:
  BackwardContext(Node& node, std::vector<Tensor>& grad_outputs, std::vector<Tensor>& grad_inputs)
      : node_(node), grad_outputs_(grad_outputs), grad_inputs_(grad_inputs) {}

  // The gradient arriving at output k; zeros when nothing downstream used that output.
  const Tensor& grad_output(std::size_t k = 0) const;
  const Tensor& saved(std::size_t k) const;
  bool needs_grad(std::size_t input) const;
  // Adds `gradient` into input i's gradient. Its shape must equal that input's shape exactly:
  // an op with broadcasting reduces first (sum_to_shape), which this checks.
  void accumulate(std::size_t input, Tensor gradient);
  const std::string& op_name() const { return node_.name(); }

 private:
  Node& node_;
  std::vector<Tensor>& grad_outputs_;
  std::vector<Tensor>& grad_inputs_;
};

// Attaches one backward node to `outputs` if grad mode is on and any input requires grad;
// otherwise does nothing. Call it after the forward is computed and checked. Inputs that are
// undefined tensors are allowed (optional arguments) and never receive a gradient.
void record(const std::string& op, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs, const std::vector<Tensor>& saved,
            BackwardFn backward);

// True if record() would record for these inputs (lets an op skip saving work under no-grad).
bool should_record(const std::vector<Tensor>& inputs);

}  // namespace tapegrad
