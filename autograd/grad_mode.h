#pragma once
// Grad mode: the one documented piece of global state in tapegrad. It is thread-local, so a
// NoGradGuard on one thread never affects another. When it is off, ops record nothing and return
// plain tensors, which is what eval loops and optimizer steps want.

namespace tapegrad {

bool is_grad_enabled();
void set_grad_enabled(bool enabled);

// RAII: disables recording for its scope and restores the previous mode on exit (PyTorch's
// torch.no_grad()).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// RAII: forces grad mode on or off for its scope (torch.set_grad_enabled as a context manager).
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(is_grad_enabled()) { set_grad_enabled(enabled); }
  ~GradModeGuard() { set_grad_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace tapegrad
