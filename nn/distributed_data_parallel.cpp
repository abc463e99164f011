// nn::DistributedDataParallel (nn/distributed_data_parallel.h): buckets of gradients averaged by
// non-blocking MPI_Iallreduce, launched in bucket order.
//
// A bucket's buffer is [gradients | one "has a gradient" flag per parameter | one "active" flag]:
// after the sum, a parameter's flag counts the ranks that had a gradient for it (0: leave its grad
// undefined everywhere), and the active flag counts the ranks that are still training, which is
// how join() learns that every rank has joined. Flags are small integers, exact in float.
#include "nn/distributed_data_parallel.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <sstream>
#include <thread>

#include "autograd/grad_mode.h"
#include "autograd/tensor_impl.h"
#include "nn/distributed.h"
#include "nn/distributed_mpi.h"

// A persistent all-reduce (MPI 4.0's MPI_Allreduce_init; Open MPI 4.1 has it as the extension
// MPIX_Allreduce_init) is set up once per bucket and started every round. Started afresh with
// MPI_Iallreduce instead, Open MPI's non-blocking collectives allocate a bucket-sized scratch
// buffer per call, which glibc hands back to the OS when freed: the `large` model's sync then
// page-faulted ~3,000 times (12 MB) per step, 20-40 ms on these VMs (bench/README.md).
#if MPI_VERSION >= 4
#define TAPEGRAD_ALLREDUCE_INIT MPI_Allreduce_init
#elif defined(OPEN_MPI) && __has_include(<mpi-ext.h>)
#include <mpi-ext.h>
#if defined(OMPI_HAVE_MPI_EXT_PCOLLREQ) && OMPI_HAVE_MPI_EXT_PCOLLREQ
#define TAPEGRAD_ALLREDUCE_INIT MPIX_Allreduce_init
#endif
#endif

namespace tapegrad::nn {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// What every rank must agree on, one line per parameter.
std::string describe_parameter(const std::string& name, const Tensor& tensor) {
  return "'" + name + "' " + format_shape(tensor.shape()) +
         (tensor.dtype() == Dtype::float32 ? "" : std::string(" ") + dtype_name(tensor.dtype())) +
         (tensor.requires_grad() ? "" : " (requires_grad=false)");
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

struct DistributedDataParallel::Parameter {
  std::string name;
  Tensor tensor;
  std::size_t bucket = 0;
  std::int64_t offset = 0;     // of its gradient in the bucket's buffer
  std::int64_t flag_slot = 0;  // of its "has a gradient" flag
  bool ready = false;          // its gradient is in the buffer this round
  RemovableHandle hook{};      // its post-accumulate-grad hook
};

struct DistributedDataParallel::Bucket {
  std::vector<std::size_t> parameters;  // indices into parameters_
  std::int64_t numel = 0;               // gradient elements
  std::vector<float> buffer;            // gradients, flags, active flag
  std::size_t pending = 0;              // parameters not ready yet this round
  // idle -> reducing (the all-reduce, or rank_order's all-to-all, in flight) -> done; rank_order
  // goes reducing -> summed (this rank's chunk added up) -> gathering -> done.
  enum class Phase { idle, reducing, summed, gathering, done } phase = Phase::idle;
  MPI_Request request = MPI_REQUEST_NULL;     // the collective in flight, when not persistent
  MPI_Request persistent = MPI_REQUEST_NULL;  // mpi order: the all-reduce set up once, if MPI can
  bool in_flight = false;                     // a collective of this bucket has not completed
  // The handle MPI_Test takes for what is in flight: a persistent request stays allocated (MPI
  // marks it inactive on completion) where a non-blocking one is freed and nulled.
  MPI_Request& active_request() {
    return phase == Phase::reducing && persistent != MPI_REQUEST_NULL ? persistent : request;
  }
  // rank_order: rank r's chunk is buffer[offsets[r], offsets[r] + counts[r]); `received` holds
  // every rank's copy of this rank's chunk, rank after rank.
  std::vector<int> counts, offsets, received_counts, received_offsets;
  std::vector<float> received;
  std::int64_t active_slot() const { return static_cast<std::int64_t>(buffer.size()) - 1; }
};

// Collectives are matched by their order on a communicator, and rank_order's gathers start at
// moments that differ between ranks: so the all-reduces (or all-to-alls) and the gathers each get
// a communicator of their own, and each is launched in bucket order on it.
struct DistributedDataParallel::Channels {
  MPI_Comm reduce = MPI_COMM_NULL;
  MPI_Comm gather = MPI_COMM_NULL;
};

DistributedDataParallel::DistributedDataParallel(Module& module,
                                                 DistributedDataParallelOptions options)
    : module_(module), options_(options) {
  const char* function = "DistributedDataParallel";
  world_size_ = dist::get_world_size();
  rank_ = dist::get_rank();
  if (!(std::isfinite(options.bucket_cap_mb) && options.bucket_cap_mb > 0)) {
    throw ValueError(std::string(function) + ": bucket_cap_mb must be finite and > 0, got " +
                     std::to_string(options.bucket_cap_mb));
  }
  if (!(options.timeout_seconds > 0)) {
    throw ValueError(std::string(function) + ": timeout_seconds must be > 0, got " +
                     std::to_string(options.timeout_seconds));
  }
  dist::detail::check_root(options.broadcast_root, function);

  // 1. Same options and parameters everywhere: the root's description against each rank's own.
  // Line 0 holds the options that shape the buckets (a rank with other buckets would issue other
  // collectives); line k + 1 describes parameter k.
  // Buffers follow the parameters: they are broadcast too, so they must match as well.
  const auto named = module.named_parameters();
  const auto buffers = module.named_buffers();
  std::string own = "bucket_cap_mb " + std::to_string(options.bucket_cap_mb) + ", reduction_order " +
                    (options.reduction_order == ReductionOrder::rank_order ? "rank_order" : "mpi") +
                    "\n";
  for (const auto& [name, tensor] : named) own += describe_parameter(name, tensor) + "\n";
  for (const auto& [name, tensor] : buffers) own += "buffer " + describe_parameter(name, tensor) + "\n";
  const int root = options.broadcast_root;
  const std::vector<std::string> root_lines =
      split_lines(dist::detail::broadcast_text(own, root, function));
  const std::vector<std::string> own_lines = split_lines(own);
  int first_difference = -1;
  for (std::size_t k = 0; k < std::max(own_lines.size(), root_lines.size()); ++k) {
    if (k >= own_lines.size() || k >= root_lines.size() || own_lines[k] != root_lines[k]) {
      first_difference = static_cast<int>(k);
      break;
    }
  }
  const std::vector<int> differences = dist::detail::all_gather(first_difference, function);
  const auto bad = std::find_if(differences.begin(), differences.end(), [](int d) { return d >= 0; });
  if (bad != differences.end()) {
    const int bad_rank = static_cast<int>(bad - differences.begin());
    const auto k = static_cast<std::size_t>(*bad);
    auto line = [k](const std::vector<std::string>& lines) {
      return k < lines.size() ? lines[k] : std::string("no such parameter");
    };
    const std::string theirs = dist::detail::broadcast_text(line(own_lines), bad_rank, function);
    std::vector<int> same(differences.size());
    for (std::size_t r = 0; r < same.size(); ++r) same[r] = differences[r] < 0;
    const std::string what =
        k == 0                ? "the options differ: "
        : k <= named.size()   ? "the ranks' parameters differ: parameter " + std::to_string(k - 1) + " is "
                              : "the ranks' buffers differ: " + std::string("entry ") +
                                  std::to_string(k - 1 - named.size()) + " is ";
    throw ValueError(std::string(function) + ": " + what + line(root_lines) + " on rank " +
                     std::to_string(root) + " (root) but " + theirs + " on rank " +
                     std::to_string(bad_rank) + " (ranks differing from the root: " +
                     dist::detail::failing_ranks(same) + ")");
  }

  // 2. Every rank starts from the root's values, buffers included (PyTorch's DDP broadcasts
  // module.buffers() at construction too).
  broadcast_parameters(root);

  // 3. Buckets, in reverse registration order (PyTorch's reducer: backward tends to finish the
  // last-registered parameters first). A bucket closes once it reaches the cap.
  for (const auto& [name, tensor] : named) {
    if (tensor.requires_grad()) parameters_.push_back({name, tensor});
  }
  if (parameters_.empty()) {
    throw ValueError(std::string(function) + ": the module has no parameter that requires grad");
  }
  const double cap_bytes = options.bucket_cap_mb * 1024.0 * 1024.0;
  double bucket_bytes = 0;
  for (std::size_t p = parameters_.size(); p-- > 0;) {
    if (buckets_.empty() || bucket_bytes >= cap_bytes) {
      buckets_.emplace_back();
      bucket_bytes = 0;
    }
    Bucket& bucket = buckets_.back();
    Parameter& parameter = parameters_[p];
    parameter.bucket = buckets_.size() - 1;
    parameter.offset = bucket.numel;
    bucket.numel += parameter.tensor.numel();
    bucket.parameters.push_back(p);
    bucket_bytes += static_cast<double>(parameter.tensor.numel()) * sizeof(float);
  }
  for (Bucket& bucket : buckets_) {
    const std::int64_t slots = bucket.numel + static_cast<std::int64_t>(bucket.parameters.size()) + 1;
    if (slots > INT_MAX) {
      throw ValueError(std::string(function) + ": a bucket of " + std::to_string(bucket.numel) +
                       " elements exceeds MPI's int count (one parameter is too large)");
    }
    bucket.buffer.assign(static_cast<std::size_t>(slots), 0.0f);
    for (std::size_t k = 0; k < bucket.parameters.size(); ++k) {
      parameters_[bucket.parameters[k]].flag_slot = bucket.numel + static_cast<std::int64_t>(k);
    }
  }
  if (options.reduction_order == ReductionOrder::rank_order) {
    for (Bucket& bucket : buckets_) {
      const auto slots = static_cast<int>(bucket.buffer.size());
      for (int r = 0, offset = 0; r < world_size_; ++r) {
        const int count = slots / world_size_ + (r < slots % world_size_ ? 1 : 0);
        bucket.counts.push_back(count);
        bucket.offsets.push_back(offset);
        offset += count;
      }
      const int mine = bucket.counts[static_cast<std::size_t>(rank_)];
      for (int r = 0; r < world_size_; ++r) {
        bucket.received_counts.push_back(mine);
        bucket.received_offsets.push_back(r * mine);
      }
      bucket.received.resize(static_cast<std::size_t>(mine) * static_cast<std::size_t>(world_size_));
    }
  }
  channels_ = std::make_unique<Channels>();
  const MPI_Comm group = dist::detail::communicator(function);
  dist::detail::check(MPI_Comm_dup(group, &channels_->reduce), function, "MPI_Comm_dup");
  if (options.reduction_order == ReductionOrder::rank_order) {
    dist::detail::check(MPI_Comm_dup(group, &channels_->gather), function, "MPI_Comm_dup");
  }
#ifdef TAPEGRAD_ALLREDUCE_INIT
  if (options.reduction_order == ReductionOrder::mpi) {
    // Collective set-up: every rank initialises the same buckets in the same order.
    for (Bucket& bucket : buckets_) {
      dist::detail::check(TAPEGRAD_ALLREDUCE_INIT(MPI_IN_PLACE, bucket.buffer.data(),
                                                  static_cast<int>(bucket.buffer.size()), MPI_FLOAT,
                                                  MPI_SUM, channels_->reduce, MPI_INFO_NULL,
                                                  &bucket.persistent),
                          function, "MPI_Allreduce_init");
    }
  }
#endif
  reset_round();
  for (std::size_t p = 0; p < parameters_.size(); ++p) {
    parameters_[p].hook = parameters_[p].tensor.register_post_accumulate_grad_hook(
        [this, p](Tensor&) { on_gradient_ready(p); });
  }
}

DistributedDataParallel::~DistributedDataParallel() {
  for (Parameter& parameter : parameters_) parameter.hook.remove();
  // A collective in flight (an exception between a launch and finish_gradient_sync) cannot be
  // cancelled or freed (MPI 3.1, 3.7.3), and MPI may still write into its buffer: the buffers
  // are deliberately leaked rather than waited for, so the exception reaches dist::run, which
  // aborts the job at once.
  const bool in_flight = std::any_of(buckets_.begin(), buckets_.end(),
                                     [](const Bucket& bucket) { return bucket.in_flight; });
  if (in_flight) {
    static_cast<void>(new std::vector<Bucket>(std::move(buckets_)));
    return;  // the communicators stay too: freeing one with a collective pending is erroneous
  }
  if (channels_ && dist::is_initialized()) {
    for (Bucket& bucket : buckets_) {
      if (bucket.persistent != MPI_REQUEST_NULL) MPI_Request_free(&bucket.persistent);
    }
    if (channels_->reduce != MPI_COMM_NULL) MPI_Comm_free(&channels_->reduce);
    if (channels_->gather != MPI_COMM_NULL) MPI_Comm_free(&channels_->gather);
  }
}

DistributedDataParallel::NoSyncGuard::NoSyncGuard(DistributedDataParallel& ddp)
    : ddp_(ddp), previous_(ddp.no_sync_) {
  ddp.no_sync_ = true;
}

DistributedDataParallel::NoSyncGuard::~NoSyncGuard() { ddp_.no_sync_ = previous_; }

std::vector<DistributedDataParallel::BucketInfo> DistributedDataParallel::buckets() const {
  std::vector<BucketInfo> info;
  for (const Bucket& bucket : buckets_) {
    BucketInfo entry{{}, bucket.numel};
    for (std::size_t p : bucket.parameters) entry.parameters.push_back(parameters_[p].name);
    info.push_back(std::move(entry));
  }
  return info;
}

void DistributedDataParallel::broadcast_parameters(int root) {
  const bool receiving = dist::get_rank() != root;
  for (const auto& named : {module_.named_parameters(), module_.named_buffers()}) {
    for (auto [name, tensor] : named) {
      // Buffers may be int64 (counters); the cross-rank check compared dtypes too.
      dist::detail::broadcast_tensor(tensor, root,
                                     "DistributedDataParallel: broadcast of the parameters");
      if (receiving) tensor.bump_version();
    }
  }
}

void DistributedDataParallel::on_gradient_ready(std::size_t index) {
  if (no_sync_) return;  // accumulating locally
  if (parameters_[index].ready) {
    throw AutogradError("DistributedDataParallel: backward finished the gradient of '" +
                        parameters_[index].name +
                        "' a second time before finish_gradient_sync(); call it after every "
                        "backward, or accumulate under no_sync()");
  }
  const std::size_t launched = next_bucket_;
  mark_ready(index);
  stats_.buckets_launched_in_backward += static_cast<std::int64_t>(next_bucket_ - launched);
  // Open MPI moves a non-blocking collective on only inside MPI calls, so each hook gives the
  // buckets in flight a push while backward continues.
  const Clock::time_point start = Clock::now();
  progress();
  stats_.communication_seconds += seconds_since(start);
}

// One MPI_Test per collective in flight. rank_order: a finished all-to-all is summed in rank
// order, and the gathers of summed buckets are launched, in bucket order.
void DistributedDataParallel::progress() {
  const char* function = "DistributedDataParallel";
  for (std::size_t b = 0; b < next_bucket_; ++b) {
    Bucket& bucket = buckets_[b];
    if (!bucket.in_flight) continue;
    int completed = 0;
    dist::detail::check(MPI_Test(&bucket.active_request(), &completed, MPI_STATUS_IGNORE),
                        function, "MPI_Test");
    if (!completed) continue;
    bucket.in_flight = false;
    if (bucket.phase == Bucket::Phase::reducing &&
        options_.reduction_order == ReductionOrder::rank_order) {
      // This rank's chunk: rank 0's copy, plus rank 1's, plus rank 2's, ... left to right.
      const auto count = static_cast<std::size_t>(bucket.counts[static_cast<std::size_t>(rank_)]);
      float* sum = bucket.buffer.data() + bucket.offsets[static_cast<std::size_t>(rank_)];
      std::copy_n(bucket.received.data(), count, sum);
      for (int r = 1; r < world_size_; ++r) {
        const float* part = bucket.received.data() + static_cast<std::size_t>(r) * count;
        for (std::size_t k = 0; k < count; ++k) sum[k] += part[k];
      }
      bucket.phase = Bucket::Phase::summed;
    } else {
      bucket.phase = Bucket::Phase::done;
    }
  }
  while (next_gather_ < next_bucket_ && buckets_[next_gather_].phase == Bucket::Phase::summed) {
    Bucket& bucket = buckets_[next_gather_];
    dist::detail::check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, bucket.buffer.data(),
                                        bucket.counts.data(), bucket.offsets.data(), MPI_FLOAT,
                                        channels_->gather, &bucket.request),
                        function, "MPI_Iallgatherv");
    bucket.in_flight = true;
    bucket.phase = Bucket::Phase::gathering;
    ++next_gather_;
  }
}

bool DistributedDataParallel::all_done() const {
  return std::all_of(buckets_.begin(), buckets_.end(), [](const Bucket& bucket) {
    return bucket.phase == Bucket::Phase::done;
  });
}

// Copies the parameter's gradient (zeros if it has none) into its bucket, and launches every
// bucket that this completes, in order.
void DistributedDataParallel::mark_ready(std::size_t index) {
  Parameter& parameter = parameters_[index];
  Bucket& bucket = buckets_[parameter.bucket];
  float* slot = bucket.buffer.data() + parameter.offset;
  const Tensor grad = parameter.tensor.grad();
  if (grad.defined()) {
    std::memcpy(slot, grad.data(), static_cast<std::size_t>(grad.numel()) * sizeof(float));
  } else {
    std::fill_n(slot, parameter.tensor.numel(), 0.0f);
  }
  bucket.buffer[static_cast<std::size_t>(parameter.flag_slot)] = grad.defined() ? 1.0f : 0.0f;
  parameter.ready = true;
  if (--bucket.pending == 0) launch_ready_buckets();
}

void DistributedDataParallel::launch_ready_buckets() {
  const char* function = "DistributedDataParallel";
  dist::detail::communicator(function);  // the group must still be up
  const Clock::time_point start = Clock::now();
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) {
    Bucket& bucket = buckets_[next_bucket_];
    if (options_.reduction_order == ReductionOrder::rank_order) {
      dist::detail::check(
          MPI_Ialltoallv(bucket.buffer.data(), bucket.counts.data(), bucket.offsets.data(),
                         MPI_FLOAT, bucket.received.data(), bucket.received_counts.data(),
                         bucket.received_offsets.data(), MPI_FLOAT, channels_->reduce,
                         &bucket.request),
          function, "MPI_Ialltoallv");
    } else if (bucket.persistent != MPI_REQUEST_NULL) {
      dist::detail::check(MPI_Start(&bucket.persistent), function, "MPI_Start");
    } else {
      dist::detail::check(MPI_Iallreduce(MPI_IN_PLACE, bucket.buffer.data(),
                                         static_cast<int>(bucket.buffer.size()), MPI_FLOAT,
                                         MPI_SUM, channels_->reduce, &bucket.request),
                          function, "MPI_Iallreduce");
    }
    bucket.in_flight = true;
    bucket.phase = Bucket::Phase::reducing;
    stats_.bytes += static_cast<std::int64_t>(bucket.buffer.size() * sizeof(float));
    ++next_bucket_;
  }
  stats_.communication_seconds += seconds_since(start);
}

// Polls every launched bucket to completion. Polling (not MPI_Waitall) so that a rank whose
// partners stopped synchronising gives up after timeout_seconds instead of waiting forever.
void DistributedDataParallel::wait_all(const char* function) {
  const Clock::time_point start = Clock::now();
  for (std::size_t polls = 0;; ++polls) {
    progress();
    if (all_done()) break;
    if (polls % 1024 == 1023) {
      if (seconds_since(start) > options_.timeout_seconds) {
        dist::abort_job(std::string(function) + ": a gradient all-reduce did not complete within " +
                        std::to_string(options_.timeout_seconds) +
                        " s; another rank stopped synchronising (did it run out of data? use "
                        "DistributedSampler, or join() for uneven inputs) or hangs");
      }
      std::this_thread::yield();
    }
  }
  const double waited = seconds_since(start);
  stats_.wait_seconds += waited;
  stats_.communication_seconds += waited;
}

void DistributedDataParallel::unpack() {
  NoGradGuard no_grad;
  const auto world = static_cast<float>(world_size_);
  for (Parameter& parameter : parameters_) {
    const Bucket& bucket = buckets_[parameter.bucket];
    if (bucket.buffer[static_cast<std::size_t>(parameter.flag_slot)] == 0.0f) continue;  // no rank had one
    TensorImpl& impl = *parameter.tensor.impl();
    if (!impl.grad) impl.grad = Tensor::empty(parameter.tensor.shape()).impl_ptr();
    float* grad = impl.grad->data();
    const float* sum = bucket.buffer.data() + parameter.offset;
    for (std::int64_t i = 0, n = parameter.tensor.numel(); i < n; ++i) grad[i] = sum[i] / world;
  }
}

void DistributedDataParallel::reset_round() {
  for (Parameter& parameter : parameters_) parameter.ready = false;
  for (Bucket& bucket : buckets_) {
    bucket.pending = bucket.parameters.size();
    bucket.phase = Bucket::Phase::idle;
    bucket.buffer[static_cast<std::size_t>(bucket.active_slot())] = 1.0f;
  }
  next_bucket_ = 0;
  next_gather_ = 0;
}

void DistributedDataParallel::finish_gradient_sync() {
  const char* function = "DistributedDataParallel::finish_gradient_sync";
  if (no_sync_) {
    throw ValueError(std::string(function) +
                     ": called inside no_sync(); gradients are only accumulated there");
  }
  // Whatever backward left open: parameters it gave no gradient to this round (unused ones, or
  // every parameter when no hook reported it), in bucket order so the earliest buckets leave first.
  for (const Bucket& bucket : buckets_) {
    for (std::size_t p : bucket.parameters) {
      if (!parameters_[p].ready) mark_ready(p);
    }
  }
  wait_all(function);
  unpack();
  reset_round();
  ++stats_.syncs;
}

void DistributedDataParallel::join() {
  const char* function = "DistributedDataParallel::join";
  if (no_sync_) throw ValueError(std::string(function) + ": called inside no_sync()");
  if (next_bucket_ > 0 || std::any_of(parameters_.begin(), parameters_.end(),
                                      [](const Parameter& p) { return p.ready; })) {
    throw ValueError(std::string(function) +
                     ": a gradient sync is in progress; call finish_gradient_sync() first");
  }
  // Shadow the other ranks' syncs: zero gradients, no flags, inactive; until nobody is active.
  int shadowed = 0;
  for (;;) {
    for (Bucket& bucket : buckets_) {
      std::fill(bucket.buffer.begin(), bucket.buffer.end(), 0.0f);
      bucket.pending = 0;
    }
    launch_ready_buckets();
    wait_all(function);
    const float active = buckets_.front().buffer[static_cast<std::size_t>(buckets_.front().active_slot())];
    reset_round();
    if (active == 0.0f) break;
    ++shadowed;
  }
  // The rank that joined last took every optimizer step: its parameters win (lowest rank on a tie).
  const std::vector<int> rounds = dist::detail::all_gather(shadowed, function);
  const auto last_joined = std::min_element(rounds.begin(), rounds.end()) - rounds.begin();
  broadcast_parameters(static_cast<int>(last_joined));
}

}  // namespace tapegrad::nn
