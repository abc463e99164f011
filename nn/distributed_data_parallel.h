#pragma once
// nn::DistributedDataParallel: gradient averaging for data-parallel training over MPI
// (torch.nn.parallel.DistributedDataParallel). Part of the optional tapegrad_distributed library.
//
//   dist::run([&] {
//     Model model(gen);                                   // same seed or not: rank 0's weights win
//     nn::DistributedDataParallel ddp(model);             // checks and broadcasts the parameters
//     optim::Adam adam(model.parameters(), {.lr = 1e-3f});
//     for (...) {                                          // each rank on its own shard of data
//       adam.zero_grad();
//       Tensor loss = mse_loss(model.forward(x), y);
//       loss.backward();
//       ddp.finish_gradient_sync();                        // every grad is now the ranks' mean
//       adam.step();                                       // the same step on every rank
//     }
//     return 0;
//   });
//
// Unlike PyTorch's, this is not a wrapper module: tapegrad modules have no common forward(), so
// the model is called as usual and DistributedDataParallel only sees its parameters.
//
// Overlap. Each parameter's post-accumulate-grad hook (Tensor::register_post_accumulate_grad_hook)
// tells DistributedDataParallel when backward has finished its gradient; once a bucket's last
// gradient is in, its all-reduce starts while backward goes on with the earlier layers, and later
// hooks poll the buckets in flight. Open MPI advances a non-blocking collective only inside MPI
// calls (it has no progress thread by default), so how much of the transfer really overlaps the
// rest of backward depends on those polls; finish_gradient_sync() completes the rest.
//
// Buckets. The parameters that require grad are packed, in reverse registration order (roughly
// the order backward finishes them), into buckets of about bucket_cap_mb each, as PyTorch's
// reducer does; a parameter larger than the cap gets a bucket of its own. Each bucket is averaged
// by one non-blocking all-reduce of a flat buffer (a persistent one where MPI has them: set up
// once, started each round). Buckets are launched strictly in index order, so every rank issues
// the same collectives in the same order whatever order its gradients finish in (MPI matches
// collectives by order).
//
// Averaging. Each element is (sum over ranks) / world_size, and the summation order is chosen by
// reduction_order:
//   mpi (default): one MPI_Iallreduce per bucket; MPI picks the algorithm, so the order. With two
//     ranks every element is g0 + g1 whatever the algorithm (float addition is commutative): the
//     same bits on both ranks and in every run. With more ranks Open MPI picks the algorithm (ring,
//     recursive doubling, ...) from the world size and the message size: runs of the same job
//     (world size, bucket layout, Open MPI version, MCA settings) repeat their bits, but another
//     world size or bucket_cap_mb associates the sum differently, and the MPI standard only
//     recommends repeatability (MPI 4.0, section 6.9.1, advice to implementors).
//   rank_order: every element is ((g0 + g1) + g2) + ... in rank order, the bits one process gets
//     by adding the ranks' gradients one after the other, whatever the world size's algorithm,
//     bucket layout or MPI. Each bucket is cut into one chunk per rank; an MPI_Ialltoallv hands
//     rank r everybody's chunk r, rank r sums them in rank order, and an MPI_Iallgatherv returns
//     the sums (MPI only moves bytes here, it adds nothing). The same bytes per rank as a ring
//     all-reduce (2 (N-1)/N of the bucket), in two collectives instead of one.
//
// Parameters without a gradient. A parameter that requires grad but has no grad on a rank (not
// used in that rank's forward, say) contributes zeros. After the sync its grad is the mean over
// all ranks if any rank had a gradient for it, so the replicas stay identical, and stays undefined
// if no rank had one, so the optimizer skips it everywhere. That is what PyTorch's DDP does with
// find_unused_parameters=True; here it needs no option and no graph traversal, because
// finish_gradient_sync() completes whatever buckets backward left open. Parameters that do not
// require grad are broadcast at construction and never synchronised.
//
// Buffers (Module::register_buffer), float32 or int64, are checked like the parameters (names,
// shapes and dtypes the same on every rank) and broadcast from the root with them at
// construction, as PyTorch's DDP does, and from the last rank to join at join(); they are not
// synchronised in between (PyTorch's broadcast_buffers re-broadcasts them before every forward:
// a model whose buffers change in training keeps each rank's own here).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autograd/tensor.h"
#include "nn/module.h"

namespace tapegrad::nn {

enum class ReductionOrder { mpi, rank_order };

struct DistributedDataParallelOptions {
  // Target bucket size in MiB (PyTorch's bucket_cap_mb, 25 there). Smaller buckets start
  // communicating earlier in backward but pay the per-message latency more often.
  double bucket_cap_mb = 4.0;
  // The rank whose parameters every rank starts from.
  int broadcast_root = 0;
  // finish_gradient_sync() gives up waiting after this long and aborts the job naming this rank
  // (dist::abort_job): another rank has stopped synchronising, e.g. it ran out of data (use
  // DistributedSampler or join()) or hangs. A collective cannot be cancelled, so there is no way
  // to continue. PyTorch's default timeout is 30 minutes too.
  double timeout_seconds = 1800.0;
  ReductionOrder reduction_order = ReductionOrder::mpi;  // see "Averaging" above
};

class DistributedDataParallel {
 public:
  // Collective: every rank must construct it with the same module structure and options. Checks
  // that every rank has the same bucket_cap_mb and reduction_order and the same parameter names,
  // shapes and requires_grad flags in the same order; a mismatch throws ValueError on every rank
  // naming the first difference and the ranks (no rank is left waiting). Then copies the root's
  // parameter values to every rank. (broadcast_root itself cannot be checked: it says whom to ask.)
  explicit DistributedDataParallel(Module& module, DistributedDataParallelOptions options = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;
  DistributedDataParallel(DistributedDataParallel&&) = delete;
  DistributedDataParallel& operator=(DistributedDataParallel&&) = delete;

  Module& module() const { return module_; }

  // Collective: call it on every rank after backward() and before the optimizer step. Launches the
  // buckets backward has not launched yet, waits for all of them, and writes each average into its
  // parameter's grad. Throws ValueError inside no_sync(). One backward per sync: a parameter whose
  // gradient is finished a second time before it (two backward() calls without no_sync) makes that
  // backward throw AutogradError, as PyTorch's "mark a variable ready only once".
  void finish_gradient_sync();

  // Gradient accumulation: while the guard lives, backward() only accumulates into the local
  // grads (no communication), as PyTorch's `with ddp.no_sync():`. The next synchronised
  // backward + finish_gradient_sync() averages the accumulated grads.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DistributedDataParallel& ddp);
    ~NoSyncGuard();
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool previous_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(*this); }

  // Uneven inputs (PyTorch's Join context manager): a rank with no more batches calls join()
  // instead of training; it then takes part in the other ranks' gradient syncs with zero
  // gradients (their averages still divide by the world size, PyTorch's default
  // divide_by_initial_world_size) until every rank has called join(). Then the parameters (and
  // buffers) of the rank that joined last, which took every step, are broadcast to all, so every
  // replica ends
  // equal. Optimizer state (Adam's moments) is not synchronised: a rank that joined early keeps
  // older moments, as in PyTorch. Collective in the sense that every rank must eventually call it.
  void join();

  // The buckets, in launch order: each one's parameter names and element count.
  struct BucketInfo {
    std::vector<std::string> parameters;
    std::int64_t numel = 0;
  };
  std::vector<BucketInfo> buckets() const;

  // Cumulative time and traffic of the gradient syncs on this rank, for benchmarks.
  struct SyncStats {
    std::int64_t syncs = 0;            // finish_gradient_sync() calls that communicated
    std::int64_t bytes = 0;            // bytes of buffers all-reduced (this rank's input)
    double communication_seconds = 0;  // spent inside MPI calls: launches, progress, waits
    double wait_seconds = 0;           // of which blocked in finish_gradient_sync's final wait
    std::int64_t buckets_launched_in_backward = 0;  // by the hooks, before finish_gradient_sync
  };
  const SyncStats& stats() const { return stats_; }

 private:
  struct Parameter;
  struct Bucket;
  struct Channels;  // its own MPI communicators

  void on_gradient_ready(std::size_t parameter);  // the post-accumulate-grad hook
  void mark_ready(std::size_t parameter);
  void launch_ready_buckets();
  void progress();  // tests the collectives in flight, sums and launches gathers (rank_order)
  bool all_done() const;
  void wait_all(const char* function);
  void unpack();
  void reset_round();
  void broadcast_parameters(int root);

  Module& module_;
  DistributedDataParallelOptions options_;
  int world_size_ = 1;
  int rank_ = 0;
  std::unique_ptr<Channels> channels_;
  std::vector<Parameter> parameters_;  // only those that require grad, registration order
  std::vector<Bucket> buckets_;
  std::size_t next_bucket_ = 0;  // buckets [0, next_bucket_) are launched this round
  std::size_t next_gather_ = 0;  // rank_order: buckets whose gather is launched
  bool no_sync_ = false;
  SyncStats stats_;
};

}  // namespace tapegrad::nn
