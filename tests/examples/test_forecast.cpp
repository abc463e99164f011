// examples/forecast: its pipeline (support/forecast.h) in process, and the program as a user runs
// it. Sizes are tiny: the whole file takes well under a second in Release.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/generator.h"
#include "data/csv.h"
#include "example_process.h"
#include "support/forecast.h"
#include "support/gnuplot.h"
#include "test_util.h"

using examples::ForecastConfig;
using examples::ForecastResult;
using examples::testing::ProgramRun;
using examples::testing::run_example;
using examples::testing::ScratchDir;

namespace {

const std::string forecast_program = TAPEGRAD_EXAMPLE_FORECAST;
const std::string sunspots_csv = TAPEGRAD_DATA_DIR "/series/sunspots.csv";
const std::string co2_csv = TAPEGRAD_DATA_DIR "/series/co2.csv";

// 10 sin(2 pi t / 12) + 0.02 t + N(0, 0.3^2): a season of 12 steps on a slow trend.
std::vector<double> seasonal_series(std::int64_t points, std::uint64_t seed = 7) {
  tapegrad::Generator noise(seed);
  std::vector<double> series;
  for (std::int64_t t = 0; t < points; ++t) {
    const double time = static_cast<double>(t);
    series.push_back(10.0 * std::sin(2.0 * std::numbers::pi * time / 12.0) + 0.02 * time +
                     0.3 * noise.normal());
  }
  return series;
}

ForecastConfig tiny_config() {
  return {.window = 8, .horizon = 2, .period = 12, .val_fraction = 0.2, .test_fraction = 0.2,
          .hidden = 4, .epochs = 6, .patience = 100, .batch_size = 0, .lr = 0.02f};
}

// `arguments` with each flag of `changes` set to its new value (replaced if present, else added).
std::vector<std::string> with(std::vector<std::string> arguments,
                              const std::vector<std::string>& changes) {
  for (std::size_t i = 0; i + 1 < changes.size(); i += 2) {
    const auto at = std::find(arguments.begin(), arguments.end(), changes[i]);
    if (at != arguments.end()) {
      *std::next(at) = changes[i + 1];
    } else {
      arguments.insert(arguments.end(), {changes[i], changes[i + 1]});
    }
  }
  return arguments;
}

}  // namespace

TEST_CASE("forecast: samples belong to the part of their target, windows end h steps before it",
          "[forecast]") {
  const std::vector<double> series = seasonal_series(100);
  for (bool diff : {false, true}) {
    ForecastConfig config = tiny_config();
    config.diff = diff;
    const examples::ForecastData data = examples::prepare_forecast_data(series, config);
    REQUIRE(data.split.train_end == 60);
    REQUIRE(data.split.val_end == 80);
    const std::int64_t first = config.window - 1 + (diff ? 1 : 0) + config.horizon;
    REQUIRE(data.train.target_index.front() == first);
    REQUIRE(data.train.target_index.back() == 59);
    REQUIRE(data.val.target_index.front() == 60);
    REQUIRE(data.val.target_index.back() == 79);
    REQUIRE(data.test.target_index.front() == 80);
    REQUIRE(data.test.target_index.back() == 99);
    REQUIRE(data.train.inputs.shape() == tapegrad::Shape{data.train.size(), config.window, 1});
    // The last test window, unscaled, is the input series just before t = 99 - h.
    const std::vector<float> scaled = data.test.inputs.to_vector();
    const std::vector<float> last(scaled.end() - config.window, scaled.end());
    const std::vector<float> window = data.input_scaler.inverse_transform(last);
    for (std::int64_t i = 0; i < config.window; ++i) {
      const auto k = static_cast<std::size_t>(99 - config.horizon - config.window + 1 + i);
      const double expected = diff ? series[k] - series[k - 1] : series[k];
      REQUIRE(window[static_cast<std::size_t>(i)] == Approx(expected).margin(1e-4));
    }
  }
}

TEST_CASE("forecast: no leakage, the scalers and early stopping never see the test part",
          "[forecast]") {
  // By construction: poison every test value (a huge level shift) and rerun. If the scalers or
  // the epoch selection read any test value, something before the test forecasts would change.
  const std::vector<double> clean = seasonal_series(100);
  for (bool diff : {false, true}) {
    INFO("diff " << diff);
    ForecastConfig config = tiny_config();
    config.diff = diff;
    config.patience = 2;  // early stopping takes part
    config.epochs = 30;
    const ForecastResult base = examples::train_forecast(clean, config);
    std::vector<double> poisoned = clean;
    for (std::int64_t i = base.data.split.val_end; i < base.data.split.size; ++i) {
      poisoned[static_cast<std::size_t>(i)] += 1e4 * static_cast<double>(i % 3 + 1);
    }
    const ForecastResult test_poisoned = examples::train_forecast(poisoned, config);
    CHECK(test_poisoned.data.input_scaler.data_min() == base.data.input_scaler.data_min());
    CHECK(test_poisoned.data.input_scaler.data_max() == base.data.input_scaler.data_max());
    CHECK(test_poisoned.data.target_scaler.data_min() == base.data.target_scaler.data_min());
    CHECK(test_poisoned.data.target_scaler.data_max() == base.data.target_scaler.data_max());
    CHECK(test_poisoned.train_losses == base.train_losses);  // bit for bit
    CHECK(test_poisoned.val_losses == base.val_losses);
    CHECK(test_poisoned.best_epoch == base.best_epoch);
    CHECK(test_poisoned.stopped_early == base.stopped_early);
    // ... while the poison did reach the test forecasts, so the comparison above could fail.
    CHECK(test_poisoned.truth != base.truth);
    CHECK(test_poisoned.model_errors.mae > 100 * base.model_errors.mae);

    // The same poison in the validation part changes the validation losses (early stopping reads
    // them) but still not the scalers: they are fitted on the training part alone.
    std::vector<double> val_poisoned = clean;
    for (std::int64_t i = base.data.split.train_end; i < base.data.split.val_end; ++i) {
      val_poisoned[static_cast<std::size_t>(i)] += 1e4;
    }
    const ForecastResult val_run = examples::train_forecast(val_poisoned, config);
    CHECK(val_run.data.input_scaler.data_min() == base.data.input_scaler.data_min());
    CHECK(val_run.data.input_scaler.data_max() == base.data.input_scaler.data_max());
    CHECK(val_run.data.target_scaler.data_max() == base.data.target_scaler.data_max());
    CHECK(val_run.train_losses.front() == base.train_losses.front());
    CHECK(val_run.val_losses.front() != base.val_losses.front());
  }
}

TEST_CASE("forecast: early stopping restores the weights of the best validation epoch",
          "[forecast]") {
  const std::vector<double> series = seasonal_series(100);
  ForecastConfig config = tiny_config();
  config.epochs = 40;
  config.patience = 3;
  config.lr = 0.2f;  // large steps: the validation loss goes up and down
  const ForecastResult result = examples::train_forecast(series, config);
  const auto best = static_cast<std::size_t>(result.best_epoch - 1);
  for (float loss : result.val_losses) CHECK(result.val_losses[best] <= loss);
  CHECK(static_cast<std::int64_t>(result.val_losses.size()) <=
        std::min(config.epochs, result.best_epoch + config.patience));
  // Forecasting the validation part with the restored model gives the best epoch's loss:
  // rerunning to exactly the best epoch and stopping there must forecast the test part the same.
  ForecastConfig until_best = config;
  until_best.epochs = result.best_epoch;
  const ForecastResult rerun = examples::train_forecast(series, until_best);
  CHECK(rerun.forecast == result.forecast);
}

TEST_CASE("forecast: an LSTM beats the naive forecast on a short seasonal run", "[forecast]") {
  const std::vector<double> series = seasonal_series(240);
  ForecastConfig config{.window = 12, .horizon = 3, .period = 12, .val_fraction = 0.15,
                        .test_fraction = 0.15, .hidden = 8, .epochs = 15, .patience = 5,
                        .batch_size = 32, .lr = 0.02f};
  const ForecastResult result = examples::train_forecast(series, config);
  INFO("lstm MAE " << result.model_errors.mae << ", naive " << result.naive_errors.mae
                   << ", seasonal naive " << result.seasonal_errors.mae << ", best epoch "
                   << result.best_epoch);
  CHECK(result.truth.size() == 36);
  CHECK(result.model_errors.mae < 0.5 * result.naive_errors.mae);
  CHECK(result.model_errors.rmse < 0.5 * result.naive_errors.rmse);
}

TEST_CASE("forecast: baselines and error measures on hand-computed values", "[forecast]") {
  const std::vector<double> series = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  CHECK(examples::naive_forecast(series, {10, 11}, 3) == std::vector<double>{7, 8});
  // period 4: horizon 1..4 look one season back, 5..8 two seasons.
  CHECK(examples::seasonal_naive_forecast(series, {10, 11}, 1, 4) == std::vector<double>{6, 7});
  CHECK(examples::seasonal_naive_forecast(series, {10, 11}, 4, 4) == std::vector<double>{6, 7});
  CHECK(examples::seasonal_naive_forecast(series, {10, 11}, 5, 4) == std::vector<double>{2, 3});
  CHECK_THROWS_AS(examples::seasonal_naive_forecast(series, {10}, 9, 4), std::invalid_argument);

  const examples::ForecastErrors errors = examples::forecast_errors({1, 2, 0}, {2, 2, 0});
  CHECK(errors.mae == Approx(1.0 / 3));
  CHECK(errors.rmse == Approx(std::sqrt(1.0 / 3)));
  CHECK(errors.smape == Approx(100.0 / 3 * (2.0 / 3)));  // 2|2-1|/(2+1); 0/0 counts 0
  CHECK_THROWS_AS(examples::forecast_errors({1}, {}), std::invalid_argument);
}

TEST_CASE("forecast: a split that leaves a part without samples is refused", "[forecast]") {
  ForecastConfig config = tiny_config();
  CHECK_NOTHROW(examples::split_series(100, config));
  config.window = 60;
  CHECK_THROWS_WITH(examples::split_series(100, config),
                    Catch::Contains("leave a part without a sample") && Catch::Contains("[0, 60)"));
  config = tiny_config();
  config.period = 90;
  CHECK_THROWS_WITH(examples::split_series(100, config), Catch::Contains("seasonal-naive"));
  config = tiny_config();
  config.val_fraction = 0.5;
  config.test_fraction = 0.5;
  CHECK_THROWS_WITH(examples::split_series(100, config), Catch::Contains("sum < 1"));
  std::vector<double> series = seasonal_series(100);
  series[42] = std::nan("");
  CHECK_THROWS_WITH(examples::prepare_forecast_data(series, tiny_config()),
                    Catch::Contains("non-finite value at index 42"));
}

TEST_CASE("forecast: the PyTorch pipeline's loss curves on sunspots, from the same weights",
          "[forecast][torch]") {
  // tests/fixtures/make_forecast_fixture.py runs the pipeline in PyTorch 1.13 (full batch).
  std::ifstream file(std::string(TAPEGRAD_FIXTURE_DIR) + "/forecast.json");
  REQUIRE(file);
  const nlohmann::json fixture = nlohmann::json::parse(file);
  const auto table = tapegrad::data::read_csv(sunspots_csv, {.columns = {"SUNACTIVITY"}});
  const std::vector<double>& series = table.column("SUNACTIVITY");
  for (const nlohmann::json& run : fixture.at("runs")) {
    const nlohmann::json& c = run.at("config");
    INFO(c.at("name").get<std::string>());
    const ForecastConfig config{
        .window = c.at("window"), .horizon = c.at("horizon"), .diff = c.at("diff"),
        .period = 11, .val_fraction = c.at("val_fraction"), .test_fraction = c.at("test_fraction"),
        .hidden = c.at("hidden"), .layers = c.at("layers"), .epochs = c.at("epochs"),
        .patience = 1000, .batch_size = 0, .lr = c.at("lr").get<float>(), .seed = c.at("seed")};
    const ForecastResult result = examples::train_forecast(series, config);
    CHECK(result.data.split.train_end == run.at("train_end"));
    CHECK(result.data.split.val_end == run.at("val_end"));
    CHECK(result.data.train.size() == run.at("train_samples"));
    CHECK(result.data.val.size() == run.at("val_samples"));
    CHECK(result.data.input_scaler.data_min().at(0) == run.at("input_scaler")[0].get<double>());
    CHECK(result.data.input_scaler.data_max().at(0) == run.at("input_scaler")[1].get<double>());
    CHECK(result.data.target_scaler.data_min().at(0) == run.at("target_scaler")[0].get<double>());
    CHECK(result.data.target_scaler.data_max().at(0) == run.at("target_scaler")[1].get<double>());
    const auto train = run.at("train_losses").get<std::vector<double>>();
    const auto val = run.at("val_losses").get<std::vector<double>>();
    REQUIRE(result.train_losses.size() == train.size());
    REQUIRE(result.val_losses.size() == val.size());
    for (std::size_t e = 0; e < train.size(); ++e) {
      INFO("epoch " << e + 1);
      CHECK(result.train_losses[e] == Approx(train[e]).epsilon(1e-4));
      CHECK(result.val_losses[e] == Approx(val[e]).epsilon(1e-4));
    }
  }
}

TEST_CASE("forecast program: a tiny run on sunspots writes the forecast and the baselines",
          "[forecast][program]") {
  ScratchDir out;
  const ProgramRun run = run_example(
      forecast_program, {"--csv", sunspots_csv, "--column", "SUNACTIVITY", "--time-column", "YEAR",
                         "--period", "11", "--horizon", "5", "--hidden", "4", "--epochs", "3",
                         "--out-dir", out.path().string()});
  INFO(run.describe());
  REQUIRE(run.exit_code == 0);
  CHECK(run.out.find("epoch    3/3  train MSE") != std::string::npos);
  CHECK(run.out.find("seasonal naive") != std::string::npos);
  CHECK(run.out.find("split: training [0, 217), validation [217, 263), test [263, 309)") !=
        std::string::npos);
  // Every point with its x (years here); forecasts and baselines on the 46 test rows only.
  const auto table = tapegrad::data::read_csv(
      (out.path() / "forecast.csv").string(),
      {.columns = {"x", "value", "forecast", "naive", "seasonal_naive"}, .time_column = "time",
       .missing = tapegrad::data::MissingPolicy::drop});
  CHECK(table.rows_in_file == 309);
  CHECK(table.rows() == 46);
  CHECK(table.time.front() == "1963");
  CHECK(table.column("x").front() == 1963.0);
  for (double value : table.column("forecast")) CHECK(std::isfinite(value));
  // naive at horizon 5: the value five rows up
  const auto all = tapegrad::data::read_csv(sunspots_csv, {.columns = {"SUNACTIVITY"}});
  CHECK(table.column("naive").front() == all.column("SUNACTIVITY")[263 - 5]);
  if (examples::have_gnuplot()) CHECK(std::filesystem::exists(out.path() / "forecast.png"));
}

TEST_CASE("forecast program: --cell takes any registered cell, --diff and --missing drop",
          "[forecast][program]") {
  for (const std::string cell : {"rnn", "gru", "peephole_lstm"}) {
    ScratchDir out;
    const ProgramRun run = run_example(
        forecast_program, {"--csv", co2_csv, "--column", "co2", "--missing", "drop", "--period",
                           "52", "--window", "4", "--diff", "--cell", cell, "--layers", "2",
                           "--dropout", "0.1", "--hidden", "3", "--epochs", "1",
                           "--batch-size", "0",
                           "--out-dir", out.path().string()});
    INFO(run.describe());
    CHECK(run.exit_code == 0);
    CHECK(run.out.find("2225 points (59 missing: 59 rows dropped)") != std::string::npos);
    CHECK(run.out.find(cell + " 2 x 3, window 4 differences") != std::string::npos);
    CHECK(run.out.find("  " + cell + " ") != std::string::npos);  // its row of the error table
  }
}

TEST_CASE("forecast program: bad flags exit 2 naming the flag, before any training",
          "[forecast][program]") {
  const std::vector<std::string> base = {"--csv", sunspots_csv, "--column", "SUNACTIVITY",
                                         "--period", "11"};
  struct BadFlag {
    std::vector<std::string> changes;  // flag, value, ... set in base
    std::string flag, value;           // both must appear in the message
  };
  const std::vector<BadFlag> cases = {
      {{"--horizon", "0"}, "--horizon", "\"0\""},
      {{"--window", "12x"}, "--window", "12x"},
      {{"--window", "300"}, "--window", "window of 300 values"},  // no training sample left
      {{"--dropout", "1"}, "--dropout", "\"1\""},
      {{"--val-fraction", "0.5", "--test-fraction", "0.5"}, "--val-fraction", "sum < 1"},
      {{"--cell", "LSTM"}, "--cell", "LSTM"},
      {{"--missing", "zero"}, "--missing", "zero"},
      {{"--column", "sunactivity"}, "--column", "no column \"sunactivity\""},
      {{"--csv", "/nonexistent.csv"}, "--csv", "/nonexistent.csv"},
      {{"--csv", co2_csv, "--column", "co2"}, "--missing", "59 missing values"},
  };
  for (const BadFlag& bad : cases) {
    const std::vector<std::string> arguments = with(base, bad.changes);
    std::string command = "forecast";
    for (const std::string& argument : arguments) command += " [" + argument + "]";
    const ProgramRun run = run_example(forecast_program, arguments);
    INFO(command << "\n" << run.describe());
    CHECK(run.exit_code == 2);
    CHECK(run.err.find(bad.flag) != std::string::npos);
    CHECK(run.err.find(bad.value) != std::string::npos);
    CHECK(run.out.empty());
  }
  for (const std::string required : {"--csv", "--column", "--period"}) {
    std::vector<std::string> arguments;
    for (std::size_t i = 0; i < base.size(); i += 2) {
      if (base[i] != required) arguments.insert(arguments.end(), {base[i], base[i + 1]});
    }
    const ProgramRun run = run_example(forecast_program, arguments);
    INFO(run.describe());
    CHECK(run.exit_code == 2);
    CHECK(run.err.find(required) != std::string::npos);
  }
  const ProgramRun help = run_example(forecast_program, {"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("Exit codes") != std::string::npos);
  CHECK(help.out.find("peephole_lstm") != std::string::npos);  // every registered cell
}
