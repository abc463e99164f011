// Data-parallel training over MPI, run by ctest as `mpirun -np 2 test_distributed` (every rank
// runs every test case, in the same order, so collectives match). A failed assertion on one rank
// would leave the other waiting in a collective, so the listener below prints it and aborts the
// job at once instead.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <mpi.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <unistd.h>

#include "autograd/grad_mode.h"
#include "nn/distributed.h"
#include "nn/distributed_data_parallel.h"
#include "nn/layers.h"
#include "nn/rnn.h"
#include "nn/serialize.h"
#include "ops/losses.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/sgd.h"
#include "test_util.h"

using namespace tapegrad;
using Catch::Matchers::Contains;

namespace {

// MPI itself is initialized by the harness, so a test can destroy and re-create the process
// group (MPI cannot be initialized twice in a process, a process group can).
struct MpiHarness : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testRunStarting(const Catch::TestRunInfo& info) override {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    dist::init_process_group();
    TestEventListenerBase::testRunStarting(info);
  }
  void testRunEnded(const Catch::TestRunStats& stats) override {
    TestEventListenerBase::testRunEnded(stats);
    if (dist::is_initialized()) dist::destroy_process_group();
    MPI_Finalize();
  }
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    const Catch::AssertionResult& result = stats.assertionResult;
    if (!result.isOk()) {
      std::string text = "test failed at " + std::string(result.getSourceInfo().file) + ":" +
                         std::to_string(result.getSourceInfo().line) + ": " +
                         result.getExpressionInMacro() + " with " + result.getExpandedExpression();
      if (result.hasMessage()) text += ": " + result.getMessage();
      for (const Catch::MessageInfo& info : stats.infoMessages) text += "\n  with " + info.message;
      dist::abort_job(text);
    }
    return true;
  }
};
CATCH_REGISTER_LISTENER(MpiHarness)

// A tiny sequence model: LSTM(3 -> 5) and Linear(5 -> 1) on the last step.
struct TinyModel : nn::Module {
  nn::LSTM* lstm;
  nn::Linear* head;
  explicit TinyModel(Generator& gen, std::int64_t hidden = 5)
      : lstm(&register_module("lstm", nn::LSTM({.input_size = 3, .hidden_size = hidden,
                                                .batch_first = true}, gen))),
        head(&register_module("head", nn::Linear({.in_features = hidden, .out_features = 1}, gen))) {}
  Tensor forward(const Tensor& x) const {
    return head->forward(select(lstm->forward(x).output, 1, -1));
  }
};

// A model with buffers, persistent and not, float and int64, whose values (and optionally the
// running mean's shape, or the counter's dtype) differ by rank.
struct BufferedModel : nn::Module {
  Tensor weight, running_mean, step_mask, batches_tracked;
  BufferedModel(float value, std::int64_t mean_size = 3, bool float_counter = false) {
    weight = register_parameter("weight", Tensor::full({2}, value));
    running_mean = register_buffer("running_mean", Tensor::full({mean_size}, value));
    step_mask = register_buffer("step_mask", Tensor::full({4}, -value), /*persistent=*/false);
    const auto count = static_cast<std::int64_t>(value) * 1000;
    batches_tracked = register_buffer("num_batches_tracked",
                                      float_counter ? Tensor::scalar(static_cast<float>(count))
                                                    : Tensor::from_vector_i64({count}, {}));
  }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.numel()) * sizeof(float)) == 0;
}

// Rank 0's copy of `tensor` on every rank.
Tensor from_rank0(const Tensor& tensor) {
  Tensor copy = Tensor::empty(tensor.shape());
  std::memcpy(copy.data(), tensor.data(), static_cast<std::size_t>(tensor.numel()) * sizeof(float));
  dist::broadcast(copy, 0);
  return copy;
}

struct Batch {
  Tensor x, y;
};
Batch make_batch(std::int64_t rows, std::uint64_t seed) {
  Generator gen(seed);
  Tensor x = Tensor::normal({rows, 4, 3}, 0, 1, gen);
  Tensor y = Tensor::normal({rows, 1}, 0, 1, gen);
  return {x, y};
}
Batch rows_of(const Batch& batch, std::int64_t begin, std::int64_t end) {
  NoGradGuard no_grad;
  return {slice(batch.x, 0, begin, end), slice(batch.y, 0, begin, end)};
}

}  // namespace

TEST_CASE("the process group: rank, size, barrier, all_reduce, broadcast", "[dist]") {
  const int rank = dist::get_rank(), size = dist::get_world_size();
  REQUIRE(size >= 2);
  REQUIRE((rank >= 0 && rank < size));
  dist::barrier();
  Tensor value = Tensor::full({2, 3}, static_cast<float>(rank + 1));
  dist::all_reduce(value);
  REQUIRE(value.at({1, 2}) == static_cast<float>(size * (size + 1) / 2));
  dist::all_reduce(value = Tensor::full({1}, static_cast<float>(rank)), dist::ReduceOp::max);
  REQUIRE(value.item() == static_cast<float>(size - 1));

  Tensor shared = Tensor::full({4}, static_cast<float>(10 * rank));
  const std::uint64_t version = shared.version();
  dist::broadcast(shared, size - 1);
  REQUIRE(shared.to_vector() == std::vector<float>(4, static_cast<float>(10 * (size - 1))));
  REQUIRE(shared.version() == (rank == size - 1 ? version : version + 1));
}

TEST_CASE("a shape that differs on one rank is the same ShapeError on every rank, not a hang",
          "[dist][errors]") {
  const int rank = dist::get_rank();
  Tensor tensor = Tensor::zeros(rank == 1 ? Shape{2, 5} : Shape{2, 3});
  REQUIRE_THROWS_WITH(dist::broadcast(tensor, 0),
                      Contains("rank 0 (root) has [2, 3], rank 1 has [2, 5]") &&
                          Contains("ranks differing: 1"));
  REQUIRE_THROWS_AS(dist::all_reduce(tensor), ShapeError);
  REQUIRE_THROWS_WITH(dist::broadcast(tensor, dist::get_world_size()),
                      Contains("root must be a rank in [0, 1], got 2"));
  // A dtype that differs is refused the same way, on every rank, before any data moves.
  Tensor mixed = rank == 1 ? Tensor::zeros({2}, Dtype::int64) : Tensor::zeros({2});
  REQUIRE_THROWS_WITH(dist::broadcast(mixed, 0),
                      Contains("rank 0 (root) has [2], rank 1 has [2] int64"));
  // int64 tensors broadcast exactly; all_reduce (a float sum) refuses them on every rank.
  const std::int64_t big = (std::int64_t{1} << 53) + 1;
  Tensor ids = Tensor::from_vector_i64({rank == 0 ? big : 0, -rank}, {2});
  dist::broadcast(ids, 0);
  REQUIRE(ids.to_vector_i64() == std::vector<std::int64_t>{big, 0});
  REQUIRE_THROWS_AS(dist::all_reduce(ids), TypeError);
  dist::barrier();  // still in step
}

TEST_CASE("distributed calls without a process group name the function and the fix", "[dist][errors]") {
  dist::destroy_process_group();
  REQUIRE_FALSE(dist::is_initialized());
  REQUIRE_THROWS_WITH(dist::get_rank(),
                      Contains("dist::get_rank: the process group is not initialized") &&
                          Contains("init_process_group()"));
  REQUIRE_THROWS_WITH(dist::barrier(), Contains("dist::barrier"));
  Generator gen(0);
  TinyModel model(gen);
  REQUIRE_THROWS_WITH(nn::DistributedDataParallel(model), Contains("dist::get_world_size"));
  REQUIRE_THROWS_WITH(dist::destroy_process_group(), Contains("not initialized"));
  dist::init_process_group();
  REQUIRE_THROWS_WITH(dist::init_process_group(), Contains("already initialized"));
  REQUIRE(dist::get_world_size() >= 2);
}

TEST_CASE("DistributedDataParallel starts every rank from the root's parameters", "[ddp]") {
  Generator gen(100 + static_cast<std::uint64_t>(dist::get_rank()));  // different on each rank
  TinyModel model(gen);
  nn::DistributedDataParallel ddp(model);
  for (const auto& [name, tensor] : model.named_parameters()) {
    INFO(name);
    REQUIRE(same_bits(tensor, from_rank0(tensor)));
  }
  Generator root_gen(100);
  TinyModel root_model(root_gen);
  REQUIRE(same_bits(model.head->parameters()[0], root_model.head->parameters()[0]));
}

TEST_CASE("DistributedDataParallel broadcasts the root's buffers and refuses buffers that differ",
          "[ddp]") {
  const auto rank_value = static_cast<float>(dist::get_rank() + 1);
  BufferedModel model(rank_value);
  nn::DistributedDataParallel ddp(model);
  REQUIRE(model.running_mean.to_vector() == std::vector<float>(3, 1.0f));  // rank 0's
  REQUIRE(model.step_mask.to_vector() == std::vector<float>(4, -1.0f));    // non-persistent too
  REQUIRE(model.weight.to_vector() == std::vector<float>(2, 1.0f));
  REQUIRE(model.batches_tracked.dtype() == Dtype::int64);              // int64 buffers too
  REQUIRE(model.batches_tracked.item_i64() == 1000);

  // After join(), every rank holds the buffers of the rank that joined last (here: all at once,
  // so rank 0's, which is what every rank has already).
  model.batches_tracked.data_i64()[0] = 7 + dist::get_rank();
  ddp.join();
  REQUIRE(model.batches_tracked.item_i64() == 7);

  BufferedModel other_dtype(1.0f, 3, /*float_counter=*/dist::get_rank() == 1);
  REQUIRE_THROWS_WITH(nn::DistributedDataParallel(other_dtype),
                      Contains("buffer 'num_batches_tracked' [] int64") &&
                          Contains("but buffer 'num_batches_tracked' [] (requires_grad=false) on "
                                   "rank 1"));

  BufferedModel other_shape(1.0f, dist::get_rank() == 1 ? 5 : 3);
  REQUIRE_THROWS_WITH(nn::DistributedDataParallel(other_shape),
                      Contains("the ranks' buffers differ: entry 0 is buffer 'running_mean' [3] "
                               "(requires_grad=false) on rank 0 (root) but buffer 'running_mean' [5]"));
  dist::barrier();
}

TEST_CASE("DistributedDataParallel refuses different models on every rank, naming the parameter",
          "[ddp][errors]") {
  Generator gen(0);
  TinyModel model(gen, dist::get_rank() == 1 ? 6 : 5);
  REQUIRE_THROWS_WITH(nn::DistributedDataParallel(model),
                      Contains("parameter 0 is 'lstm.weight_ih_l0' [20, 3] on rank 0 (root) but "
                               "'lstm.weight_ih_l0' [24, 3] on rank 1") &&
                          Contains("ranks differing from the root: 1"));
  REQUIRE_THROWS_WITH(nn::DistributedDataParallel(model, {.bucket_cap_mb = 0}),
                      Contains("bucket_cap_mb must be finite and > 0, got 0"));
  // Options that shape the buckets must agree too, or the ranks would issue other collectives.
  Generator same_gen(0);
  TinyModel same(same_gen);
  REQUIRE_THROWS_WITH(
      nn::DistributedDataParallel(same, {.bucket_cap_mb = dist::get_rank() == 1 ? 2.0 : 4.0}),
      Contains("the options differ: bucket_cap_mb 4.000000, reduction_order mpi on rank 0 (root) "
               "but bucket_cap_mb 2.000000, reduction_order mpi on rank 1"));
  dist::barrier();
}

TEST_CASE("buckets hold parameters in reverse order and close at the cap", "[ddp]") {
  Generator gen(0);
  TinyModel model(gen);  // weight_ih [20, 3], weight_hh [20, 5], bias_ih [20], bias_hh [20], head
  // 400 bytes: head.bias (4) + head.weight (20) + bias_hh (80) + bias_ih (80) + weight_hh (400)
  // passes the cap, so weight_ih starts a second bucket.
  nn::DistributedDataParallel ddp(model, {.bucket_cap_mb = 400.0 / (1024 * 1024)});
  const auto buckets = ddp.buckets();
  REQUIRE(buckets.size() == 2);
  REQUIRE(buckets[0].parameters ==
          std::vector<std::string>{"head.bias", "head.weight", "lstm.bias_hh_l0", "lstm.bias_ih_l0",
                                   "lstm.weight_hh_l0"});
  REQUIRE(buckets[0].numel == 1 + 5 + 20 + 20 + 100);
  REQUIRE(buckets[1].parameters == std::vector<std::string>{"lstm.weight_ih_l0"});
  REQUIRE(nn::DistributedDataParallel(model).buckets().size() == 1);  // 4 MB default
}

TEST_CASE("a bucket's all-reduce starts during backward, once its last gradient is final",
          "[ddp][overlap]") {
  Generator gen(0);
  TinyModel model(gen);
  // 24 bytes: the head (bias 4 + weight 20 bytes) fills bucket 0; each LSTM tensor gets its own.
  Tensor weight_ih = model.named_parameters()[0].second;
  std::int64_t launched_before_lstm_done = -1;
  // Registered before DistributedDataParallel's own hooks, so it runs first on this parameter:
  // backward has not finished the LSTM yet, but the head's bucket must already be on its way.
  nn::DistributedDataParallel* ddp_seen = nullptr;
  RemovableHandle probe = weight_ih.register_post_accumulate_grad_hook([&](Tensor&) {
    launched_before_lstm_done = ddp_seen->stats().buckets_launched_in_backward;
  });
  nn::DistributedDataParallel ddp(model, {.bucket_cap_mb = 24.0 / (1024 * 1024)});
  ddp_seen = &ddp;
  REQUIRE(ddp.buckets().size() == 5);
  REQUIRE(ddp.buckets()[0].parameters == std::vector<std::string>{"head.bias", "head.weight"});
  const Batch batch = make_batch(3, 21 + static_cast<std::uint64_t>(dist::get_rank()));
  mse_loss(model.forward(batch.x), batch.y).backward();
  REQUIRE(launched_before_lstm_done >= 1);
  REQUIRE(ddp.stats().buckets_launched_in_backward == 5);  // every bucket, by the hooks
  ddp.finish_gradient_sync();
  probe.remove();

  // A second backward before the sync is refused (on every rank alike); the sync then completes.
  mse_loss(model.forward(batch.x), batch.y).backward();
  REQUIRE_THROWS_WITH(mse_loss(model.forward(batch.x), batch.y).backward(),
                      Contains("a second time before finish_gradient_sync()"));
  ddp.finish_gradient_sync();
  REQUIRE(ddp.stats().syncs == 2);
}

// Values whose float sum depends on the association order: large terms of both signs and small
// ones, different in every element and rank.
float awkward_value(int rank, std::int64_t k) {
  const float big = (rank + k) % 2 == 0 ? 3.0e7f : -3.0e7f;
  return big * static_cast<float>(1 + (k + rank) % 3) + 0.37f * static_cast<float>(rank + 1) +
         0.011f * static_cast<float>(k);
}

TEST_CASE("rank_order sums every element in rank order, whatever MPI's algorithm", "[ddp][order]") {
  const int rank = dist::get_rank(), size = dist::get_world_size();
  // Three parameters in three buckets (a 100-byte cap), so gathers of earlier buckets overlap the
  // all-to-alls of later ones; the last bucket (p0: 2 elements, 2 flags) is cut into tiny chunks.
  struct Vectors : nn::Module {
    std::vector<Tensor> p;
    Vectors() {
      for (std::int64_t n : {2, 1001, 333}) {
        std::string name = "p";  // not "p" + ...: GCC 12 warns falsely (-Wrestrict) on that
        name += std::to_string(p.size());
        p.push_back(register_parameter(name, Tensor::zeros({n}, true)));
      }
    }
  };
  // Element k of parameter j on rank r: offset k by 2000 j so each parameter has its own values.
  auto local_grads = [&](const Vectors& model) {
    std::vector<Tensor> grads;
    for (std::size_t j = 0; j < model.p.size(); ++j) {
      Tensor g = Tensor::empty(model.p[j].shape());
      for (std::int64_t k = 0; k < g.numel(); ++k) {
        g.data()[k] = awkward_value(rank, k + 2000 * static_cast<std::int64_t>(j));
      }
      grads.push_back(g);
    }
    return grads;
  };
  std::vector<std::vector<std::vector<float>>> results;  // [order][parameter][element]
  for (auto order : {nn::ReductionOrder::rank_order, nn::ReductionOrder::mpi}) {
    Vectors model;
    nn::DistributedDataParallel ddp(model, {.bucket_cap_mb = 100.0 / (1024 * 1024),
                                            .reduction_order = order});
    REQUIRE(ddp.buckets().size() == 3);
    const std::vector<Tensor> grads = local_grads(model);
    Tensor loss = Tensor::scalar(0.0f);
    for (std::size_t j = 0; j < grads.size(); ++j) loss = add(loss, sum(mul(model.p[j], grads[j])));
    loss.backward();  // each grad is exactly this rank's values
    ddp.finish_gradient_sync();
    results.emplace_back();
    for (const Tensor& p : model.p) results.back().push_back(p.grad().to_vector());
  }
  std::int64_t order_matters = 0;
  for (std::size_t j = 0; j < results[0].size(); ++j) {
    for (std::size_t k = 0; k < results[0][j].size(); ++k) {
      const auto index = static_cast<std::int64_t>(k + 2000 * j);
      float folded = awkward_value(0, index);
      for (int r = 1; r < size; ++r) folded += awkward_value(r, index);
      float reversed = awkward_value(size - 1, index);
      for (int r = size - 2; r >= 0; --r) reversed += awkward_value(r, index);
      order_matters += folded != reversed;
      INFO("parameter " << j << ", element " << k);
      REQUIRE(results[0][j][k] == folded / static_cast<float>(size));
    }
  }
  if (size >= 3) REQUIRE(order_matters > 0);  // the values do tell the orders apart
  if (size == 2) REQUIRE(results[0] == results[1]);  // two ranks: MPI's sum is g0 + g1 as well
}

// The bar of issue 12: 2 ranks with B/2 rows each follow 1 process with all B rows, step by step.
TEST_CASE("N ranks with B/N rows each match one process with B rows over 20 Adam steps, and "
          "every run gives the same bits", "[ddp][parity]") {
  const int rank = dist::get_rank(), size = dist::get_world_size();
  const std::int64_t rows_per_rank = 4, rows = rows_per_rank * size;
  const Batch full = make_batch(rows, 7);
  const Batch mine = rows_of(full, rank * rows_per_rank, (rank + 1) * rows_per_rank);

  Generator reference_gen(3);
  TinyModel reference(reference_gen);
  optim::Adam reference_adam(reference.parameters(), {.lr = 0.01f});
  std::vector<float> reference_losses;
  std::vector<Tensor> reference_first_grads;  // Adam hides a wrong scale: compare grads directly
  for (int step = 0; step < 20; ++step) {
    reference_adam.zero_grad();
    Tensor loss = mse_loss(reference.forward(full.x), full.y);
    loss.backward();
    if (step == 0) {
      for (const Tensor& p : reference.parameters()) reference_first_grads.push_back(p.grad().clone());
    }
    reference_adam.step();
    reference_losses.push_back(loss.item());
  }

  auto train = [&](std::vector<float>& losses) {
    Generator gen(rank == 0 ? 3 : 50);  // rank 0's weights are broadcast
    auto model = std::make_unique<TinyModel>(gen);
    nn::DistributedDataParallel ddp(*model);
    optim::Adam adam(model->parameters(), {.lr = 0.01f});
    for (int step = 0; step < 20; ++step) {
      adam.zero_grad();
      Tensor loss = mse_loss(model->forward(mine.x), mine.y);
      loss.backward();
      ddp.finish_gradient_sync();
      if (step == 0) {
        const std::vector<Tensor> parameters = model->parameters();
        for (std::size_t k = 0; k < parameters.size(); ++k) {
          REQUIRE_ALL_CLOSE(parameters[k].grad(), reference_first_grads[k], 1e-5, 1e-7);
        }
      }
      adam.step();
      Tensor mean_loss = Tensor::full({1}, loss.item());
      dist::all_reduce(mean_loss);
      losses.push_back(mean_loss.item() / static_cast<float>(size));
    }
    REQUIRE(ddp.stats().syncs == 20);
    return model;
  };
  std::vector<float> losses, rerun_losses;
  const auto model = train(losses);
  const auto rerun = train(rerun_losses);

  for (std::size_t step = 0; step < losses.size(); ++step) {
    INFO("step " << step);
    REQUIRE(losses[step] == Approx(reference_losses[step]).epsilon(1e-5));
    REQUIRE(losses[step] == rerun_losses[step]);
  }
  REQUIRE(losses.back() < 0.8f * losses.front());  // it did learn
  const auto named = model->named_parameters();
  const auto rerun_named = rerun->named_parameters();
  const auto reference_named = reference.named_parameters();
  for (std::size_t k = 0; k < named.size(); ++k) {
    INFO(named[k].first);
    REQUIRE_ALL_CLOSE(named[k].second, reference_named[k].second, 1e-5, 1e-6);
    REQUIRE(same_bits(named[k].second, rerun_named[k].second));     // run to run
    REQUIRE(same_bits(named[k].second, from_rank0(named[k].second)));  // rank to rank
  }
}

TEST_CASE("no_sync accumulates locally; the next sync averages the accumulated gradients",
          "[ddp][no_sync]") {
  const int rank = dist::get_rank(), size = dist::get_world_size();
  const Batch full = make_batch(4 * size, 11);
  Generator gen(5);
  TinyModel model(gen);
  nn::DistributedDataParallel ddp(model);
  // Two micro-batches of 2 rows per rank: the first under no_sync.
  const Batch first = rows_of(full, 4 * rank, 4 * rank + 2);
  const Batch second = rows_of(full, 4 * rank + 2, 4 * rank + 4);
  {
    auto guard = ddp.no_sync();
    mse_loss(model.forward(first.x), first.y).backward();
    REQUIRE_THROWS_WITH(ddp.finish_gradient_sync(), Contains("called inside no_sync()"));
  }
  const Tensor local_after_first = model.head->parameters()[0].grad().clone();
  Tensor same_everywhere = from_rank0(local_after_first);
  REQUIRE(same_bits(local_after_first, same_everywhere) == (rank == 0));  // nothing was averaged
  mse_loss(model.forward(second.x), second.y).backward();
  ddp.finish_gradient_sync();

  // The sum over 2 micro-batches of each rank's mean, averaged over ranks = 2 x the full-batch mean.
  Generator reference_gen(5);
  TinyModel reference(reference_gen);
  Tensor loss = mse_loss(reference.forward(full.x), full.y);
  loss.backward();
  const auto named = model.named_parameters();
  const auto reference_named = reference.named_parameters();
  for (std::size_t k = 0; k < named.size(); ++k) {
    INFO(named[k].first);
    Tensor expected = reference_named[k].second.grad().clone();
    expected.mul_(2.0f);
    REQUIRE_ALL_CLOSE(named[k].second.grad(), expected, 1e-5, 1e-6);
  }
}

TEST_CASE("a parameter without a gradient: averaged when some rank had one, left undefined when "
          "none had", "[ddp][unused]") {
  struct TwoHeads : nn::Module {
    nn::Linear* used_by_rank0;
    nn::Linear* never_used;
    nn::Linear* always;
    explicit TwoHeads(Generator& gen)
        : used_by_rank0(&register_module("a", nn::Linear({.in_features = 2, .out_features = 1}, gen))),
          never_used(&register_module("b", nn::Linear({.in_features = 2, .out_features = 1}, gen))),
          always(&register_module("c", nn::Linear({.in_features = 2, .out_features = 1}, gen))) {}
  };
  const int rank = dist::get_rank(), size = dist::get_world_size();
  Generator gen(1);
  TwoHeads model(gen);
  nn::DistributedDataParallel ddp(model);
  Tensor x = Tensor::full({3, 2}, 1.0f + static_cast<float>(rank));
  Tensor out = model.always->forward(x);
  if (rank == 0) out = add(out, model.used_by_rank0->forward(x));
  sum(out).backward();
  const Tensor rank0_grad = rank == 0 ? model.used_by_rank0->parameters()[1].grad().clone()
                                      : Tensor::zeros({1});
  ddp.finish_gradient_sync();

  REQUIRE_FALSE(model.never_used->parameters()[0].grad().defined());
  REQUIRE_FALSE(model.never_used->parameters()[1].grad().defined());
  const Tensor bias_grad = model.used_by_rank0->parameters()[1].grad();
  REQUIRE(bias_grad.defined());  // on every rank, rank 1 included
  // d sum / d bias = 3 rows on rank 0, nothing elsewhere: the mean is 3 / size.
  REQUIRE(bias_grad.item() == Approx(3.0 / size));
  if (rank == 0) REQUIRE(rank0_grad.item() == 3.0f);
  // c's weight: rows of (1 + r) summed over 3 rows, averaged over ranks.
  double expected = 0;
  for (int r = 0; r < size; ++r) expected += 3.0 * (1 + r);
  REQUIRE(model.always->parameters()[0].grad().at({0, 0}) == Approx(expected / size));
}

TEST_CASE("join: a rank with fewer batches shadows the others' syncs; every replica ends equal",
          "[ddp][join]") {
  const int rank = dist::get_rank();
  Generator gen(9);
  TinyModel model(gen);
  nn::DistributedDataParallel ddp(model);
  optim::SGD sgd(model.parameters(), {.lr = 0.1f});
  const int my_steps = rank == 0 ? 5 : 2;  // rank 0 has the most data
  for (int step = 0; step < my_steps; ++step) {
    const Batch batch = make_batch(2, 100 + static_cast<std::uint64_t>(step * 10 + rank));
    sgd.zero_grad();
    mse_loss(model.forward(batch.x), batch.y).backward();
    ddp.finish_gradient_sync();
    sgd.step();
  }
  ddp.join();
  for (const auto& [name, tensor] : model.named_parameters()) {
    INFO(name);
    REQUIRE(same_bits(tensor, from_rank0(tensor)));
  }
  ddp.finish_gradient_sync();  // usable again afterwards: an all-zero sync
}

TEST_CASE("checkpoints: written on rank 0 while the others wait, loaded on all; a failure is "
          "every rank's error", "[dist][checkpoint]") {
  const int rank = dist::get_rank();
  // One directory for the job, named after rank 0's pid (the ranks share this machine).
  Tensor root_pid = Tensor::full({1}, static_cast<float>(::getpid()));
  dist::broadcast(root_pid, 0);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
      ("tapegrad-ddp-test-" + std::to_string(static_cast<long>(root_pid.item())));
  if (rank == 0) std::filesystem::create_directories(dir);
  const std::string path = (dir / "model.safetensors").string();

  Generator gen(static_cast<std::uint64_t>(rank));
  TinyModel model(gen);
  dist::save_on_root([&] { nn::save(model, path); });
  REQUIRE(std::filesystem::is_regular_file(path));  // on every rank: the root finished first
  Generator other(77);
  TinyModel loaded(other);
  dist::load_on_all([&] { nn::load(loaded, path); });
  const auto saved = model.named_parameters();
  const auto restored = loaded.named_parameters();
  for (std::size_t k = 0; k < saved.size(); ++k) {
    INFO(saved[k].first);
    REQUIRE(same_bits(restored[k].second, from_rank0(saved[k].second)));
  }

  REQUIRE_THROWS_WITH(dist::save_on_root([&] { nn::save(model, (dir / "no/such/dir/m").string()); }),
                      Contains("dist::save_on_root: writing on rank 0 failed: ") &&
                          Contains("no/such/dir"));
  REQUIRE_THROWS_WITH(
      dist::load_on_all([&] { nn::load(loaded, rank == 1 ? (dir / "absent").string() : path); }),
      Contains("dist::load_on_all: reading failed on rank(s) 1; rank 1: ") && Contains("absent"));
  dist::barrier();
  if (rank == 0) std::filesystem::remove_all(dir);
}
