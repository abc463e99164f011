#include "autograd/engine.h"

#include <algorithm>
#include <unordered_map>

#include "autograd/anomaly.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/tensor_impl.h"

namespace tapegrad {

namespace {

// Adds `gradient` into `slot`. The first gradient is adopted without a copy when nobody else
// holds its storage (the common case); later ones are added in place. Buffers belong to the
// engine (or to a leaf's .grad), so in-place accumulation is safe (DyNet's "MUST ACCUMULATE").
void accumulate_into(Tensor& slot, Tensor&& gradient) {
  if (!slot.defined()) {
    if (gradient.impl_ptr().use_count() == 1 && gradient.impl()->storage.use_count() == 1 &&
        !gradient.grad_fn()) {
      slot = std::move(gradient);
    } else {
      slot = Tensor::empty(gradient.shape());
      std::copy_n(gradient.data(), gradient.numel(), slot.data());
    }
    return;
  }
  float* out = slot.data();
  const float* in = gradient.data();
  for (std::int64_t i = 0, n = slot.numel(); i < n; ++i) out[i] += in[i];
}

void accumulate_leaf(TensorImpl& leaf, Tensor&& gradient) {
  Tensor slot(leaf.grad);
  const bool had_grad = slot.defined();
  accumulate_into(slot, std::move(gradient));
  if (!had_grad) leaf.grad = slot.impl_ptr();
}

// A leaf the engine follows through a pass: one with gradient hooks (register_hook) or
// post-accumulate-grad hooks. It gets its gradient hooks once per pass, on the sum over its uses,
// as PyTorch's AccumulateGrad node does, and its post-accumulate-grad hooks after that sum is in
// .grad; so the engine counts the uses still to deliver.
bool has_gradient_hooks(const TensorImpl& leaf) {
  return leaf.hooks && !leaf.hooks->gradient.empty();
}
bool is_hooked_leaf(const TensorImpl& leaf) {
  return leaf.hooks && !(leaf.hooks->gradient.empty() && leaf.hooks->post_accumulate.empty());
}

struct HookedLeaf {
  int pending_uses = 0;
  // With gradient hooks the uses' gradients are summed here first; without, each goes straight
  // into .grad (the order of additions a leaf without hooks gets).
  bool buffered = false;
  Tensor grad;
};

std::string describe_leaf(const TensorImpl& leaf) {
  return "leaf tensor" + (leaf.name.empty() ? std::string() : " '" + leaf.name + "'") + " of shape " +
         format_shape(leaf.shape);
}

std::string describe_output(const Node& node, std::size_t k) {
  return "the tensor of shape " + format_shape(node.output_shapes()[k]) + " (output " +
         std::to_string(k) + " of '" + node.name() + "')";
}

// After the leaf's last use in the pass: its gradient hooks on the sum, the sum into .grad, then
// its post-accumulate-grad hooks (also when the pass gave it no gradient), each list on a snapshot:
// a hook may remove hooks.
void finish_hooked_leaf(const std::shared_ptr<TensorImpl>& leaf, HookedLeaf& state, bool anomaly) {
  if (state.grad.defined()) {
    Tensor grad = run_gradient_hooks(*leaf->hooks, std::move(state.grad),
                                     [&leaf] { return describe_leaf(*leaf); }, anomaly);
    accumulate_leaf(*leaf, std::move(grad));
  }
  if (leaf->hooks->post_accumulate.empty()) return;  // none, or removed earlier in this pass
  const auto post_accumulate = leaf->hooks->post_accumulate.snapshot();
  Tensor tensor(leaf);
  for (const auto& hook : post_accumulate) hook(tensor);
}

}  // namespace

class Engine {
 public:
  struct NodeState {
    std::shared_ptr<Node> node;
    int pending_consumers = 0;
    std::vector<Tensor> grad_outputs;
  };

  static void run(const Tensor& root, const Tensor& seed, BackwardOptions options) {
    if (!root.requires_grad()) {
      throw AutogradError("backward: the tensor does not require grad and has no grad_fn "
                          "(was it computed under NoGradGuard, or from detached inputs?)");
    }
    // Backward computes plain values: nothing it does is recorded.
    NoGradGuard no_grad;
    // Read once: while anomaly mode is off the walk pays one branch per node for it.
    const bool anomaly = is_anomaly_enabled();
    if (anomaly) check_backward_seed(seed);
    Tensor seed_copy = seed.detach();
    if (!root.grad_fn()) {
      if (is_hooked_leaf(*root.impl())) {
        HookedLeaf state{.grad = std::move(seed_copy)};
        finish_hooked_leaf(root.impl_ptr(), state, anomaly);
      } else {
        accumulate_leaf(*root.impl(), std::move(seed_copy));
      }
      return;
    }

    // 1. Reachable nodes and their consumer counts, with an explicit stack.
    std::unordered_map<Node*, NodeState> states;
    std::unordered_map<TensorImpl*, HookedLeaf> hooked_leaves;
    std::vector<Node*> stack;
    Node* root_node = root.grad_fn().get();
    states[root_node].node = root.grad_fn();
    stack.push_back(root_node);
    while (!stack.empty()) {
      Node* node = stack.back();
      stack.pop_back();
      if (node->released()) {
        throw AutogradError(node->name() +
                            ": trying to run backward through the graph a second time, but its "
                            "saved values were already freed; pass retain_graph=true to the "
                            "first backward");
      }
      for (const Edge& edge : node->next_edges()) {
        if (edge.leaf && is_hooked_leaf(*edge.leaf)) {
          HookedLeaf& hooked = hooked_leaves[edge.leaf.get()];
          ++hooked.pending_uses;
          hooked.buffered = has_gradient_hooks(*edge.leaf);
        }
        if (!edge.node) continue;
        auto [it, inserted] = states.try_emplace(edge.node.get());
        it->second.pending_consumers += 1;
        if (inserted) {
          it->second.node = edge.node;
          stack.push_back(edge.node.get());
        }
      }
    }

    // 2. Seed the root's output gradient.
    NodeState& root_state = states[root_node];
    root_state.grad_outputs.resize(root_node->output_shapes().size());
    accumulate_into(root_state.grad_outputs[static_cast<std::size_t>(root.output_nr())],
                    std::move(seed_copy));

    // 3. Ready queue.
    std::vector<Node*> ready{root_node};
    while (!ready.empty()) {
      Node* node = ready.back();
      ready.pop_back();
      NodeState& state = states[node];
      state.grad_outputs.resize(node->output_shapes().size());
      // The gradient of each output is complete now: its tensor's hooks may see and replace it.
      if (node->extras_) run_output_hooks(*node->extras_, *node, state.grad_outputs, anomaly);
      check_saved_versions(*node);
      std::vector<Tensor> grad_inputs(node->num_inputs());
      {
        BackwardContext ctx(*node, state.grad_outputs, grad_inputs);
        node->backward_(ctx);
      }
      if (anomaly) check_backward_result(*node, state.grad_outputs, grad_inputs);
      state.grad_outputs.clear();
      for (std::size_t i = 0; i < grad_inputs.size(); ++i) {
        const Edge& edge = node->next_edges()[i];
        if (edge.leaf) {
          const auto hooked = hooked_leaves.empty() ? hooked_leaves.end()
                                                    : hooked_leaves.find(edge.leaf.get());
          if (hooked == hooked_leaves.end()) {
            if (grad_inputs[i].defined()) accumulate_leaf(*edge.leaf, std::move(grad_inputs[i]));
          } else {
            if (grad_inputs[i].defined()) {
              if (hooked->second.buffered) {
                accumulate_into(hooked->second.grad, std::move(grad_inputs[i]));
              } else {
                accumulate_leaf(*edge.leaf, std::move(grad_inputs[i]));
              }
            }
            if (--hooked->second.pending_uses == 0) {
              finish_hooked_leaf(edge.leaf, hooked->second, anomaly);
            }
          }
        } else if (edge.node) {
          NodeState& next = states[edge.node.get()];
          next.grad_outputs.resize(edge.node->output_shapes().size());
          if (grad_inputs[i].defined()) {
            accumulate_into(next.grad_outputs[static_cast<std::size_t>(edge.output_nr)],
                            std::move(grad_inputs[i]));
          }
          if (--next.pending_consumers == 0) ready.push_back(edge.node.get());
        }
      }
      if (!options.retain_graph) node->release();
    }
  }

 private:
  // Tensor hooks of the node's outputs, then retain_grad (which sees the final gradient).
  static void run_output_hooks(const NodeExtras& extras, const Node& node,
                               std::vector<Tensor>& grad_outputs, bool anomaly) {
    for (std::size_t k = 0; k < extras.output_hooks.size(); ++k) {
      const TensorHooks* hooks = extras.output_hooks[k].get();
      if (!hooks || !grad_outputs[k].defined()) continue;
      grad_outputs[k] = run_gradient_hooks(*hooks, std::move(grad_outputs[k]),
                                           [&node, k] { return describe_output(node, k); }, anomaly);
      if (hooks->retains_grad) retain_gradient(*hooks, grad_outputs[k]);
    }
  }

  static void check_saved_versions(const Node& node) {
    for (std::size_t k = 0; k < node.saved_.size(); ++k) {
      const SavedTensor& saved = node.saved_[k];
      if (saved.value.defined() && saved.value.version() != saved.version) {
        throw AutogradError(node.name() + ": saved tensor " + std::to_string(k) +
                            " was modified in place since it was saved (version " +
                            std::to_string(saved.value.version()) + ", expected " +
                            std::to_string(saved.version) + ")");
      }
    }
  }
};

void run_backward(const Tensor& root, const Tensor& seed, BackwardOptions options) {
  Engine::run(root, seed, options);
}

}  // namespace tapegrad
