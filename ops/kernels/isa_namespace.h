#pragma once
// The namespace that one instruction-set build of the SIMD kernels lives in. ops/CMakeLists.txt
// compiles ops/kernels/*.cpp once per x86-64 level with TAPEGRAD_KERNEL_ISA set (avx512, avx2,
// baseline); a file of one's own that derives a cell kernel (cell_kernel.h) gets the name of the
// level its own flags give, so code built for two levels never shares a symbol. The namespace is
// inline (namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA), so such a file still writes
// kernels::derived_cell_kernel<MyCell>(); within a build, unqualified calls find the build's own
// functions before the public ones of the same name (dispatch.cpp), which they hide.
#ifndef TAPEGRAD_KERNEL_ISA
#if defined(__AVX512F__)
#define TAPEGRAD_KERNEL_ISA avx512
#elif defined(__AVX2__)
#define TAPEGRAD_KERNEL_ISA avx2
#elif defined(__x86_64__)
#define TAPEGRAD_KERNEL_ISA baseline
#else
#define TAPEGRAD_KERNEL_ISA generic
#endif
#endif
