#pragma once
// Parameter initialisation, as torch.nn.init (https://pytorch.org/docs/stable/nn.init.html).
// Each writes in place under no-grad, bumps the version counter, and returns its tensor. Random
// ones take an explicit Generator (tapegrad has no global RNG). Fans follow PyTorch: for a
// [out, in, *k] tensor, fan_in = in * prod(k), fan_out = out * prod(k); 0-D/1-D tensors have no fans.
#include <string>

#include "autograd/generator.h"
#include "autograd/tensor.h"

namespace tapegrad::nn::init {

enum class FanMode { FanIn, FanOut };

// torch.nn.init.calculate_gain: linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2),
// leaky_relu sqrt(2/(1+slope^2)), selu 3/4.
float calculate_gain(const std::string& nonlinearity, float param = 0.01f);

Tensor uniform_(Tensor tensor, float low, float high, Generator& generator);
Tensor normal_(Tensor tensor, float mean, float stddev, Generator& generator);
Tensor constant_(Tensor tensor, float value);
Tensor zeros_(Tensor tensor);
Tensor ones_(Tensor tensor);
Tensor xavier_uniform_(Tensor tensor, Generator& generator, float gain = 1.0f);
Tensor xavier_normal_(Tensor tensor, Generator& generator, float gain = 1.0f);
// a is the negative slope of leaky_relu (PyTorch's default call uses a = 0, leaky_relu).
Tensor kaiming_uniform_(Tensor tensor, Generator& generator, float a = 0.0f,
                        FanMode mode = FanMode::FanIn,
                        const std::string& nonlinearity = "leaky_relu");
Tensor kaiming_normal_(Tensor tensor, Generator& generator, float a = 0.0f,
                       FanMode mode = FanMode::FanIn,
                       const std::string& nonlinearity = "leaky_relu");
// A (semi-)orthogonal matrix from the QR decomposition of a normal matrix (rows = size(0),
// columns = the rest flattened), sign-corrected as PyTorch does, times gain.
Tensor orthogonal_(Tensor tensor, Generator& generator, float gain = 1.0f);

// Fills the forget-gate block [H, 2H) of an LSTM bias of shape [4H] (gate order i, f, g, o).
// A positive forget bias (1.0 is common, Jozefowicz et al. 2015) helps long memories early on.
Tensor lstm_forget_gate_bias_(Tensor bias, float value);

}  // namespace tapegrad::nn::init
