#pragma once
// Threads: how many threads tapegrad's parallel kernels (matrix products, fused recurrent steps,
// pointwise kernels) may use. With grad mode, the one other documented piece of process state.
//
//   tapegrad::set_num_threads(1);     // torch.set_num_threads(1)
//   int n = tapegrad::num_threads();  // torch.get_num_threads()
//
// Default: the environment variable TAPEGRAD_NUM_THREADS if set (a whole number in [1, 1024],
// read at the first parallel kernel or num_threads() call unless set_num_threads came first;
// anything else is a ValueError naming the variable and its value), else TBB's default (every
// core the process may use).
// Results are bit-identical for every thread count: kernels split work only along independent
// rows and columns, never along a sum.
// The limit is process-wide, as PyTorch's is (a tbb::global_control), and a caller's own
// tbb::task_arena or tbb::global_control can only lower it further.

namespace tapegrad {

inline constexpr int kMaxThreads = 1024;

// Throws ValueError unless 1 <= n <= kMaxThreads.
void set_num_threads(int n);
// The number of threads a parallel kernel started here may use now: the limit above, lowered by
// the calling task_arena's size when it is smaller.
int num_threads();

namespace detail {
// Applies TAPEGRAD_NUM_THREADS once; every parallel kernel calls it before splitting work.
void apply_thread_settings();
// The value of TAPEGRAD_NUM_THREADS, checked: 0 when unset or empty.
int threads_from_environment(const char* value);
}  // namespace detail

}  // namespace tapegrad
