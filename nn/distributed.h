#pragma once
// Data-parallel training over MPI: the process group (torch.distributed with the MPI backend).
// Part of the optional tapegrad_distributed library, built when CMake finds MPI; the tapegrad
// library itself has no MPI dependency. mpirun starts the ranks, on one machine or, from a
// hostfile, on many; every rank runs the same program on its own shard of the data
// (data::DistributedSampler) and nn::DistributedDataParallel (nn/distributed_data_parallel.h)
// averages the gradients.
//
//   int main() {
//     return dist::run([] {                   // MPI_Init ... MPI_Finalize; a throw aborts the job
//       std::cout << "rank " << dist::get_rank() << " of " << dist::get_world_size() << "\n";
//       ...
//       return 0;
//     });
//   }
//
// The process group is process-wide state, like MPI itself (and like grad mode and the thread
// settings, the other two documented globals). Every function below except is_initialized(),
// run() and abort_job() throws tapegrad::Error when called before init_process_group() or after
// destroy_process_group(), naming the function. MPI is called only from the thread that calls
// these functions (MPI_THREAD_SERIALIZED); tapegrad's own worker threads never call MPI.
//
// Every collective here must be called by every rank in the same order, as in MPI. Errors that
// only some ranks would see (a shape mismatch, a file that one rank cannot read) are agreed on
// first, so that all ranks throw the same error instead of some waiting forever.
#include <cstdint>
#include <functional>
#include <string>

#include "autograd/tensor.h"

namespace tapegrad::dist {

// MPI_Init_thread (unless MPI is already initialized, e.g. by the user's own MPI code), then a
// private duplicate of MPI_COMM_WORLD, so tapegrad's messages never match the user's. Also
// installs a std::terminate handler that prints this rank and the exception and calls MPI_Abort,
// so an exception that escapes anywhere ends the whole job instead of leaving the other ranks
// waiting. Throws Error if the group is already initialized.
void init_process_group();
// Frees the communicator and calls MPI_Finalize if init_process_group called MPI_Init. Every rank
// must call it (it is collective). Throws Error if the group is not initialized.
void destroy_process_group();
bool is_initialized();

int get_rank();        // this process's rank in [0, get_world_size())
int get_world_size();  // the number of ranks mpirun started
void barrier();

// ---- collectives on tensors (blocking) ----

// Copies the root's values into `tensor` on every other rank. Every rank's tensor must have the
// root's shape: a mismatch is a ShapeError on every rank naming the ranks and both shapes
// (checked before any value moves). The tensor's version is bumped on the receiving ranks.
void broadcast(const Tensor& tensor, int root = 0);

enum class ReduceOp { sum, max, min };
// Replaces `tensor` by the elementwise reduction over all ranks (same shapes required, as above).
// The summation order is MPI's: with two ranks every element is a0 + a1, the same bits on both
// ranks and in every run; see DistributedDataParallel for more ranks.
void all_reduce(const Tensor& tensor, ReduceOp op = ReduceOp::sum);

// ---- faults ----

// init_process_group(), body(), destroy_process_group(); returns body's exit code. If body throws
// on any rank, that rank prints "tapegrad.dist: rank R of N failed: <what>" on stderr and calls
// MPI_Abort, which ends every rank of the job at once (the others may be waiting for it in a
// collective and would otherwise wait forever); mpirun then exits non-zero.
int run(const std::function<int()>& body);

// Prints "tapegrad.dist: rank R of N: <message>" on stderr, then MPI_Abort(exit_code): every
// rank of the job ends. For a rank that cannot go on and cannot tell the others.
[[noreturn]] void abort_job(const std::string& message, int exit_code = 1);

// ---- checkpoints ----

// Runs `write` on the root only (e.g. nn::save and optim::save) while the other ranks wait, then
// returns on every rank. If `write` throws on the root, every rank throws Error naming the root
// and the root's message (nobody is left waiting). Files go where the root can write them.
void save_on_root(const std::function<void()>& write, int root = 0);
// Runs `read` on every rank (e.g. nn::load from a file every rank can see: a shared file system,
// or a copy on each host), then checks that it succeeded everywhere: if it threw on any rank,
// every rank throws Error naming the failing ranks and the first failing rank's message.
void load_on_all(const std::function<void()>& read);

}  // namespace tapegrad::dist
