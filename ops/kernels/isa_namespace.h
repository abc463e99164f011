#pragma once
// The namespace that one instruction-set build of the SIMD kernels lives in. ops/CMakeLists.txt
// compiles ops/kernels/*.cpp once per x86-64 level with TAPEGRAD_KERNEL_ISA set (avx512, avx2,
// baseline); a file of one's own that derives a cell kernel (cell_kernel.h) gets the name of the
// level its own flags give, so code built for two levels never shares a symbol. The namespace is
// inline (namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA), so such a file still writes
// kernels::derived_cell_kernel<MyCell>(); within a build, unqualified calls find the build's own
// functions before the public ones of the same name (dispatch.cpp), which they hide.
#ifdef TAPEGRAD_KERNEL_ISA
// A level set by ops/CMakeLists.txt must be what the compiler targets: -mavx2 or -march=native in
// CMAKE_CXX_FLAGS would otherwise widen the baseline build behind the dispatcher's back.
#define TAPEGRAD_ISA_avx512 1
#define TAPEGRAD_ISA_avx2 2
#define TAPEGRAD_ISA_baseline 3
#define TAPEGRAD_ISA_generic 4
#define TAPEGRAD_ISA_ID_(isa) TAPEGRAD_ISA_##isa
#define TAPEGRAD_ISA_ID(isa) TAPEGRAD_ISA_ID_(isa)
#if TAPEGRAD_ISA_ID(TAPEGRAD_KERNEL_ISA) == TAPEGRAD_ISA_avx2 && \
    (!defined(__AVX2__) || defined(__AVX512F__))
#error "the avx2 kernel build is not compiled for exactly AVX2: check CMAKE_CXX_FLAGS for -m flags"
#elif TAPEGRAD_ISA_ID(TAPEGRAD_KERNEL_ISA) == TAPEGRAD_ISA_baseline && defined(__AVX__)
#error "the baseline kernel build is compiled with AVX: check CMAKE_CXX_FLAGS for -m flags"
#elif TAPEGRAD_ISA_ID(TAPEGRAD_KERNEL_ISA) == TAPEGRAD_ISA_avx512 && !defined(__AVX512F__)
#error "the avx512 kernel build is compiled without AVX-512"
#endif
#else
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
