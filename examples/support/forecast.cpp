#include "forecast.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "autograd/generator.h"
#include "autograd/grad_mode.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "loss_guard.h"
#include "ops/losses.h"
#include "optim/adam.h"
#include "sine_forecast.h"

namespace examples {

using namespace tapegrad;

namespace {

void check_config(const ForecastConfig& c) {
  auto at_least = [](const char* name, std::int64_t value, std::int64_t min) {
    if (value < min) {
      throw std::invalid_argument(std::string(name) + " must be >= " + std::to_string(min) +
                                  ", got " + std::to_string(value));
    }
  };
  at_least("window", c.window, 1);
  at_least("horizon", c.horizon, 1);
  at_least("period", c.period, 1);
  at_least("hidden", c.hidden, 1);
  at_least("layers", c.layers, 1);
  at_least("epochs", c.epochs, 1);
  at_least("patience", c.patience, 1);
  at_least("batch_size", c.batch_size, 0);
  if (!(c.val_fraction > 0.0 && c.test_fraction > 0.0 && c.val_fraction + c.test_fraction < 1.0)) {
    throw std::invalid_argument("val_fraction and test_fraction must be > 0 with a sum < 1, got " +
                                std::to_string(c.val_fraction) + " and " +
                                std::to_string(c.test_fraction));
  }
  if (!(c.dropout >= 0.0f && c.dropout < 1.0f)) {
    throw std::invalid_argument("dropout must be in [0, 1), got " + std::to_string(c.dropout));
  }
  if (!(std::isfinite(c.lr) && c.lr > 0.0f)) {
    throw std::invalid_argument("lr must be finite and > 0, got " + std::to_string(c.lr));
  }
}

// The first series index t a window can end at: the window needs window values of the model's
// input, and with diff a difference needs the point before it.
std::int64_t first_window_end(const ForecastConfig& c) { return c.window - 1 + (c.diff ? 1 : 0); }

double at(const std::vector<double>& series, std::int64_t i) {
  return series[static_cast<std::size_t>(i)];
}

// The model's input at index k: the value, or with diff the change from k - 1.
double input_value(const std::vector<double>& series, std::int64_t k, bool diff) {
  return diff ? at(series, k) - at(series, k - 1) : at(series, k);
}

// What the model predicts for target j: y_j, or with diff y_j - y_{j-h}.
double target_value(const std::vector<double>& series, std::int64_t j, const ForecastConfig& c) {
  return c.diff ? at(series, j) - at(series, j - c.horizon) : at(series, j);
}

std::vector<float> fit_values(const std::vector<double>& values) {
  return std::vector<float>(values.begin(), values.end());
}

// Samples whose targets lie in [begin, end).
ForecastSamples make_samples(const std::vector<double>& series, const ForecastConfig& c,
                             const data::MinMaxScaler& input_scaler,
                             const data::MinMaxScaler& target_scaler, std::int64_t begin,
                             std::int64_t end) {
  ForecastSamples samples;
  begin = std::max(begin, first_window_end(c) + c.horizon);
  std::vector<float> inputs, targets;
  for (std::int64_t j = begin; j < end; ++j) {
    const std::int64_t t = j - c.horizon;
    for (std::int64_t k = t - c.window + 1; k <= t; ++k) {
      inputs.push_back(static_cast<float>(input_value(series, k, c.diff)));
    }
    targets.push_back(static_cast<float>(target_value(series, j, c)));
    samples.target_index.push_back(j);
  }
  const auto n = samples.size();
  samples.inputs = Tensor::from_vector(input_scaler.transform(inputs), {n, c.window, 1});
  samples.targets = Tensor::from_vector(target_scaler.transform(targets), {n, 1});
  return samples;
}

float mse_of(const Forecaster& model, const ForecastSamples& samples) {
  return mse_loss(model.forward(samples.inputs), samples.targets).item();
}

}  // namespace

SeriesSplit split_series(std::int64_t points, const ForecastConfig& config) {
  check_config(config);
  const auto part = [points](double fraction) {
    return static_cast<std::int64_t>(std::llround(static_cast<double>(points) * fraction));
  };
  SeriesSplit split{.train_end = points - part(config.val_fraction) - part(config.test_fraction),
                    .val_end = points - part(config.test_fraction),
                    .size = points};
  const std::int64_t first_target = first_window_end(config) + config.horizon;
  if (split.val_end >= points || split.train_end >= split.val_end ||
      split.train_end <= first_target) {
    throw std::invalid_argument(
        std::to_string(points) + " points split into training [0, " +
        std::to_string(split.train_end) + "), validation [" + std::to_string(split.train_end) +
        ", " + std::to_string(split.val_end) + ") and test [" + std::to_string(split.val_end) +
        ", " + std::to_string(points) + ") leave a part without a sample: the first target a " +
        "window of " + std::to_string(config.window) + (config.diff ? " differences" : " values") +
        " at horizon " + std::to_string(config.horizon) + " can have is point " +
        std::to_string(first_target) + ", which must be in the training part");
  }
  const std::int64_t seasonal_lag = config.period * ((config.horizon - 1) / config.period + 1);
  if (seasonal_lag > split.val_end) {
    throw std::invalid_argument("the seasonal-naive baseline for period " +
                                std::to_string(config.period) + " at horizon " +
                                std::to_string(config.horizon) + " looks " +
                                std::to_string(seasonal_lag) + " points back, more than the " +
                                std::to_string(split.val_end) + " before the test part");
  }
  return split;
}

ForecastData prepare_forecast_data(const std::vector<double>& series, const ForecastConfig& config) {
  ForecastData data;
  data.split = split_series(static_cast<std::int64_t>(series.size()), config);
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (!std::isfinite(series[i])) {
      throw std::invalid_argument("the series has a non-finite value at index " +
                                  std::to_string(i) + " (handle missing values when reading it)");
    }
  }
  const std::int64_t train_end = data.split.train_end;
  // Inputs: the training points' values (or their differences); nothing from later points.
  std::vector<double> train_inputs;
  for (std::int64_t k = config.diff ? 1 : 0; k < train_end; ++k) {
    train_inputs.push_back(input_value(series, k, config.diff));
  }
  data.input_scaler.fit(fit_values(train_inputs));
  if (config.diff) {
    // Targets: the changes the training samples predict (their target j < train_end).
    std::vector<double> train_targets;
    for (std::int64_t j = first_window_end(config) + config.horizon; j < train_end; ++j) {
      train_targets.push_back(target_value(series, j, config));
    }
    data.target_scaler.fit(fit_values(train_targets));
  } else {
    data.target_scaler = data.input_scaler;
  }
  data.train = make_samples(series, config, data.input_scaler, data.target_scaler, 0, train_end);
  data.val = make_samples(series, config, data.input_scaler, data.target_scaler, train_end,
                          data.split.val_end);
  data.test = make_samples(series, config, data.input_scaler, data.target_scaler,
                           data.split.val_end, data.split.size);
  return data;
}

ForecastErrors forecast_errors(const std::vector<double>& truth, const std::vector<double>& forecast) {
  if (truth.size() != forecast.size() || truth.empty()) {
    throw std::invalid_argument("forecast_errors: need equal non-empty lengths, got " +
                                std::to_string(truth.size()) + " and " +
                                std::to_string(forecast.size()));
  }
  double abs_sum = 0.0, sq_sum = 0.0, smape_sum = 0.0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const double error = forecast[i] - truth[i];
    abs_sum += std::abs(error);
    sq_sum += error * error;
    const double scale = std::abs(forecast[i]) + std::abs(truth[i]);
    if (scale > 0.0) smape_sum += 2.0 * std::abs(error) / scale;
  }
  const auto n = static_cast<double>(truth.size());
  return {.mae = abs_sum / n, .rmse = std::sqrt(sq_sum / n), .smape = 100.0 * smape_sum / n};
}

std::vector<double> naive_forecast(const std::vector<double>& series,
                                   const std::vector<std::int64_t>& targets, std::int64_t horizon) {
  return seasonal_naive_forecast(series, targets, horizon, 1);
}

std::vector<double> seasonal_naive_forecast(const std::vector<double>& series,
                                            const std::vector<std::int64_t>& targets,
                                            std::int64_t horizon, std::int64_t period) {
  if (horizon < 1 || period < 1) {
    throw std::invalid_argument("seasonal_naive_forecast: horizon and period must be >= 1");
  }
  // The latest value at the target's phase of the season that is known at j - horizon.
  const std::int64_t lag = period * ((horizon - 1) / period + 1);
  std::vector<double> forecast;
  for (std::int64_t j : targets) {
    if (j - lag < 0 || j >= static_cast<std::int64_t>(series.size())) {
      throw std::invalid_argument("seasonal_naive_forecast: target " + std::to_string(j) +
                                  " needs point " + std::to_string(j - lag));
    }
    forecast.push_back(at(series, j - lag));
  }
  return forecast;
}

ForecastResult train_forecast(const std::vector<double>& series, const ForecastConfig& config,
                              const std::function<void(const EpochReport&)>& on_epoch) {
  ForecastResult result;
  result.data = prepare_forecast_data(series, config);
  const ForecastData& data = result.data;

  // The recurrent layer draws first, then the head: the order of PyTorch's module constructor,
  // so Generator::torch(seed) gives the weights torch.manual_seed(seed) gives there.
  Generator generator = Generator::torch(config.seed);
  Forecaster model(config.cell, config.hidden, config.layers, generator, config.dropout);
  result.num_parameters = model.num_parameters();
  const std::vector<Tensor> parameters = model.parameters();
  optim::Adam adam(parameters, {.lr = config.lr});
  const std::int64_t batch_size = config.batch_size == 0 ? data.train.size() : config.batch_size;
  data::DataLoader loader(data::TensorDataset({data.train.inputs, data.train.targets}),
                          {.batch_size = batch_size, .shuffle = config.batch_size != 0,
                           .seed = config.seed});

  std::vector<Tensor> best_weights;
  auto keep_best = [&] {
    best_weights.clear();
    for (const Tensor& p : parameters) best_weights.push_back(p.detach().clone());
  };
  float best_val = 0.0f;
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t epoch = 1; epoch <= config.epochs; ++epoch) {
    model.train();
    double loss_sum = 0.0;
    std::int64_t step = 0;
    for (const data::Batch& batch : loader) {
      adam.zero_grad();
      Tensor loss = mse_loss(model.forward(batch[0]), batch[1]);
      const float loss_value = loss.item();
      require_finite_loss(loss_value, {.epoch = epoch, .step = ++step});
      loss.backward();
      adam.step();
      loss_sum += static_cast<double>(loss_value) * static_cast<double>(batch[0].shape()[0]);
    }
    const auto train_loss = static_cast<float>(loss_sum / static_cast<double>(data.train.size()));
    model.eval();
    float val_loss = 0.0f;
    {
      NoGradGuard no_grad;
      val_loss = mse_of(model, data.val);
    }
    require_finite_loss(val_loss, {.phase = "validation", .epoch = epoch});
    result.train_losses.push_back(train_loss);
    result.val_losses.push_back(val_loss);
    const bool best = epoch == 1 || val_loss < best_val;
    if (best) {
      best_val = val_loss;
      result.best_epoch = epoch;
      keep_best();
    }
    if (on_epoch) {
      on_epoch({.epoch = epoch, .train_loss = train_loss, .val_loss = val_loss, .best = best,
                .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                               .count()});
    }
    if (epoch - result.best_epoch >= config.patience) {
      result.stopped_early = epoch < config.epochs;
      break;
    }
  }

  NoGradGuard no_grad;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    Tensor parameter = parameters[i];
    parameter.copy_(best_weights[i]);
  }
  model.eval();
  const std::vector<float> predicted =
      data.target_scaler.inverse_transform(model.forward(data.test.inputs)).to_vector();
  const std::vector<std::int64_t>& targets = data.test.target_index;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const std::int64_t j = targets[i];
    const double base = config.diff ? at(series, j - config.horizon) : 0.0;
    result.truth.push_back(at(series, j));
    result.forecast.push_back(base + static_cast<double>(predicted[i]));
  }
  for (double value : result.forecast) {
    if (!std::isfinite(value)) {
      require_finite_loss(value, {.phase = "test forecast (with the restored best weights)"});
    }
  }
  result.naive = naive_forecast(series, targets, config.horizon);
  result.seasonal_naive = seasonal_naive_forecast(series, targets, config.horizon, config.period);
  result.model_errors = forecast_errors(result.truth, result.forecast);
  result.naive_errors = forecast_errors(result.truth, result.naive);
  result.seasonal_errors = forecast_errors(result.truth, result.seasonal_naive);
  return result;
}

}  // namespace examples
