// The process group over MPI (nn/distributed.h). All of tapegrad's traffic goes through a
// duplicate of MPI_COMM_WORLD whose error handler returns codes, so an MPI error becomes an
// exception here (and, under dist::run, an MPI_Abort naming the rank) rather than MPI's own abort.
#include "nn/distributed.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

#include "nn/distributed_mpi.h"

namespace tapegrad::dist {

namespace {

// The process group: process-wide, as MPI is.
struct Group {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  int size = 0;
  bool finalize_mpi = false;  // we called MPI_Init, so we call MPI_Finalize
  std::terminate_handler previous_terminate = nullptr;
};

Group& group() {
  static Group state;
  return state;
}

bool mpi_usable() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

[[noreturn]] void abort_with(const std::string& line, int exit_code) {
  // One write of the whole line, so that lines of ranks aborting together do not interleave.
  const std::string text = "tapegrad.dist: " + line + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
  std::cout.flush();
  if (mpi_usable()) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI is not running: this process is the whole job
}

// An exception escaped (from any thread) or std::terminate was called: end every rank now.
[[noreturn]] void terminate_job() {
  std::string what = "std::terminate called";
  if (const std::exception_ptr error = std::current_exception()) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = std::string("uncaught exception: ") + e.what();
    } catch (...) {
      what = "uncaught exception of unknown type";
    }
  }
  abort_with(detail::describe_self() + " failed: " + what + "; aborting every rank", 1);
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return MPI_SUM;
    case ReduceOp::max: return MPI_MAX;
    case ReduceOp::min: return MPI_MIN;
  }
  throw ValueError("dist::all_reduce: unknown ReduceOp");
}

// "[2, 3]", or "[2, 3] int64" for a tensor that is not float32.
std::string describe_layout(const Tensor& tensor) {
  return format_shape(tensor.shape()) +
         (tensor.dtype() == Dtype::float32 ? "" : std::string(" ") + dtype_name(tensor.dtype()));
}

// Agrees, before any value moves, that every rank's tensor has the root's shape and dtype;
// otherwise every rank throws the same ShapeError naming the first mismatching rank and both
// layouts (a rank that alone refused would leave the others waiting in the collective).
void check_same_shape(const Tensor& tensor, int root, const char* function) {
  if (!tensor.defined()) throw ValueError(std::string(function) + ": the tensor is undefined");
  const MPI_Comm comm = detail::communicator(function);
  // The shape's extents, then the dtype.
  std::vector<std::int64_t> layout(tensor.shape().begin(), tensor.shape().end());
  layout.push_back(static_cast<std::int64_t>(tensor.dtype()));
  auto length = static_cast<std::int64_t>(layout.size());
  detail::check(MPI_Bcast(&length, 1, MPI_INT64_T, root, comm), function, "MPI_Bcast");
  std::vector<std::int64_t> root_layout(static_cast<std::size_t>(length));
  if (get_rank() == root) root_layout = layout;
  detail::check(MPI_Bcast(root_layout.data(), static_cast<int>(length), MPI_INT64_T, root, comm),
                function, "MPI_Bcast");
  const std::vector<int> same = detail::all_gather(layout == root_layout, function);
  const auto first_bad = std::find(same.begin(), same.end(), 0);
  if (first_bad == same.end()) return;
  const int bad_rank = static_cast<int>(first_bad - same.begin());
  const std::string root_text = detail::broadcast_text(describe_layout(tensor), root, function);
  const std::string bad_text = detail::broadcast_text(describe_layout(tensor), bad_rank, function);
  throw ShapeError(std::string(function) + ": every rank needs the root's shape and dtype: rank " +
                   std::to_string(root) + " (root) has " + root_text + ", rank " +
                   std::to_string(bad_rank) + " has " + bad_text + " (ranks differing: " +
                   detail::failing_ranks(same) + ")");
}

}  // namespace

// ---------------------------------------------------------------- detail

namespace detail {

MPI_Comm communicator(const char* function) {
  if (group().comm == MPI_COMM_NULL) {
    throw Error(std::string(function) +
                ": the process group is not initialized: call tapegrad::dist::init_process_group() "
                "(or run the program inside dist::run) first, and start it with mpirun");
  }
  return group().comm;
}

void check(int code, const char* function, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(std::string(function) + ": " + call + " failed on " + describe_self() + ": " +
              std::string(text, static_cast<std::size_t>(length)));
}

std::string describe_self() {
  if (group().comm != MPI_COMM_NULL) {
    return "rank " + std::to_string(group().rank) + " of " + std::to_string(group().size);
  }
  if (mpi_usable()) {
    int rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return "rank " + std::to_string(rank) + " of " + std::to_string(size);
  }
  return "rank ?";
}

std::vector<int> all_gather(int value, const char* function) {
  const MPI_Comm comm = communicator(function);
  std::vector<int> values(static_cast<std::size_t>(group().size));
  check(MPI_Allgather(&value, 1, MPI_INT, values.data(), 1, MPI_INT, comm), function,
        "MPI_Allgather");
  return values;
}

std::string broadcast_text(const std::string& text, int root, const char* function) {
  const MPI_Comm comm = communicator(function);
  std::uint64_t length = text.size();
  check(MPI_Bcast(&length, 1, MPI_UINT64_T, root, comm), function, "MPI_Bcast");
  std::string received = group().rank == root ? text : std::string(length, '\0');
  if (length > 0) {
    check(MPI_Bcast(received.data(), static_cast<int>(std::min<std::uint64_t>(length, INT_MAX)),
                    MPI_CHAR, root, comm),
          function, "MPI_Bcast");
  }
  return received;
}

std::string failing_ranks(const std::vector<int>& flags) {
  std::string ranks;
  for (std::size_t r = 0; r < flags.size(); ++r) {
    if (flags[r] == 0) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  }
  return ranks;
}

void check_root(int root, const char* function) {
  const int size = get_world_size();
  if (root < 0 || root >= size) {
    throw ValueError(std::string(function) + ": root must be a rank in [0, " +
                     std::to_string(size - 1) + "], got " + std::to_string(root));
  }
}

namespace {
constexpr std::int64_t max_chunk = std::int64_t{1} << 30;
}

void broadcast_floats(float* data, std::int64_t count, int root, const char* function) {
  const MPI_Comm comm = communicator(function);
  for (std::int64_t offset = 0; offset < count; offset += max_chunk) {
    const auto chunk = static_cast<int>(std::min(max_chunk, count - offset));
    check(MPI_Bcast(data + offset, chunk, MPI_FLOAT, root, comm), function, "MPI_Bcast");
  }
}

void broadcast_tensor(Tensor& tensor, int root, const char* function) {
  if (tensor.dtype() == Dtype::float32) {
    broadcast_floats(tensor.data(), tensor.numel(), root, function);
    return;
  }
  const MPI_Comm comm = communicator(function);
  std::int64_t* data = tensor.data_i64();
  for (std::int64_t offset = 0, count = tensor.numel(); offset < count; offset += max_chunk) {
    const auto chunk = static_cast<int>(std::min(max_chunk, count - offset));
    check(MPI_Bcast(data + offset, chunk, MPI_INT64_T, root, comm), function, "MPI_Bcast");
  }
}

void all_reduce_floats(float* data, std::int64_t count, MPI_Op op, const char* function) {
  const MPI_Comm comm = communicator(function);
  for (std::int64_t offset = 0; offset < count; offset += max_chunk) {
    const auto chunk = static_cast<int>(std::min(max_chunk, count - offset));
    check(MPI_Allreduce(MPI_IN_PLACE, data + offset, chunk, MPI_FLOAT, op, comm), function,
          "MPI_Allreduce");
  }
}

}  // namespace detail

// ---------------------------------------------------------------- the group

void init_process_group() {
  Group& state = group();
  if (state.comm != MPI_COMM_NULL) {
    throw Error("dist::init_process_group: the process group is already initialized");
  }
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized) {
    throw Error("dist::init_process_group: MPI was already finalized in this process (MPI cannot "
                "be initialized twice)");
  }
  if (!initialized) {
    int provided = 0;
    // MPI returns the error itself here (no communicator exists yet to return it through).
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
      throw Error("dist::init_process_group: MPI_Init_thread failed");
    }
    state.finalize_mpi = true;
  }
  MPI_Comm comm = MPI_COMM_NULL;
  detail::check(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "dist::init_process_group", "MPI_Comm_dup");
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm, &state.rank);
  MPI_Comm_size(comm, &state.size);
  state.comm = comm;
  state.previous_terminate = std::set_terminate(terminate_job);
}

void destroy_process_group() {
  Group& state = group();
  detail::communicator("dist::destroy_process_group");
  std::set_terminate(state.previous_terminate);
  MPI_Comm_free(&state.comm);
  state.comm = MPI_COMM_NULL;
  if (state.finalize_mpi) {
    state.finalize_mpi = false;
    MPI_Finalize();
  }
}

bool is_initialized() { return group().comm != MPI_COMM_NULL; }

int get_rank() {
  detail::communicator("dist::get_rank");
  return group().rank;
}

int get_world_size() {
  detail::communicator("dist::get_world_size");
  return group().size;
}

void barrier() {
  detail::check(MPI_Barrier(detail::communicator("dist::barrier")), "dist::barrier", "MPI_Barrier");
}

// ---------------------------------------------------------------- collectives

void broadcast(const Tensor& tensor, int root) {
  const char* function = "dist::broadcast";
  detail::communicator(function);
  detail::check_root(root, function);
  check_same_shape(tensor, root, function);
  Tensor handle = tensor;
  detail::broadcast_tensor(handle, root, function);
  if (get_rank() != root) handle.bump_version();
}

void all_reduce(const Tensor& tensor, ReduceOp op) {
  const char* function = "dist::all_reduce";
  detail::communicator(function);
  const MPI_Op mpi = mpi_op(op);
  check_same_shape(tensor, 0, function);
  check_floating(function, "tensor", tensor);  // after the check, so every rank refuses alike
  Tensor handle = tensor;
  detail::all_reduce_floats(handle.data(), handle.numel(), mpi, function);
  handle.bump_version();
}

// ---------------------------------------------------------------- faults

int run(const std::function<int()>& body) {
  try {
    init_process_group();
    const int code = body();
    destroy_process_group();
    return code;
  } catch (const std::exception& error) {
    abort_with(detail::describe_self() + " failed: " + error.what() + "; aborting every rank", 1);
  } catch (...) {
    abort_with(detail::describe_self() + " failed: an exception of unknown type; aborting every rank",
               1);
  }
}

void abort_job(const std::string& message, int exit_code) {
  abort_with(detail::describe_self() + ": " + message, exit_code);
}

// ---------------------------------------------------------------- checkpoints

namespace {

// Runs fn, returning "" or what it threw (never empty for a throw).
std::string run_capturing(const std::function<void()>& fn) {
  try {
    fn();
    return "";
  } catch (const std::exception& error) {
    const std::string what = error.what();
    return what.empty() ? "an exception with an empty message" : what;
  } catch (...) {
    return "an exception of unknown type";
  }
}

}  // namespace

void save_on_root(const std::function<void()>& write, int root) {
  const char* function = "dist::save_on_root";
  detail::communicator(function);
  detail::check_root(root, function);
  const std::string failure = get_rank() == root ? run_capturing(write) : std::string();
  // The broadcast is the barrier: the other ranks leave it only once the root has finished.
  const std::string root_failure = detail::broadcast_text(failure, root, function);
  if (!root_failure.empty()) {
    throw Error(std::string(function) + ": writing on rank " + std::to_string(root) +
                " failed: " + root_failure);
  }
}

void load_on_all(const std::function<void()>& read) {
  const char* function = "dist::load_on_all";
  detail::communicator(function);
  const std::string failure = run_capturing(read);
  const std::vector<int> succeeded = detail::all_gather(failure.empty(), function);
  const auto first_bad = std::find(succeeded.begin(), succeeded.end(), 0);
  if (first_bad == succeeded.end()) return;
  const int bad_rank = static_cast<int>(first_bad - succeeded.begin());
  const std::string message = detail::broadcast_text(failure, bad_rank, function);
  throw Error(std::string(function) + ": reading failed on rank(s) " +
              detail::failing_ranks(succeeded) + "; rank " + std::to_string(bad_rank) + ": " +
              message);
}

}  // namespace tapegrad::dist
