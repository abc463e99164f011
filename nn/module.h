#pragma once
// nn::Module: the base of every layer and model (PyTorch's torch.nn.Module).
//
//   struct Forecaster : nn::Module {
//     nn::LSTM* lstm;
//     nn::Linear* head;
//     explicit Forecaster(Generator& gen)
//         : lstm(&register_module("lstm", nn::LSTM({.input_size = 1, .hidden_size = 100,
//                                                    .batch_first = true}, gen))),
//           head(&register_module("head", nn::Linear({.in_features = 100, .out_features = 1}, gen))) {}
//   };
//
// A module owns its submodules (register_module moves them onto the heap and returns a stable
// reference), so a Module can be moved without leaving dangling child pointers; it cannot be
// copied (PyTorch's C++ frontend needed ModuleHolder for this; owning children avoids it).
// Parameters are Tensor handles: the optimizer, the module and the user all see one tensor.
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) = default;
  Module& operator=(Module&&) = default;

  // Every parameter of this module and its submodules, recursively, in registration order.
  // A tensor registered twice (weight tying) is listed once, under its first name.
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;  // "lstm.weight_ih_l0"
  // Direct submodules in registration order.
  std::vector<std::pair<std::string, Module*>> named_children() const;

  // Training mode switches dropout on; eval mode off. Recursive, like PyTorch.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void zero_grad();  // sets every parameter's grad to none
  std::int64_t num_parameters() const;  // total element count

  // Every random generator this module and its submodules draw from while they train (dropout,
  // zoneout masks), recursively, named as parameters are ("lstm.dropout_generator"). A training
  // checkpoint (optim/training_checkpoint.h) saves them so that a resumed run draws the same masks.
  std::vector<std::pair<std::string, Generator*>> named_generators();

 protected:
  // The generators this module itself owns (not its submodules'). Pointers into *this, so they
  // are asked for when needed, never stored: a moved module's generators move with it.
  virtual std::vector<std::pair<std::string, Generator*>> own_generators() { return {}; }

  // Registers a parameter (a leaf that requires grad) and returns its handle.
  Tensor register_parameter(std::string name, Tensor value, bool requires_grad = true);
  // Takes ownership of a submodule and returns a reference that stays valid while this module
  // (or whatever it is moved into) lives.
  template <typename M>
  M& register_module(std::string name, M&& module) {
    static_assert(!std::is_lvalue_reference_v<M>,
                  "register_module takes ownership: pass a temporary or std::move(module)");
    check_name("register_module", name);
    auto owned = std::make_unique<std::decay_t<M>>(std::forward<M>(module));
    M& ref = *owned;
    children_.emplace_back(std::move(name), std::move(owned));
    return ref;
  }

 private:
  void check_name(const char* what, const std::string& name) const;
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out,
               std::vector<const void*>& seen) const;

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace tapegrad::nn
