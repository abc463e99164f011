#include "autograd/engine.h"

#include <algorithm>
#include <unordered_map>

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

// The leaf's post-accumulate-grad hooks, on a copy of the list: a hook may remove itself.
void run_post_accumulate_grad_hooks(const std::shared_ptr<TensorImpl>& leaf) {
  if (!leaf->post_accumulate_grad_hooks) return;  // removed by a hook earlier in this pass
  const auto hooks = leaf->post_accumulate_grad_hooks->hooks;
  Tensor tensor(leaf);
  for (const auto& entry : hooks) entry.second(tensor);
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
    Tensor seed_copy = seed.detach();
    if (!root.grad_fn()) {
      accumulate_leaf(*root.impl(), std::move(seed_copy));
      if (root.impl()->post_accumulate_grad_hooks) run_post_accumulate_grad_hooks(root.impl_ptr());
      return;
    }

    // 1. Reachable nodes and their consumer counts, with an explicit stack.
    std::unordered_map<Node*, NodeState> states;
    // Leaves with post-accumulate-grad hooks: how many edges into each are still to deliver.
    std::unordered_map<TensorImpl*, int> hooked_leaf_uses;
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
        if (edge.leaf && edge.leaf->post_accumulate_grad_hooks) ++hooked_leaf_uses[edge.leaf.get()];
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
      check_saved_versions(*node);
      std::vector<Tensor> grad_inputs(node->num_inputs());
      {
        BackwardContext ctx(*node, state.grad_outputs, grad_inputs);
        node->backward_(ctx);
      }
      state.grad_outputs.clear();
      for (std::size_t i = 0; i < grad_inputs.size(); ++i) {
        const Edge& edge = node->next_edges()[i];
        if (edge.leaf) {
          if (grad_inputs[i].defined()) accumulate_leaf(*edge.leaf, std::move(grad_inputs[i]));
          if (!hooked_leaf_uses.empty()) {
            const auto uses = hooked_leaf_uses.find(edge.leaf.get());
            if (uses != hooked_leaf_uses.end() && --uses->second == 0) {
              run_post_accumulate_grad_hooks(edge.leaf);
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
