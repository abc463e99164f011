#pragma once
// Internal to tapegrad_distributed: the MPI side of nn/distributed.h, shared by its .cpp files.
// It includes <mpi.h>, so no public header includes it.
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad::dist::detail {

// The group's communicator (a duplicate of MPI_COMM_WORLD). Throws Error naming `function` when
// the group is not initialized.
MPI_Comm communicator(const char* function);

// Throws Error "<function>: <call> failed: <MPI's error string>" unless code is MPI_SUCCESS (the
// communicator returns errors instead of aborting).
void check(int code, const char* function, const char* call);

// "rank 1 of 4" for this process, or "rank ?" before MPI is up.
std::string describe_self();

// Every rank's `value`, in rank order, on every rank.
std::vector<int> all_gather(int value, const char* function);

// The root's text on every rank.
std::string broadcast_text(const std::string& text, int root, const char* function);

// "1" or "1, 3": the ranks r with flags[r] == 0.
std::string failing_ranks(const std::vector<int>& flags);

// Throws ValueError naming `function` unless 0 <= root < world size.
void check_root(int root, const char* function);

// MPI takes int counts: these move or reduce any number of floats in chunks of at most 2^30.
void broadcast_floats(float* data, std::int64_t count, int root, const char* function);
// A tensor's elements, float32 or int64, from root (shapes and dtypes already agreed on).
void broadcast_tensor(Tensor& tensor, int root, const char* function);
void all_reduce_floats(float* data, std::int64_t count, MPI_Op op, const char* function);

}  // namespace tapegrad::dist::detail
