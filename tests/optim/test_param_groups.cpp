// Parameter groups: per-group options against PyTorch 1.13 (tests/fixtures/optim_groups.json,
// written by make_optim_group_fixtures.py), add_param_group, schedulers over every group,
// checkpoints of the groups, and bad input.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

#include "nn/serialize.h"
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/checkpoint.h"
#include "optim/lr_scheduler.h"
#include "optim/rmsprop.h"
#include "optim/sgd.h"
#include "optim_fixture.h"

using namespace tapegrad;
using optim_testing::json;
using optim_testing::set_grad;

namespace {

const json& group_fixtures() {
  static const json loaded = [] {
    std::ifstream in(TAPEGRAD_FIXTURE_DIR "/optim_groups.json");
    if (!in) throw std::runtime_error("cannot open " TAPEGRAD_FIXTURE_DIR "/optim_groups.json");
    return json::parse(in);
  }();
  return loaded;
}

const json& group_case(const std::string& name) {
  for (const auto& key : {"optimizers", "schedulers"}) {
    for (const json& c : group_fixtures().at(key)) {
      if (c.at("name") == name) return c;
    }
  }
  throw std::runtime_error("no group fixture named " + name);
}

// An options struct from a fixture's full option set; every key must be a field.
template <typename Options>
Options options_of(const json& j, Options options = {}) {
  std::set<std::string> unused;
  for (const auto& item : j.items()) unused.insert(item.key());
  Options::for_each_field(options, [&](const char* field, auto& value) {
    if (!j.contains(field)) return;
    value = j.at(field).get<std::decay_t<decltype(value)>>();
    unused.erase(field);
  });
  if (!unused.empty()) throw std::runtime_error("fixture option not mapped: " + *unused.begin());
  return options;
}

template <typename T>
std::optional<T> given(const json& options, const char* key, std::set<std::string>& unused) {
  unused.erase(key);
  if (!options.contains(key)) return std::nullopt;
  return options.at(key).get<T>();
}

std::vector<Tensor> pick(const std::vector<Tensor>& params, const json& indices) {
  std::vector<Tensor> picked;
  for (const json& i : indices) picked.push_back(params.at(i.get<std::size_t>()));
  return picked;
}

std::set<std::string> keys_of(const json& j) {
  std::set<std::string> keys;
  for (const auto& item : j.items()) keys.insert(item.key());
  return keys;
}

optim::SGDParamGroup sgd_group(const json& g, const std::vector<Tensor>& params) {
  const json& o = g.at("options");
  auto unused = keys_of(o);
  optim::SGDParamGroup group{.params = pick(params, g.at("params")),
                             .lr = given<float>(o, "lr", unused),
                             .momentum = given<float>(o, "momentum", unused),
                             .dampening = given<float>(o, "dampening", unused),
                             .weight_decay = given<float>(o, "weight_decay", unused),
                             .nesterov = given<bool>(o, "nesterov", unused),
                             .maximize = given<bool>(o, "maximize", unused)};
  if (!unused.empty()) throw std::runtime_error("group option not mapped: " + *unused.begin());
  return group;
}

optim::AdamParamGroup adam_group(const json& g, const std::vector<Tensor>& params) {
  const json& o = g.at("options");
  auto unused = keys_of(o);
  optim::AdamParamGroup group{.params = pick(params, g.at("params")),
                              .lr = given<float>(o, "lr", unused),
                              .betas = given<std::array<float, 2>>(o, "betas", unused),
                              .eps = given<float>(o, "eps", unused),
                              .weight_decay = given<float>(o, "weight_decay", unused),
                              .amsgrad = given<bool>(o, "amsgrad", unused),
                              .maximize = given<bool>(o, "maximize", unused)};
  if (!unused.empty()) throw std::runtime_error("group option not mapped: " + *unused.begin());
  return group;
}

// Builds the case's optimizer over `params` and returns a function that adds the case's
// mid-run group (or nothing).
template <typename Opt, typename Options, typename MakeGroup>
std::pair<std::unique_ptr<optim::Optimizer>, std::function<void()>> make_grouped(
    const json& c, const std::vector<Tensor>& params, MakeGroup make_group) {
  std::vector<decltype(make_group(c.at("groups")[0], params))> groups;
  for (const json& g : c.at("groups")) groups.push_back(make_group(g, params));
  auto optimizer = std::make_unique<Opt>(std::move(groups), options_of<Options>(c.at("defaults")));
  Opt* raw = optimizer.get();
  std::function<void()> add = [] {};
  if (c.contains("add_param_group")) {
    add = [raw, &c, params, make_group] {
      raw->add_param_group(make_group(c.at("add_param_group"), params));
    };
  }
  return {std::move(optimizer), add};
}

void replay_group_case(const json& c) {
  std::vector<Tensor> params = optim_testing::initial_params(c);
  const std::string kind = c.at("optimizer");
  std::pair<std::unique_ptr<optim::Optimizer>, std::function<void()>> made;
  if (kind == "SGD") {
    made = make_grouped<optim::SGD, optim::SGDOptions>(c, params, sgd_group);
  } else if (kind == "Adam") {
    made = make_grouped<optim::Adam, optim::AdamOptions>(c, params, adam_group);
  } else if (kind == "AdamW") {
    made = make_grouped<optim::AdamW, optim::AdamWOptions>(c, params, adam_group);
  } else {
    throw std::runtime_error("unknown optimizer in fixture: " + kind);
  }
  auto& [optimizer, add_group] = made;
  const int add_before =
      c.contains("add_param_group") ? c.at("add_param_group").at("before_step").get<int>() : -1;
  for (std::size_t step = 0; step < c.at("grads").size(); ++step) {
    if (static_cast<int>(step) == add_before) {
      add_group();
      REQUIRE(optimizer->num_param_groups() == c.at("groups").size() + 1);
    }
    optim_testing::set_step_grads(c, step, params);
    optimizer->step();
    optim_testing::require_params_match(c, step, params);
  }
}

std::string scratch_file(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "tapegrad_test_param_groups";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

std::vector<std::vector<float>> values_of(const NamedTensors& named) {
  std::vector<std::vector<float>> values;
  for (const auto& [name, tensor] : named) values.push_back(tensor.to_vector());
  return values;
}

}  // namespace

TEST_CASE("two-group SGD, Adam and AdamW runs match PyTorch 1.13", "[optim][param_groups]") {
  for (const char* name : {"sgd_momentum_two_groups", "adam_two_groups", "adamw_no_decay_on_bias"}) {
    INFO(name);
    replay_group_case(group_case(name));
  }
}

TEST_CASE("add_param_group mid-run matches PyTorch 1.13", "[optim][param_groups]") {
  for (const char* name : {"adam_add_param_group_mid_run", "sgd_add_param_group_mid_run"}) {
    INFO(name);
    replay_group_case(group_case(name));
  }
}

TEST_CASE("schedulers set every group's lr as PyTorch 1.13 does", "[optim][param_groups]") {
  for (const char* name : {"step_lr_two_groups", "cosine_annealing_lr_two_groups"}) {
    INFO(name);
    const json& c = group_case(name);
    const auto group_lrs = c.at("group_lrs").get<std::vector<float>>();
    optim::SGD sgd({{.params = {Tensor::zeros({1}, true)}, .lr = group_lrs[0]},
                    {.params = {Tensor::zeros({1}, true)}, .lr = group_lrs[1]}},
                   {.lr = 1.0f});
    std::unique_ptr<optim::LRScheduler> scheduler;
    const json& o = c.at("options");
    if (c.at("scheduler") == "StepLR") {
      scheduler = std::make_unique<optim::StepLR>(sgd, o.at("step_size").get<int>(),
                                                  o.at("gamma").get<float>());
    } else {
      scheduler = std::make_unique<optim::CosineAnnealingLR>(sgd, o.at("T_max").get<int>(),
                                                             o.at("eta_min").get<float>());
    }
    REQUIRE(scheduler->base_lrs() == group_lrs);
    const json& lrs = c.at("lrs");
    for (std::size_t epoch = 0; epoch < lrs.size(); ++epoch) {
      if (epoch > 0) scheduler->step();
      for (std::size_t g = 0; g < 2; ++g) {
        INFO("epoch " << epoch << ", group " << g);
        REQUIRE(scheduler->get_last_lrs()[g] == Approx(lrs[epoch][g].get<double>()).epsilon(1e-6));
        REQUIRE(sgd.lr(g) == scheduler->get_last_lrs()[g]);
      }
    }
    // The single-value accessors are for one group.
    REQUIRE_THROWS_WITH(scheduler->get_last_lr(),
                        Catch::Contains("one param group") && Catch::Contains("2") &&
                            Catch::Contains("get_last_lrs()"));
    REQUIRE_THROWS_AS(scheduler->base_lr(), ValueError);
  }
}

TEST_CASE("ReduceLROnPlateau reduces every group, each down to min_lr", "[optim][param_groups]") {
  optim::SGD sgd({{.params = {Tensor::zeros({1}, true)}, .lr = 1.0f},
                  {.params = {Tensor::zeros({1}, true)}, .lr = 0.1f}},
                 {.lr = 1.0f});
  optim::ReduceLROnPlateau plateau(sgd, {.factor = 0.5f, .patience = 0, .min_lr = 0.08f});
  plateau.step(1.0);
  REQUIRE(plateau.get_last_lrs() == std::vector<float>{1.0f, 0.1f});
  plateau.step(1.0);  // no improvement: both reduced, the second only to min_lr
  REQUIRE(sgd.lr(0) == 0.5f);
  REQUIRE(sgd.lr(1) == 0.08f);
  REQUIRE(plateau.get_last_lrs() == std::vector<float>{0.5f, 0.08f});
  REQUIRE_THROWS_AS(plateau.get_last_lr(), ValueError);
}

TEST_CASE("a scheduler refuses to step after add_param_group, changing nothing",
          "[optim][param_groups]") {
  optim::SGD sgd({Tensor::zeros({1}, true)}, {.lr = 1.0f});
  optim::StepLR scheduler(sgd, 1, 0.5f);
  sgd.add_param_group({.params = {Tensor::zeros({1}, true)}});
  REQUIRE_THROWS_WITH(scheduler.step(), Catch::Contains("StepLR.step") &&
                                            Catch::Contains("1 param groups") &&
                                            Catch::Contains("has 2"));
  REQUIRE(scheduler.last_epoch() == 0);
  REQUIRE(sgd.lr(0) == 1.0f);
}

TEST_CASE("a group takes the optimizer's defaults for options it does not give",
          "[optim][param_groups]") {
  Tensor w = Tensor::ones({2}, true);
  Tensor b = Tensor::ones({1}, true);
  optim::AdamW adamw({{.params = {w}}, {.params = {b}, .weight_decay = 0.0f}},
                     {.lr = 0.05f, .betas = {0.8f, 0.9f}});
  REQUIRE(adamw.num_param_groups() == 2);
  const auto groups = adamw.param_groups();
  REQUIRE(groups[0].options.weight_decay == 1e-2f);  // AdamW's default
  REQUIRE(groups[1].options.weight_decay == 0.0f);
  REQUIRE(groups[1].options.lr == 0.05f);
  REQUIRE(groups[1].options.betas[0] == 0.8f);
  REQUIRE(groups[1].params().size() == 1);
  REQUIRE(adamw.defaults().lr == 0.05f);
  REQUIRE(adamw.params().size() == 2);
  REQUIRE(adamw.param_begin(1) == 1);
  REQUIRE(adamw.param_end(1) == 2);

  // lr()/set_lr() have no single meaning with two groups.
  REQUIRE_THROWS_WITH(adamw.lr(), Catch::Contains("AdamW") && Catch::Contains("2 param groups") &&
                                      Catch::Contains("param_groups()"));
  REQUIRE_THROWS_AS(adamw.set_lr(0.1f), ValueError);
  REQUIRE_THROWS_WITH(adamw.options(), Catch::Contains("2 param groups"));
  REQUIRE(adamw.lr(1) == 0.05f);
  REQUIRE_THROWS_WITH(adamw.lr(2), Catch::Contains("no param group 2"));

  // A group's lr changed through param_groups() is what the next step uses: a zero lr freezes
  // the group (AdamW's decay is lr * weight_decay, so it is frozen too).
  adamw.param_groups()[0].options.lr = 0.0f;
  set_grad(w, Tensor::ones({2}));
  set_grad(b, Tensor::ones({1}));
  adamw.step();
  REQUIRE(w.to_vector() == std::vector<float>{1.0f, 1.0f});
  REQUIRE(b.item() == Approx(1.0f - 0.05f));
}

TEST_CASE("groups update independently: RMSprop and Adagrad in groups equal separate runs",
          "[optim][param_groups]") {
  auto grads_at = [](int step, const Shape& shape) {
    return Tensor::full(shape, 0.3f * static_cast<float>(step % 3) - 0.4f);
  };
  auto run = [&](auto make_grouped, auto make_first, auto make_second) {
    Tensor a1 = Tensor::from_vector({1, -2, 3, 0.5f}, {2, 2}, true);
    Tensor b1 = Tensor::from_vector({0.25f, -1}, {2}, true);
    Tensor a2 = Tensor::from_vector(a1.to_vector(), {2, 2}, true);
    Tensor b2 = Tensor::from_vector(b1.to_vector(), {2}, true);
    auto grouped = make_grouped(a1, b1);
    auto first = make_first(a2);
    auto second = make_second(b2);
    for (int step = 0; step < 5; ++step) {
      for (Tensor* t : {&a1, &a2}) set_grad(*t, grads_at(step, {2, 2}));
      for (Tensor* t : {&b1, &b2}) set_grad(*t, grads_at(step + 1, {2}));
      grouped->step();
      first->step();
      second->step();
    }
    REQUIRE(a1.to_vector() == a2.to_vector());
    REQUIRE(b1.to_vector() == b2.to_vector());
    REQUIRE(values_of(grouped->state_tensors()).size() ==
            values_of(first->state_tensors()).size() + values_of(second->state_tensors()).size());
  };
  using optim::RMSprop;
  run([](Tensor a, Tensor b) {
        return std::make_unique<RMSprop>(
            std::vector<optim::RMSpropParamGroup>{
                {.params = {a}, .momentum = 0.5f},
                {.params = {b}, .lr = 0.03f, .alpha = 0.8f, .centered = true}},
            optim::RMSpropOptions{.lr = 0.01f});
      },
      [](Tensor a) { return std::make_unique<RMSprop>(std::vector<Tensor>{a},
                                                      optim::RMSpropOptions{.lr = 0.01f,
                                                                            .momentum = 0.5f}); },
      [](Tensor b) {
        return std::make_unique<RMSprop>(
            std::vector<Tensor>{b},
            optim::RMSpropOptions{.lr = 0.03f, .alpha = 0.8f, .centered = true});
      });
  using optim::Adagrad;
  run([](Tensor a, Tensor b) {
        auto adagrad = std::make_unique<Adagrad>(std::vector<Tensor>{a},
                                                 optim::AdagradOptions{.lr = 0.1f});
        adagrad->add_param_group({.params = {b}, .lr_decay = 0.1f,
                                  .initial_accumulator_value = 0.5f});
        return adagrad;
      },
      [](Tensor a) { return std::make_unique<Adagrad>(std::vector<Tensor>{a},
                                                      optim::AdagradOptions{.lr = 0.1f}); },
      [](Tensor b) {
        return std::make_unique<Adagrad>(
            std::vector<Tensor>{b},
            optim::AdagradOptions{.lr = 0.1f, .lr_decay = 0.1f, .initial_accumulator_value = 0.5f});
      });
}

TEST_CASE("a checkpoint with groups resumes bit-identically", "[optim][param_groups][checkpoint]") {
  auto make_params = [] {
    return std::vector<Tensor>{Tensor::from_vector({0.5f, -1, 2, 0.25f, -0.75f, 1.5f}, {3, 2}, true),
                               Tensor::from_vector({0.1f, -0.2f, 0.3f}, {3}, true)};
  };
  auto train = [](std::vector<Tensor>& params, optim::Optimizer& opt, optim::LRScheduler& sched,
                  int from, int steps) {
    for (int step = from; step < from + steps; ++step) {
      for (std::size_t i = 0; i < params.size(); ++i) {
        std::vector<float> g(static_cast<std::size_t>(params[i].numel()));
        for (std::size_t k = 0; k < g.size(); ++k) {
          g[k] = 0.1f * static_cast<float>((step * 7 + static_cast<int>(k * 3 + i)) % 11) - 0.5f;
        }
        set_grad(params[i], Tensor::from_vector(g, params[i].shape()));
      }
      opt.step();
      sched.step();
    }
  };
  std::vector<Tensor> params = make_params();
  optim::AdamW adamw({{.params = {params[0]}},
                      {.params = {params[1]}, .lr = 0.003f, .weight_decay = 0.0f, .amsgrad = true}},
                     {.lr = 0.02f, .weight_decay = 0.1f});
  optim::StepLR scheduler(adamw, 2, 0.5f);
  train(params, adamw, scheduler, 0, 3);
  const std::string path = scratch_file("adamw_groups.safetensors");
  optim::save(adamw, scheduler, path);

  // Resumed into an optimizer built with other options: the file's options win, as in PyTorch.
  std::vector<Tensor> resumed_params = make_params();
  for (std::size_t i = 0; i < params.size(); ++i) {
    std::copy_n(params[i].data(), params[i].numel(), resumed_params[i].data());
  }
  optim::AdamW resumed({{.params = {resumed_params[0]}, .lr = 0.7f},
                        {.params = {resumed_params[1]}, .amsgrad = true}},
                       {.lr = 0.5f});
  optim::StepLR resumed_scheduler(resumed, 2, 0.5f);
  optim::load(resumed, resumed_scheduler, path);
  REQUIRE(resumed.lr(0) == adamw.lr(0));
  REQUIRE(resumed.lr(1) == adamw.lr(1));
  REQUIRE(resumed.param_groups()[0].options.weight_decay == 0.1f);
  REQUIRE(resumed.param_groups()[1].options.weight_decay == 0.0f);
  REQUIRE(resumed_scheduler.base_lrs() == scheduler.base_lrs());
  REQUIRE(resumed_scheduler.get_last_lrs() == scheduler.get_last_lrs());
  REQUIRE(resumed_scheduler.last_epoch() == 3);

  train(params, adamw, scheduler, 3, 4);
  train(resumed_params, resumed, resumed_scheduler, 3, 4);
  for (std::size_t i = 0; i < params.size(); ++i) {
    REQUIRE(resumed_params[i].to_vector() == params[i].to_vector());
  }
  REQUIRE(values_of(resumed.state_tensors()) == values_of(adamw.state_tensors()));
  REQUIRE(resumed.lr(1) == adamw.lr(1));
}

TEST_CASE("a checkpoint whose groups do not match is refused, changing nothing",
          "[optim][param_groups][checkpoint]") {
  Tensor a = Tensor::ones({2}, true);
  Tensor b = Tensor::ones({3}, true);
  Tensor c = Tensor::ones({3}, true);
  optim::SGD saved({{.params = {a}}, {.params = {b, c}, .lr = 0.01f}}, {.lr = 0.1f, .momentum = 0.9f});
  for (Tensor* t : {&a, &b, &c}) set_grad(*t, Tensor::ones(t->shape()));
  saved.step();
  const std::string path = scratch_file("sgd_groups.safetensors");
  optim::save(saved, path);

  auto require_unchanged = [](const optim::SGD& sgd, const std::vector<float>& lrs) {
    REQUIRE(sgd.state_tensors().empty());
    for (std::size_t g = 0; g < lrs.size(); ++g) REQUIRE(sgd.lr(g) == lrs[g]);
  };
  SECTION("another number of groups") {
    optim::SGD one({Tensor::ones({2}, true), Tensor::ones({3}, true), Tensor::ones({3}, true)},
                   {.lr = 0.5f, .momentum = 0.9f});
    REQUIRE_THROWS_WITH(optim::load(one, path),
                        Catch::Contains("2 param groups") && Catch::Contains("has 1"));
    require_unchanged(one, {0.5f});
  }
  SECTION("groups of other sizes") {
    optim::SGD regrouped({{.params = {Tensor::ones({2}, true), Tensor::ones({3}, true)}},
                          {.params = {Tensor::ones({3}, true)}}},
                         {.lr = 0.5f, .momentum = 0.9f});
    REQUIRE_THROWS_WITH(optim::load(regrouped, path),
                        Catch::Contains("param group 0 has 1 parameters") &&
                            Catch::Contains("optimizer's has 2"));
    require_unchanged(regrouped, {0.5f, 0.5f});
  }
  SECTION("a state that does not fit, after the options were read") {
    // Same group sizes but another shape: the options would load, the state is refused, and the
    // options go back to what they were.
    optim::SGD reshaped({{.params = {Tensor::ones({2}, true)}},
                         {.params = {Tensor::ones({4}, true), Tensor::ones({3}, true)}}},
                        {.lr = 0.5f, .momentum = 0.9f});
    REQUIRE_THROWS_AS(optim::load(reshaped, path), ShapeError);
    require_unchanged(reshaped, {0.5f, 0.5f});
  }
  SECTION("the matching optimizer loads it") {
    optim::SGD same({{.params = {Tensor::ones({2}, true)}},
                     {.params = {Tensor::ones({3}, true), Tensor::ones({3}, true)}}},
                    {.lr = 0.5f, .momentum = 0.9f});
    optim::load(same, path);
    REQUIRE(same.lr(1) == 0.01f);
    REQUIRE(values_of(same.state_tensors()) == values_of(saved.state_tensors()));
  }
}

TEST_CASE("a checkpoint with an option the optimizer does not have is refused",
          "[optim][param_groups][checkpoint]") {
  Tensor p = Tensor::ones({2}, true);
  optim::Adam adam({p}, {.lr = 0.01f});
  const std::map<std::string, std::string> metadata{
      {"optimizer", "Adam"}, {"param_groups", "1"}, {"param_group.0.params", "1"},
      {"param_group.0.lr", "0.5"}, {"param_group.0.momentum", "0.9"}};
  const std::string path = scratch_file("adam_with_momentum.safetensors");
  save_safetensors(path, {}, metadata);
  REQUIRE_THROWS_WITH(optim::load(adam, path),
                      Catch::Contains("param group 0") && Catch::Contains("unknown option") &&
                          Catch::Contains("'momentum'") && Catch::Contains("betas"));
  REQUIRE(adam.lr() == 0.01f);

  // The same through the options API, with a malformed value and an invalid one.
  REQUIRE_THROWS_WITH(adam.load_group_options_text({{{"betas", "0.9"}}}),
                      Catch::Contains("param group 0") && Catch::Contains("'betas'"));
  REQUIRE_THROWS_WITH(adam.load_group_options_text({{{"lr", "0.1"}, {"weight_decay", "-1"}}}),
                      Catch::Contains("invalid weight_decay: -1") &&
                          Catch::Contains("param group 0"));
  REQUIRE_THROWS_WITH(adam.load_group_options_text({{}, {}}),
                      Catch::Contains("2 param groups") && Catch::Contains("has 1"));
  REQUIRE(adam.lr() == 0.01f);
  REQUIRE(adam.options().weight_decay == 0.0f);
}

TEST_CASE("bad groups are refused naming the group and the field, changing nothing",
          "[optim][param_groups]") {
  Tensor a = Tensor::ones({2}, true);
  Tensor b = Tensor::ones({3}, true);
  using optim::AdamW;
  using optim::SGD;
  SECTION("a parameter in two groups") {
    REQUIRE_THROWS_WITH(SGD({{.params = {a}}, {.params = {b, a}}}, {.lr = 0.1f}),
                        Catch::Contains("SGD: parameter 2 (param group 1)") &&
                            Catch::Contains("parameter 0 (param group 0") &&
                            Catch::Contains("only one group"));
    AdamW adamw(std::vector<optim::AdamParamGroup>{{.params = {a}}}, {});
    REQUIRE_THROWS_WITH(adamw.add_param_group({.params = {b, a.detach()}}),
                        Catch::Contains("AdamW: parameter 2 (param group 1)"));
    REQUIRE(adamw.num_param_groups() == 1);
    REQUIRE(adamw.params().size() == 1);
  }
  SECTION("an empty group") {
    REQUIRE_THROWS_WITH(AdamW({{.params = {a}}, {.params = {}}}, {}),
                        Catch::Contains("AdamW") && Catch::Contains("empty parameter list") &&
                            Catch::Contains("param group 1"));
    REQUIRE_THROWS_WITH(AdamW(std::vector<optim::AdamParamGroup>{}, {}),
                        Catch::Contains("empty list of param groups"));
    SGD sgd({a}, {.lr = 0.1f});
    REQUIRE_THROWS_WITH(sgd.add_param_group({}), Catch::Contains("param group 1"));
    REQUIRE(sgd.num_param_groups() == 1);
  }
  SECTION("a negative lr or weight decay") {
    REQUIRE_THROWS_WITH(AdamW({{.params = {a}}, {.params = {b}, .lr = -0.1f}}, {}),
                        Catch::Contains("AdamW: invalid lr: -0.1") &&
                            Catch::Contains("in param group 1"));
    REQUIRE_THROWS_WITH(SGD({{.params = {a}, .weight_decay = -1.0f}}, {.lr = 0.1f}),
                        Catch::Contains("SGD: invalid weight_decay: -1") &&
                            Catch::Contains("in param group 0"));
    SGD sgd({a}, {.lr = 0.1f});
    REQUIRE_THROWS_WITH(sgd.add_param_group({.params = {b}, .momentum = -0.5f}),
                        Catch::Contains("invalid momentum: -0.5") &&
                            Catch::Contains("in param group 1"));
    REQUIRE(sgd.num_param_groups() == 1);
    REQUIRE(sgd.params().size() == 1);
    // A group without an lr where the defaults have none (PyTorch's SGD has no default lr).
    REQUIRE_THROWS_WITH(SGD({{.params = {a}, .lr = 0.1f}, {.params = {b}}}, {}),
                        Catch::Contains("lr is required") && Catch::Contains("param group 1"));
    REQUIRE_NOTHROW(SGD({{.params = {a}, .lr = 0.1f}, {.params = {b}, .lr = 0.2f}}, {}));
  }
  SECTION("an invalid option written through param_groups() stops the next step") {
    AdamW adamw({{.params = {a}}, {.params = {b}, .weight_decay = 0.0f}}, {.lr = 0.1f});
    adamw.param_groups()[1].options.betas[1] = 1.5f;
    set_grad(a, Tensor::ones({2}));
    set_grad(b, Tensor::ones({3}));
    REQUIRE_THROWS_WITH(adamw.step(), Catch::Contains("AdamW: invalid betas[1]: 1.5") &&
                                          Catch::Contains("in param group 1"));
    REQUIRE(a.to_vector() == std::vector<float>{1.0f, 1.0f});
    REQUIRE(adamw.state_tensors().empty());
    REQUIRE_THROWS_WITH(adamw.set_lr(1, -2.0f), Catch::Contains("invalid lr: -2") &&
                                                   Catch::Contains("in param group 1"));
    REQUIRE(adamw.lr(1) == 0.1f);
  }
}

TEST_CASE("state of groups with different slots round-trips through load_state_tensors",
          "[optim][param_groups]") {
  Tensor a = Tensor::ones({2}, true);
  Tensor b = Tensor::ones({3}, true);
  optim::Adam adam({{.params = {a}}, {.params = {b}, .amsgrad = true}}, {.lr = 0.1f});
  set_grad(a, Tensor::ones({2}));
  set_grad(b, Tensor::ones({3}));
  adam.step();
  const NamedTensors state = adam.state_tensors();
  REQUIRE(state.size() == 7);  // amsgrad's max_exp_avg_sq only for parameter 1
  REQUIRE(state.back().first == "1.max_exp_avg_sq");
  adam.load_state_tensors(state);
  REQUIRE(values_of(adam.state_tensors()) == values_of(state));
  // Parameter 1's group needs max_exp_avg_sq: without it the state is incomplete.
  NamedTensors incomplete(state.begin(), state.end() - 1);
  REQUIRE_THROWS_WITH(adam.load_state_tensors(incomplete),
                      Catch::Contains("parameter 1 (param group 1) is incomplete") &&
                          Catch::Contains("max_exp_avg_sq"));
}

TEST_CASE("a checkpoint from before param groups still loads into one group",
          "[optim][param_groups][checkpoint]") {
  // The metadata optim::save wrote before groups existed: one lr, one base_lr and last_lr.
  const std::map<std::string, std::string> metadata{
      {"optimizer", "SGD"}, {"lr", "0.25"}, {"scheduler", "StepLR"},
      {"scheduler.last_epoch", "2"}, {"scheduler.base_lr", "0.5"}, {"scheduler.last_lr", "0.25"}};
  const std::string path = scratch_file("before_groups.safetensors");
  save_safetensors(path, {{"0.momentum_buffer", Tensor::full({2}, 0.125f)}}, metadata);
  optim::SGD sgd({Tensor::ones({2}, true)}, {.lr = 0.1f, .momentum = 0.9f});
  optim::StepLR scheduler(sgd, 2, 0.5f);
  optim::load(sgd, scheduler, path);
  REQUIRE(sgd.lr() == 0.25f);
  REQUIRE(sgd.options().momentum == 0.9f);  // not in the old file: kept
  REQUIRE(scheduler.base_lr() == 0.5f);
  REQUIRE(scheduler.get_last_lr() == 0.25f);
  REQUIRE(scheduler.last_epoch() == 2);
  REQUIRE(sgd.state_tensors().at(0).second.to_vector() == std::vector<float>{0.125f, 0.125f});

  optim::SGD two({{.params = {Tensor::ones({2}, true)}}, {.params = {Tensor::ones({1}, true)}}},
                 {.lr = 0.1f});
  REQUIRE_THROWS_WITH(optim::load(two, path),
                      Catch::Contains("one param group") && Catch::Contains("has 2"));
}
