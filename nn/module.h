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
// Parameters and buffers are Tensor handles: the optimizer, the module and the user all see one
// tensor.
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "autograd/tensor.h"
#include "nn/serialize.h"

namespace tapegrad::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) = default;
  Module& operator=(Module&&) = default;

  // ---- parameters and buffers ----
  // Every parameter of this module and its submodules, recursively, in registration order.
  // A tensor registered twice (weight tying) is listed once, under its first name.
  std::vector<Tensor> parameters() const;
  NamedTensors named_parameters() const;  // "lstm.weight_ih_l0"
  // Every buffer (register_buffer), persistent or not, in the same order and with the same rule.
  std::vector<Tensor> buffers() const;
  NamedTensors named_buffers() const;

  // ---- submodules ----
  // Direct submodules in registration order.
  std::vector<Module*> children() const;
  std::vector<std::pair<std::string, Module*>> named_children() const;
  // This module (named "") and every submodule, depth first in registration order ("lstm",
  // "head", "head.0", ...), as PyTorch's named_modules().
  std::vector<Module*> modules() const;
  std::vector<std::pair<std::string, Module*>> named_modules() const;
  // Calls fn on every submodule, children before their parent, then on this module (PyTorch's
  // order: e.g. a custom initialisation); returns *this.
  Module& apply(const std::function<void(Module&)>& fn);

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

  // ---- state dicts (torch.nn.Module.state_dict / load_state_dict) ----
  // Parameters, then persistent buffers, of each module before its children (PyTorch's order and
  // names: "lstm.weight_ih_l0", ...). The values are detached handles on the module's storage: no
  // copy, no autograd history. A tensor registered twice appears once (a safetensors file cannot
  // hold shared tensors), where PyTorch lists it under both names.
  NamedTensors state_dict() const;
  // Copies values by name into this module's parameters and persistent buffers, with exactly the
  // checks of loading a file (load_into): everything is checked first and nothing changes on an
  // error. strict: a missing or unexpected name is a ValueError listing all of them; otherwise
  // they are returned. A shape mismatch is a ShapeError either way.
  IncompatibleKeys load_state_dict(const NamedTensors& state_dict, bool strict = true);

  // ---- printout (PyTorch's print(model)) ----
  //   Forecaster(
  //     (lstm): LSTM(1, 100, batch_first=True)
  //     (head): Linear(in_features=100, out_features=1, bias=True)
  //   )
  std::string to_string() const;
  // The name in the printout; by default the class name without its namespaces.
  virtual std::string type_name() const;
  // This module's own settings in the printout, e.g. "in_features=100, out_features=1, bias=True";
  // "" for none. Library layers print PyTorch's.
  virtual std::string extra_repr() const { return {}; }

  // ---- forward hooks (torch.nn.Module.register_forward_pre_hook / register_forward_hook) ----
  // They run when the module is called, `layer(x)`, not when forward() is called directly (as in
  // PyTorch, where module(x) runs hooks and module.forward(x) does not). Calling runs: the
  // pre-hooks, which may change the inputs in place; forward; the hooks, which may change the
  // outputs in place. Each sees what the previous one left; registration order. The tensors are
  // the call's tensor arguments and results in order, e.g. for LSTM {input, h0, c0} ->
  // {output, h_n, c_n} (undefined where absent). The number of tensors must stay the same.
  // Modules callable this way: Linear, Dropout, LayerNorm, the activations, Functional and
  // Sequential (which calls its layers this way), LSTM, GRU, RNN, make_recurrent's modules, and
  // the cells.
  using ForwardPreHook = std::function<void(const Module&, std::vector<Tensor>& inputs)>;
  using ForwardHook = std::function<void(const Module&, const std::vector<Tensor>& inputs,
                                         std::vector<Tensor>& outputs)>;
  RemovableHandle register_forward_pre_hook(ForwardPreHook hook);
  RemovableHandle register_forward_hook(ForwardHook hook);
  // For a module's call operator: forward(inputs) between the hooks. Without hooks, call forward
  // directly (has_forward_hooks() is false), so an unhooked call costs nothing extra. Public so
  // that a helper outside the module (nn/rnn_module.cpp's, for every recurrent module) can
  // drive it, as PyTorch's Module._call_impl is.
  bool has_forward_hooks() const { return hooks_ != nullptr; }
  std::vector<Tensor> call_with_hooks(
      std::vector<Tensor> inputs,
      const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& forward) const;

 protected:
  // The generators this module itself owns (not its submodules'). Pointers into *this, so they
  // are asked for when needed, never stored: a moved module's generators move with it.
  virtual std::vector<std::pair<std::string, Generator*>> own_generators() { return {}; }

  // Registers a parameter (a leaf that requires grad) and returns its handle.
  Tensor register_parameter(std::string name, Tensor value, bool requires_grad = true);
  // Registers state that is not trained (running statistics, masks, counters): a leaf, left as
  // it is (requires_grad untouched), returned. A persistent buffer is part of state_dict(), so
  // nn::save and nn::load carry it; a non-persistent one is not (PyTorch's persistent=False).
  Tensor register_buffer(std::string name, Tensor value, bool persistent = true);
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
  struct Hooks;
  struct Buffer {
    std::string name;
    Tensor value;
    bool persistent;
  };
  void check_name(const char* what, const std::string& name) const;
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out,
               std::vector<const void*>& seen) const;
  void collect_buffers(const std::string& prefix, bool persistent_only,
                       std::vector<std::pair<std::string, Tensor>>& out,
                       std::vector<const void*>& seen) const;
  void collect_state(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out,
                     std::vector<const void*>& seen) const;
  void collect_modules(const std::string& prefix,
                       std::vector<std::pair<std::string, Module*>>& out) const;

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
  std::shared_ptr<Hooks> hooks_;  // null until a hook is registered; moves with the module
  bool training_ = true;
};

std::ostream& operator<<(std::ostream& out, const Module& module);

// Python's repr of a number or flag, for extra_repr: 0.2f -> "0.2", 1e-5f -> "1e-05", 1.0 ->
// "1.0", true -> "True" (shortest round trip of the float, in Python's layout).
std::string repr_float(float value);
std::string repr_bool(bool value);

}  // namespace tapegrad::nn
