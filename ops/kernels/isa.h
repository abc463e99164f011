#pragma once
// Which build of the SIMD kernels runs. The kernels (matrix products, gate math, Adam, layer
// norm) are compiled once per x86-64 level: "avx512" (x86-64-v4: AVX-512 F/BW/CD/DQ/VL), "avx2"
// (x86-64-v3: AVX2 and FMA) and "baseline" (SSE2); the rest of the library is built for the
// baseline. The first kernel call picks the widest level that this CPU and its OS support, so one
// binary runs at full speed on any x86-64 machine. Elsewhere there is one build, "generic".
//
// TAPEGRAD_KERNELS=<level> in the environment, read at that first call, picks a level instead
// (to compare them, or to rule the wide ones out). A level this CPU cannot run, or an unknown
// name, is not replaced by a guess: every kernel call (and kernel_isa()) throws ValueError naming
// the levels that can run, until the process is restarted with a good value.
// Results can differ between levels in the last bits (other vector widths sum in other orders);
// within a level they do not depend on the thread count.
#include <string>
#include <vector>

namespace tapegrad {

// The level in use: "avx512", "avx2", "baseline" or "generic".
std::string kernel_isa();
// The levels built into this library that this CPU can run, widest first.
std::vector<std::string> supported_kernel_isas();

}  // namespace tapegrad
