#pragma once
// Forecasting one column of a CSV file with a recurrent model: what examples/forecast.cpp runs
// and tests/examples/test_forecast.cpp checks.
//
// The series y_0 .. y_{N-1} is split in time order: training points [0, train_end), validation
// [train_end, val_end), test [val_end, N). A sample forecasts y_j from the `window` values that end
// at t = j - horizon (direct strategy: one model per horizon outputs y_j itself, nothing is fed
// back), and belongs to the part that holds its target j; its window may reach back into earlier
// parts, which are known past by then. With diff the model reads first differences
// y_k - y_{k-1} and predicts the change y_j - y_t, so a trending series (CO2) need not leave the
// range the model was trained on; the forecast is y_t plus that change.
//
// Nothing is fitted on validation or test data: the scalers (min-max to [-1, 1]) see training
// points only (the target scaler, with diff, the training samples' changes), and the weights kept
// are those of the epoch with the lowest validation loss (early stopping with patience); the test
// part is used once, at the end. Errors (MAE, RMSE, sMAPE) are in the series' units on the test
// targets, next to two baselines on the same targets: naive (y_t, the last value known) and
// seasonal naive (the last value known one period m before: y_{j - m k}, k = floor((h-1)/m) + 1).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/tensor.h"
#include "data/sequences.h"

namespace examples {

struct ForecastConfig {
  std::int64_t window = 24;      // values the model reads per forecast
  std::int64_t horizon = 1;      // steps ahead (direct)
  bool diff = false;             // model first differences (trending series)
  std::int64_t period = 1;       // season length of the seasonal-naive baseline
  double val_fraction = 0.15;    // of the points, after the training part
  double test_fraction = 0.15;   // of the points, at the end
  std::string cell = "lstm";     // "rnn" or any registered cell (nn::registered_cells())
  std::int64_t hidden = 32;
  std::int64_t layers = 1;
  float dropout = 0.0f;          // between stacked layers, training only
  std::int64_t epochs = 200;     // at most
  std::int64_t patience = 20;    // epochs without a better validation loss before stopping
  std::int64_t batch_size = 32;  // shuffled mini-batches; 0: the whole training part, in order
  float lr = 0.005f;             // Adam
  std::uint64_t seed = 0;        // weights as PyTorch's after torch.manual_seed(seed); shuffling
};

// Point index ranges of the three parts.
struct SeriesSplit {
  std::int64_t train_end = 0, val_end = 0, size = 0;
};

// The samples of one part, scaled: inputs [n, window, 1], targets [n, 1], and the series index
// j of each target.
struct ForecastSamples {
  tapegrad::Tensor inputs, targets;
  std::vector<std::int64_t> target_index;
  std::int64_t size() const { return static_cast<std::int64_t>(target_index.size()); }
};

struct ForecastData {
  SeriesSplit split;
  tapegrad::data::MinMaxScaler input_scaler{-1.0f, 1.0f};
  tapegrad::data::MinMaxScaler target_scaler{-1.0f, 1.0f};  // the input scaler's copy unless diff
  ForecastSamples train, val, test;
};

// The split of `points` points. Throws std::invalid_argument naming the numbers when a part
// would have no sample or the seasonal baseline would reach before the series (so the program
// can refuse its flags before training).
SeriesSplit split_series(std::int64_t points, const ForecastConfig& config);

// Scalers fitted on the training part, and every part's samples. Throws std::invalid_argument
// for a bad config or series (a non-finite value names its index).
ForecastData prepare_forecast_data(const std::vector<double>& series, const ForecastConfig& config);

struct ForecastErrors {
  double mae = 0.0, rmse = 0.0;
  double smape = 0.0;  // percent: 100/n sum 2|f - y| / (|f| + |y|), a term 0 where both are 0
};
ForecastErrors forecast_errors(const std::vector<double>& truth, const std::vector<double>& forecast);

// Baselines for targets j at horizon h: naive y_{j-h}; seasonal naive y_{j - m k}.
std::vector<double> naive_forecast(const std::vector<double>& series,
                                   const std::vector<std::int64_t>& targets, std::int64_t horizon);
std::vector<double> seasonal_naive_forecast(const std::vector<double>& series,
                                            const std::vector<std::int64_t>& targets,
                                            std::int64_t horizon, std::int64_t period);

struct EpochReport {
  std::int64_t epoch = 0;
  float train_loss = 0.0f;  // mean scaled MSE over the epoch's batches, each before its step
  float val_loss = 0.0f;    // scaled MSE on the validation samples after the epoch, eval mode
  bool best = false;        // the lowest validation loss so far (these weights are kept)
  double seconds = 0.0;     // since training started
};

struct ForecastResult {
  ForecastData data;
  std::vector<float> train_losses, val_losses;  // per epoch run
  std::int64_t best_epoch = 0;                  // whose weights were restored
  bool stopped_early = false;
  std::int64_t num_parameters = 0;
  std::vector<double> truth, forecast, naive, seasonal_naive;  // per test target
  ForecastErrors model_errors, naive_errors, seasonal_errors;
};

// Trains with early stopping, restores the best weights and forecasts the test part. Throws
// std::invalid_argument for a bad config and NonFiniteLossError (support/loss_guard.h) at the
// first NaN or infinite loss.
ForecastResult train_forecast(const std::vector<double>& series, const ForecastConfig& config,
                              const std::function<void(const EpochReport&)>& on_epoch = {});

}  // namespace examples
