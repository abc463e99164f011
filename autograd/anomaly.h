#pragma once
// Internal: anomaly mode's checks (the mode itself and its documentation: grad_mode.h). record()
// checks an op's outputs and notes where the node was recorded; the engine checks each backward's
// gradients. Everything here runs only while the mode is on.
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/tensor_impl.h"

namespace tapegrad {

class Node;

// The number of the next op recorded under anomaly mode (#1 after the mode was turned on).
std::uint64_t next_anomaly_sequence_nr();

// Throws AutogradError if an output of `op` holds NaN (or an infinity, per anomaly_options());
// otherwise returns the metadata for its node.
AnomalyMetadata check_recorded_op(const std::string& op, const std::vector<Tensor>& inputs,
                                  const std::vector<Tensor>& outputs);

// After `node`'s backward: throws if a gradient it returned is not finite, saying whether the
// gradients that arrived at its outputs were.
void check_backward_result(const Node& node, const std::vector<Tensor>& grad_outputs,
                           const std::vector<Tensor>& grad_inputs);

// Before the walk: the seed gradient of backward() itself.
void check_backward_seed(const Tensor& seed);

// "" when every element of t is finite (has no NaN, when infinities are allowed); otherwise e.g.
// "NaN at flat index 4 (2 of 6 elements not finite)".
std::string describe_anomaly(const Tensor& t);

}  // namespace tapegrad
