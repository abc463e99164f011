#pragma once
// Named tensors on disk in the safetensors format (https://huggingface.co/docs/safetensors), the
// format PyTorch checkpoints are shared in: an 8-byte little-endian header length N, N bytes of
// JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {..}}, then the
// raw little-endian data. It holds no code (unlike a pickled .pt file), so loading an untrusted
// file is safe: every field is validated before anything is read or allocated from it.
// scripts/state_dict_convert.py converts between PyTorch .pt state_dicts and this format.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "autograd/named_tensors.h"
#include "autograd/tensor.h"

namespace tapegrad {

// Writes the tensors (float32 as F32, int64 as I64), in the given order, plus optional string
// metadata (the reference writers put e.g. {"format": "pt"} there). Atomic: the data goes to a
// temporary file in the same directory, which is synced and then renamed over `path`, so a crash
// or an error never leaves a half-written file and an existing file stays intact until the new
// one is complete.
// The temporary file is named <path>.tmp.<pid>.<time>.<attempt>. A killed process cannot remove
// it, so each save first removes such files of the same `path` left by savers that are no longer
// running: named before this process started, by a pid that is gone or now belongs to a process
// started later. Files of live savers and anything not of exactly this form stay (the full rule is
// in serialize.cpp). Savers sharing a directory must share a pid namespace.
// Throws ValueError for an empty, duplicate, reserved ("__metadata__") or non-UTF-8 name, an
// undefined tensor or non-UTF-8 metadata, and Error (naming the path and the system's reason)
// when the file cannot be written.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads every tensor of the file, in the order of their data in the file (the save order for files
// written by save_safetensors). F32 is read as is; F64, F16 and BF16 are converted to float32
// (F64 rounds to nearest, overflowing to +-inf); I64 is read as int64, and I32 widened to int64
// (tapegrad has no int32 dtype; every int32 value is exact in int64, and a file saved back from
// it says I64); any other dtype is rejected. The returned
// tensors are leaves without requires_grad. If `metadata` is given it receives the file's
// "__metadata__" (empty if it has none). Throws Error naming the file, the problem and, where
// relevant, the tensor for any malformed or truncated file.
NamedTensors load_safetensors(const std::string& path,
                              std::map<std::string, std::string>* metadata = nullptr);

// Copies the file's values into existing tensors by name (e.g. a model's state_dict()), like
// PyTorch's load_state_dict. Every name, shape and dtype is checked before any destination is
// touched: a problem throws (ValueError for missing or unexpected names, else ShapeError when
// shapes differ, else TypeError when dtypes differ, e.g. an int64 entry for a float32 parameter;
// dtypes are never converted) with a message listing all of them, and leaves every destination
// unchanged.
// strict=false ignores missing and unexpected names, returning them, but still requires matching
// shapes. The copies run under NoGradGuard and bump each destination's version counter, so a
// graph that saved one of these tensors notices the change.
IncompatibleKeys load_into(const std::string& path, const NamedTensors& destination,
                           bool strict = true);
// How the messages of load_into name its two sides ("the <source> does not match the
// <destination>; missing keys (not in the <source>): ..."). Module::load_state_dict passes
// {"load_state_dict", "state dict", "module"}.
struct LoadLabels {
  std::string op = "load_into";
  std::string source = "source";
  std::string destination = "destination";
};
// The same from tensors in memory, with the same checks (one function checks both), plus: no
// undefined or repeated source name. A source may share storage with a destination (a model's
// own state_dict, or names swapped): such values are copied aside before anything is written.
IncompatibleKeys load_into(const NamedTensors& source, const NamedTensors& destination,
                           bool strict = true, const LoadLabels& labels = {});
// load_into's checks alone, throwing exactly as it would and writing nothing: for a caller that
// must check several loads before it applies any (optim::TrainingCheckpoint).
IncompatibleKeys check_load(const NamedTensors& source, const NamedTensors& destination,
                            bool strict = true, const LoadLabels& labels = {});

}  // namespace tapegrad

namespace tapegrad::nn {

class Module;

// A module's state_dict() by its PyTorch-style names ("lstm.weight_ih_l0", ...), so a file written
// by scripts/state_dict_convert.py from a PyTorch state_dict loads by name, and back.
void save(const Module& module, const std::string& path,
          const std::map<std::string, std::string>& metadata = {});
// Checks every name and shape first and changes nothing on a mismatch (see load_into). Both carry
// the module's state_dict(): parameters and persistent buffers.
IncompatibleKeys load(Module& module, const std::string& path, bool strict = true);

}  // namespace tapegrad::nn
