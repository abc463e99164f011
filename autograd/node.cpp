#include "autograd/node.h"

#include <algorithm>

#include "autograd/anomaly.h"
#include "autograd/grad_mode.h"
#include "autograd/tensor_impl.h"

namespace tapegrad {

Node::Node(std::string name, std::vector<Edge> next_edges, std::vector<Shape> output_shapes,
           std::vector<SavedTensor> saved, BackwardFn backward)
    : name_(std::move(name)),
      next_edges_(std::move(next_edges)),
      output_shapes_(std::move(output_shapes)),
      saved_(std::move(saved)),
      backward_(std::move(backward)) {}

Node::~Node() {
  // Take ownership of our predecessors; a predecessor whose last owner is this worklist hands
  // over its own predecessors before it dies, so destruction never nests.
  std::vector<std::shared_ptr<Node>> pending;
  for (Edge& edge : next_edges_) {
    if (edge.node) pending.push_back(std::move(edge.node));
  }
  while (!pending.empty()) {
    std::shared_ptr<Node> node = std::move(pending.back());
    pending.pop_back();
    if (node.use_count() == 1) {
      for (Edge& edge : node->next_edges_) {
        if (edge.node) pending.push_back(std::move(edge.node));
      }
    }
  }
}

const AnomalyMetadata* Node::anomaly_metadata() const {
  return extras_ && extras_->anomaly ? &*extras_->anomaly : nullptr;
}

void Node::release() {
  saved_.clear();
  backward_ = nullptr;
  next_edges_.clear();
  released_ = true;
}

const Tensor& BackwardContext::grad_output(std::size_t k) const {
  if (k >= grad_outputs_.size()) {
    throw InternalError(node_.name() + ": backward asked for grad_output(" + std::to_string(k) +
                        ") of a node with " + std::to_string(grad_outputs_.size()) + " outputs");
  }
  Tensor& grad = grad_outputs_[k];
  if (!grad.defined()) grad = Tensor::zeros(node_.output_shapes_[k]);
  return grad;
}

const Tensor& BackwardContext::saved(std::size_t k) const {
  if (k >= node_.saved_.size()) {
    throw InternalError(node_.name() + ": backward asked for saved(" + std::to_string(k) +
                        ") of a node with " + std::to_string(node_.saved_.size()) +
                        " saved tensors");
  }
  return node_.saved_[k].value;
}

bool BackwardContext::needs_grad(std::size_t input) const {
  return input < node_.next_edges_.size() && node_.next_edges_[input].needs_grad();
}

void BackwardContext::accumulate(std::size_t input, Tensor gradient) {
  if (!needs_grad(input)) return;
  const Edge& edge = node_.next_edges_[input];
  const Shape& expected =
      edge.leaf ? edge.leaf->shape
                : edge.node->output_shapes()[static_cast<std::size_t>(edge.output_nr)];
  if (!gradient.defined() || gradient.shape() != expected) {
    throw InternalError(node_.name() + ": backward produced a gradient of shape " +
                        (gradient.defined() ? format_shape(gradient.shape()) : "undefined") +
                        " for input " + std::to_string(input) + " of shape " +
                        format_shape(expected));
  }
  // Gradients are float32: an int64 one (a custom op's backward) would become a leaf's .grad.
  if (gradient.dtype() != Dtype::float32) {
    throw AutogradError(node_.name() + ": backward produced a gradient of dtype " +
                        dtype_name(gradient.dtype()) + " for input " + std::to_string(input) +
                        "; gradients are float32");
  }
  Tensor& slot = grad_inputs_[input];
  if (!slot.defined()) {
    slot = std::move(gradient);
  } else {
    slot = Tensor(slot).detach();  // the sum below must not write into a tensor others hold
    Tensor sum = Tensor::empty(expected);
    const float* a = slot.data();
    const float* b = gradient.data();
    float* out = sum.data();
    for (std::int64_t i = 0, n = sum.numel(); i < n; ++i) out[i] = a[i] + b[i];
    slot = std::move(sum);
  }
}

bool should_record(const std::vector<Tensor>& inputs) {
  if (!is_grad_enabled()) return false;
  return std::any_of(inputs.begin(), inputs.end(),
                     [](const Tensor& t) { return t.defined() && t.requires_grad(); });
}

void record(const std::string& op, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs, const std::vector<Tensor>& saved,
            BackwardFn backward) {
  if (!should_record(inputs)) return;
  std::vector<Edge> edges(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    if (!input.defined() || !input.requires_grad()) continue;
    if (input.grad_fn()) {
      edges[i].node = input.grad_fn();
      edges[i].output_nr = input.output_nr();
    } else {
      edges[i].leaf = input.impl_ptr();
    }
  }
  std::vector<Shape> output_shapes;
  output_shapes.reserve(outputs.size());
  for (const Tensor& output : outputs) output_shapes.push_back(output.shape());
  std::vector<SavedTensor> saved_tensors;
  saved_tensors.reserve(saved.size());
  for (const Tensor& value : saved) {
    saved_tensors.push_back(value.defined() ? SavedTensor{value.detach(), value.version()}
                                            : SavedTensor{});
  }
  auto node = std::make_shared<Node>(op, std::move(edges), std::move(output_shapes),
                                     std::move(saved_tensors), std::move(backward));
  // Anomaly mode (grad_mode.h) checks the outputs before they are attached: a throw here leaves
  // them unrecorded. Off, this is the one branch it costs.
  if (is_anomaly_enabled()) [[unlikely]] {
    node->extras_ = std::make_unique<NodeExtras>();
    node->extras_->anomaly = check_recorded_op(op, inputs, outputs);
  }
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    TensorImpl* impl = outputs[k].impl();
    // An integer output (a custom op's indices, say) is not differentiable, as PyTorch marks it:
    // it stays a plain tensor, and only float32 tensors ever require grad.
    if (impl->dtype != Dtype::float32) continue;
    impl->grad_fn = node;
    impl->output_nr = static_cast<int>(k);
    impl->requires_grad = true;
  }
}

}  // namespace tapegrad
