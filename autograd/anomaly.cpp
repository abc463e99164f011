#include "autograd/anomaly.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/tensor_impl.h"

namespace tapegrad {

namespace {

std::string op_number(const AnomalyMetadata* metadata) {
  return metadata ? " #" + std::to_string(metadata->sequence_nr) : std::string();
}

std::string quoted_name(const std::string& name) {
  return name.empty() ? std::string() : " '" + name + "'";
}

// "0: [2, 3] 'x' (leaf), 1: [3] from 'tanh' #4": what each input was when the op was recorded.
std::string describe_inputs(const std::vector<Tensor>& inputs) {
  std::string text;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    text += (i ? ", " : "") + std::to_string(i) + ": ";
    if (!input.defined()) {
      text += "undefined";
      continue;
    }
    text += format_shape(input.shape()) + quoted_name(input.name());
    if (const std::shared_ptr<Node>& producer = input.grad_fn()) {
      text += " from '" + producer->name() + "'" + op_number(producer->anomaly_metadata());
    } else {
      text += input.requires_grad() ? " (leaf)" : " (constant)";
    }
  }
  return text;
}

// The same from a node's edges, for a node recorded before the mode was on.
std::string describe_edges(const Node& node) {
  std::string text;
  for (std::size_t i = 0; i < node.next_edges().size(); ++i) {
    const Edge& edge = node.next_edges()[i];
    text += (i ? ", " : "") + std::to_string(i) + ": ";
    if (edge.leaf) {
      text += format_shape(edge.leaf->shape) + quoted_name(edge.leaf->name) + " (leaf)";
    } else if (edge.node) {
      text += format_shape(edge.node->output_shapes()[static_cast<std::size_t>(edge.output_nr)]) +
              " from '" + edge.node->name() + "'" + op_number(edge.node->anomaly_metadata());
    } else {
      text += "(no gradient)";
    }
  }
  return text;
}

std::string describe_shapes(const std::vector<Shape>& shapes) {
  std::string text;
  for (std::size_t k = 0; k < shapes.size(); ++k) text += (k ? ", " : "") + format_shape(shapes[k]);
  return text;
}

}  // namespace

std::string describe_anomaly(const Tensor& t) {
  if (t.dtype() != Dtype::float32) return {};  // integers hold no NaN or inf
  const bool check_inf = anomaly_options().check_inf;
  const float* values = t.data();
  const std::int64_t n = t.numel();
  std::int64_t first = -1, count = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = values[i];
    if (std::isnan(v) || (check_inf && std::isinf(v))) {
      if (first < 0) first = i;
      ++count;
    }
  }
  if (first < 0) return {};
  const float v = values[first];
  const std::string kind = std::isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf";
  return kind + " at flat index " + std::to_string(first) + " (" + std::to_string(count) + " of " +
         std::to_string(n) + (check_inf ? " elements not finite)" : " elements NaN)");
}

AnomalyMetadata check_recorded_op(const std::string& op, const std::vector<Tensor>& inputs,
                                  const std::vector<Tensor>& outputs) {
  AnomalyMetadata metadata{next_anomaly_sequence_nr(), describe_inputs(inputs)};
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    if (!outputs[k].defined()) continue;
    const std::string problem = describe_anomaly(outputs[k]);
    if (problem.empty()) continue;
    std::string message = "anomaly mode: the forward of '" + op + "' (op #" +
                          std::to_string(metadata.sequence_nr) +
                          " recorded under anomaly mode) produced " + problem + " in its output " +
                          std::to_string(k) + " of shape " + format_shape(outputs[k].shape()) +
                          "; inputs: " + metadata.inputs;
    std::string bad_inputs;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].defined()) continue;
      const std::string input_problem = describe_anomaly(inputs[i]);
      if (!input_problem.empty()) {
        bad_inputs += "; its input " + std::to_string(i) + " already held " + input_problem;
      }
    }
    message += bad_inputs.empty()
                   ? "; none of its inputs did"
                   : bad_inputs + ", which came from outside the checked ops (data, or a tensor "
                                  "computed before anomaly mode or under no-grad)";
    throw AutogradError(message);
  }
  return metadata;
}

void check_backward_result(const Node& node, const std::vector<Tensor>& grad_outputs,
                           const std::vector<Tensor>& grad_inputs) {
  for (std::size_t i = 0; i < grad_inputs.size(); ++i) {
    if (!grad_inputs[i].defined()) continue;
    const std::string problem = describe_anomaly(grad_inputs[i]);
    if (problem.empty()) continue;
    const AnomalyMetadata* metadata = node.anomaly_metadata();
    std::string message = "anomaly mode: the backward of '" + node.name() + "' (";
    message += metadata ? "op #" + std::to_string(metadata->sequence_nr) +
                              " recorded under anomaly mode; inputs: " + metadata->inputs
                        : "recorded before anomaly mode was on; inputs: " + describe_edges(node);
    message += "; outputs: " + describe_shapes(node.output_shapes()) + ") returned " + problem +
               " in the gradient of its input " + std::to_string(i) + " of shape " +
               format_shape(grad_inputs[i].shape());
    std::string bad_outputs;
    for (std::size_t k = 0; k < grad_outputs.size(); ++k) {
      if (!grad_outputs[k].defined()) continue;
      const std::string output_problem = describe_anomaly(grad_outputs[k]);
      if (!output_problem.empty()) {
        bad_outputs += "; the gradient arriving at its output " + std::to_string(k) +
                       " already held " + output_problem;
      }
    }
    message += bad_outputs.empty() ? "; the gradients arriving at its outputs were finite"
                                   : bad_outputs;
    throw AutogradError(message);
  }
}

void check_backward_seed(const Tensor& seed) {
  const std::string problem = describe_anomaly(seed);
  if (!problem.empty()) {
    throw AutogradError("anomaly mode: backward was given a gradient of shape " +
                        format_shape(seed.shape()) + " holding " + problem);
  }
}

}  // namespace tapegrad
