#pragma once
// Private to the matrix-product kernels (matmul.cpp and matmul_dot.cpp, through
// matmul_problem.h; matmul_bf16.cpp): the two pieces the float32 and bfloat16 products both
// need, kept in one place so that their threading and scratch cannot drift apart.
#include <tbb/blocked_range2d.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

#include <algorithm>
#include <memory>
#include <new>

#include "autograd/aligned_alloc.h"
#include "autograd/threads.h"
#include "ops/kernels/isa_namespace.h"
#include "ops/kernels/matmul_internal.h"

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA::matmul_blocks {

using matmul_detail::Index;

// Packing scratch from the tensors' allocator (autograd/aligned_alloc.h), per block and call:
// nothing global. 64-byte aligned.
template <class T>
struct ScratchFree {
  std::size_t bytes;  // the allocator's size class comes from it
  void operator()(T* p) const { tapegrad::detail::aligned_free(p, bytes); }
};
template <class T>
std::unique_ptr<T[], ScratchFree<T>> scratch(Index count) {
  const std::size_t bytes = sizeof(T) * static_cast<std::size_t>(count);
  void* p = tapegrad::detail::aligned_allocate(bytes);
  if (p == nullptr) throw std::bad_alloc();
  return std::unique_ptr<T[], ScratchFree<T>>(static_cast<T*>(p), ScratchFree<T>{bytes});
}

// compute(m0, m1, n0, n1) over C [M, N] as plan_grid splits it for the thread count: serially,
// without touching TBB, below the cut-off; else one TBB task per block (grain 1). Blocks split
// the output only, so the result does not depend on the thread count.
template <class Compute>
void run_grid(Index M, Index N, Index K, Index row_unit, Compute&& compute) {
  const matmul_detail::GridPlan grid =
      matmul_detail::plan_grid(M, N, K, tapegrad::num_threads(), row_unit);
  if (grid.row_blocks * grid.col_blocks == 1) {
    compute(Index{0}, M, Index{0}, N);
    return;
  }
  const Index rows_per = grid.rows_per_block, cols_per = grid.cols_per_block;
  tbb::parallel_for(
      tbb::blocked_range2d<Index>(0, grid.row_blocks, 1, 0, grid.col_blocks, 1),
      [&](const tbb::blocked_range2d<Index>& blocks) {
        for (Index i = blocks.rows().begin(); i < blocks.rows().end(); ++i)
          for (Index j = blocks.cols().begin(); j < blocks.cols().end(); ++j)
            compute(i * rows_per, std::min(M, (i + 1) * rows_per), j * cols_per,
                    std::min(N, (j + 1) * cols_per));
      },
      tbb::simple_partitioner());
}

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA::matmul_blocks
