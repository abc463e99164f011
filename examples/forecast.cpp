// forecast: a recurrent model forecasts one column of your CSV file h steps ahead, and is
// compared on the held-out end of the series with the naive and seasonal-naive forecasts.
//
//   forecast --csv data/series/sunspots.csv --column SUNACTIVITY --time-column YEAR --period 11
//
// The series is split in time order into training, validation and test parts; the scalers see
// the training part only; early stopping on the validation loss keeps the best epoch's weights;
// the test part is forecast once, at the end (direct strategy: the model outputs the value h
// steps ahead itself). The pipeline is in examples/support/forecast.{h,cpp}. Writes
// forecast.csv (every point, with the test forecasts and baselines) and forecast.png (gnuplot).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include "data/csv.h"
#include "example_util.h"
#include "nn/rnn.h"
#include "support/cli.h"
#include "support/forecast.h"
#include "support/gnuplot.h"

namespace cli = examples::cli;
namespace data = tapegrad::data;

namespace {

std::vector<std::string> cell_choices() {
  std::vector<std::string> names = tapegrad::nn::registered_cells();
  names.insert(names.begin(), "rnn");  // the tanh RNN, as in the other examples
  return names;
}

std::string format(double value, int precision = 4) {
  std::ostringstream text;
  text << std::setprecision(precision) << value;
  return text.str();
}

void print_errors_table(const examples::ForecastResult& r, const std::string& cell) {
  const auto row = [](const std::string& name, const examples::ForecastErrors& e) {
    std::cout << "  " << std::left << std::setw(16) << name << std::right << std::setw(12)
              << format(e.mae) << std::setw(12) << format(e.rmse) << std::setw(10)
              << format(e.smape, 3) << "\n";
  };
  std::cout << "test errors (" << r.truth.size() << " forecasts):\n"
            << "  " << std::left << std::setw(16) << "" << std::right << std::setw(12) << "MAE"
            << std::setw(12) << "RMSE" << std::setw(10) << "sMAPE %" << "\n";
  row(cell, r.model_errors);
  row("naive", r.naive_errors);
  row("seasonal naive", r.seasonal_errors);
}

// The plot's x values: the time column when every value is a number at an even step (years),
// a decimal year when every value is a date written YYYYMMDD or YYYY-MM-DD, else the row.
struct PlotAxis {
  std::vector<double> x;
  std::string label;
};

std::optional<double> decimal_year(const std::string& text) {
  std::string digits = text;
  if (digits.size() == 10 && digits[4] == '-' && digits[7] == '-') {
    digits = digits.substr(0, 4) + digits.substr(5, 2) + digits.substr(8, 2);
  }
  if (digits.size() != 8 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return {};
  }
  const int year = std::stoi(digits.substr(0, 4)), month = std::stoi(digits.substr(4, 2)),
            day = std::stoi(digits.substr(6, 2));
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                         std::chrono::day(day)};
  if (!date.ok()) return {};
  const std::chrono::sys_days start{std::chrono::year(year) / 1 / 1};
  const std::chrono::sys_days end{std::chrono::year(year + 1) / 1 / 1};
  return year + static_cast<double>((std::chrono::sys_days(date) - start).count()) /
                    static_cast<double>((end - start).count());
}

PlotAxis plot_axis(const data::CsvTable& table, const std::string& time_column) {
  PlotAxis axis;
  if (!table.time.empty()) {
    std::vector<double> numbers;
    for (const std::string& text : table.time) {
      double value = 0.0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) break;
      numbers.push_back(value);
    }
    const bool even = numbers.size() == table.time.size() && numbers.size() > 1 &&
                      std::adjacent_find(numbers.begin(), numbers.end(), [&](double a, double b) {
                        return std::abs((b - a) - (numbers[1] - numbers[0])) > 1e-9;
                      }) == numbers.end();
    if (even) return {numbers, time_column};
    for (const std::string& text : table.time) {
      const std::optional<double> year = decimal_year(text);
      if (!year) break;
      axis.x.push_back(*year);
    }
    if (axis.x.size() == table.time.size()) return {axis.x, "year (" + time_column + ")"};
  }
  axis.x.clear();
  for (std::int64_t i = 0; i < table.rows(); ++i) axis.x.push_back(static_cast<double>(i));
  return {axis.x, "row"};
}

}  // namespace

int main(int argc, char** argv) {
  cli::Program program("forecast",
                       "a recurrent model forecasts a column of a CSV file, against the naive and "
                       "seasonal-naive baselines");
  CLI::App& app = program.app();
  examples::ForecastConfig config;
  std::string csv_path, column, time_column, missing = "error";
  std::filesystem::path out_dir = "forecast_out";
  app.add_option("--csv", csv_path, "the CSV file (a header line, then one row per time step)")
      ->required()
      ->check(cli::existing_regular_file());
  app.add_option("--column", column, "the column to forecast, by its header name")
      ->required()
      ->check(cli::non_empty());
  app.add_option("--time-column", time_column,
                 "a column with each row's time (kept as text in forecast.csv)")
      ->check(cli::non_empty());
  app.add_option("--missing", missing,
                 "missing values (empty, NA, NaN, null): error, drop the rows, or interpolate "
                 "linearly between the neighbours")
      ->check(cli::one_of({"error", "drop", "interpolate"}));
  app.add_option("--window", config.window, "values the model reads per forecast")
      ->check(cli::integer_in(1, 100'000));
  app.add_option("--horizon", config.horizon,
                 "forecast this many steps ahead (direct: the model outputs that value itself)")
      ->check(cli::integer_in(1, 100'000));
  app.add_flag("--diff", config.diff,
               "model the first differences (for a trending series that leaves the training "
               "range) and add the predicted change to the last value");
  app.add_option("--period", config.period,
                 "season length in steps, for the seasonal-naive baseline (11 for yearly "
                 "sunspots, 52 for weekly data)")
      ->required()
      ->check(cli::integer_in(1, 100'000))
      ->default_str("");
  app.add_option("--val-fraction", config.val_fraction,
                 "share of the points, after the training part, for early stopping")
      ->check(cli::real_in(0.0, 1.0, cli::Open::both));
  app.add_option("--test-fraction", config.test_fraction,
                 "share of the points at the end, forecast once after training")
      ->check(cli::real_in(0.0, 1.0, cli::Open::both));
  app.add_option("--cell", config.cell, "recurrent cell: rnn or any registered cell")
      ->check(cli::one_of(cell_choices()));
  app.add_option("--hidden", config.hidden, "hidden size")->check(cli::integer_in(1, 4096));
  app.add_option("--layers", config.layers, "stacked recurrent layers")
      ->check(cli::integer_in(1, 16));
  app.add_option("--dropout", config.dropout, "dropout between stacked layers, training only")
      ->check(cli::real_in(0.0, 1.0, cli::Open::max));
  program.add_epochs(config.epochs, "training epochs at most (early stopping may end sooner)");
  app.add_option("--patience", config.patience,
                 "stop after this many epochs without a lower validation loss")
      ->check(cli::integer_in(1, 1'000'000));
  app.add_option("--batch-size", config.batch_size,
                 "shuffled mini-batch size; 0: the whole training part in order")
      ->check(cli::integer_in(0, 1'000'000));
  program.add_lr(config.lr);
  program.add_seed(config.seed,
                   "initial weights (as PyTorch's after torch.manual_seed) and shuffling");
  program.add_threads();
  program.add_out_dir(out_dir, "where forecast.csv and forecast.png go (created if missing)",
                      [] { return std::vector<std::string>{"forecast.csv", "forecast.png",
                                                           "forecast.gnuplot"}; });

  data::CsvTable table;
  program.add_combination_check("--csv, --column, --time-column, --missing", [&] {
    table = data::read_csv(csv_path, {.columns = {column}, .time_column = time_column,
                                      .missing = data::missing_policy_from_string(missing)});
  });
  program.add_combination_check(
      "--window, --horizon, --diff, --period, --val-fraction, --test-fraction",
      [&] { examples::split_series(table.rows(), config); });

  return program.run(argc, argv, [&] {
    const std::vector<double>& series = table.column(column);
    std::cout << "forecast: " << csv_path << " column " << column << ": " << table.rows()
              << " points";
    if (table.missing_total() > 0) {
      std::cout << " (" << table.missing_total() << " missing: "
                << (table.rows_dropped > 0 ? std::to_string(table.rows_dropped) + " rows dropped"
                                           : std::to_string(table.values_interpolated) +
                                                 " interpolated")
                << ")";
    }
    std::cout << "\n";
    const examples::SeriesSplit split = examples::split_series(table.rows(), config);
    std::cout << "split: training [0, " << split.train_end << "), validation [" << split.train_end
              << ", " << split.val_end << "), test [" << split.val_end << ", " << split.size
              << ")\n"
              << config.cell << " " << config.layers << " x " << config.hidden << ", window "
              << config.window << (config.diff ? " differences" : " values") << ", horizon "
              << config.horizon << " (direct), Adam lr " << config.lr << ", batch "
              << (config.batch_size == 0 ? std::string("all") : std::to_string(config.batch_size))
              << ", at most " << config.epochs << " epochs, patience " << config.patience
              << std::endl;

    const examples::ForecastResult result =
        examples::train_forecast(series, config, [&](const examples::EpochReport& e) {
          std::cout << "epoch " << std::setw(4) << e.epoch << "/" << config.epochs
                    << "  train MSE " << std::scientific << std::setprecision(3) << e.train_loss
                    << "  val MSE " << e.val_loss << std::defaultfloat << "  " << std::fixed
                    << std::setprecision(1) << e.seconds << " s" << std::defaultfloat
                    << (e.best ? "  *best" : "") << std::endl;
        });
    std::cout << (result.stopped_early ? "stopped early" : "ran every epoch") << "; kept epoch "
              << result.best_epoch << " (val MSE " << std::scientific << std::setprecision(3)
              << result.val_losses[static_cast<std::size_t>(result.best_epoch - 1)]
              << std::defaultfloat << "), " << result.num_parameters << " parameters\n";
    print_errors_table(result, config.cell);

    // Every point, so the plot shows the history; the forecasts fill the test rows only.
    const PlotAxis axis = plot_axis(table, time_column);
    const std::string test_start = format(axis.x[static_cast<std::size_t>(split.val_end)], 12);
    const auto csv = out_dir / "forecast.csv";
    {
      std::ofstream out(csv);
      out << "x,time,value,forecast,naive,seasonal_naive\n" << std::setprecision(10);
      std::size_t next_test = 0;
      for (std::int64_t i = 0; i < table.rows(); ++i) {
        const auto row = static_cast<std::size_t>(i);
        out << axis.x[row] << "," << (table.time.empty() ? std::to_string(i) : table.time[row]) << ","
            << series[row];
        if (next_test < result.truth.size() &&
            result.data.test.target_index[next_test] == i) {
          out << "," << result.forecast[next_test] << "," << result.naive[next_test] << ","
              << result.seasonal_naive[next_test];
          ++next_test;
        } else {
          out << ",,,";
        }
        out << "\n";
      }
      out.close();
      if (!out) throw std::runtime_error("cannot write " + csv.string());
    }
    const auto png = out_dir / "forecast.png";
    const std::string title = column + " of " + std::filesystem::path(csv_path).filename().string() +
                              ": " + config.cell + " forecast " + std::to_string(config.horizon) +
                              " step(s) ahead (test MAE " + format(result.model_errors.mae) +
                              ", naive " + format(result.naive_errors.mae) + ")";
    const bool plotted = examples::run_gnuplot(
        out_dir / "forecast.gnuplot",
        "set terminal pngcairo noenhanced size 1000,400\n"
        "set output " + examples::gnuplot_path(png) + "\n"
        "set datafile separator ','\n"
        "set key top left\n"
        "set title " + examples::gnuplot_quote(title) + "\n"
        "set xlabel " + examples::gnuplot_quote(axis.label) + "\n"
        "set arrow from " + test_start + ", graph 0 to " + test_start +
            ", graph 1 nohead dt 3 lc rgb 'gray50'\n"
        "plot " + examples::gnuplot_path(csv) +
            " using 1:3 with lines lc rgb 'gray60' title 'history', "
            "'' using ($1 >= " + test_start +
            " ? $1 : NaN):3 with lines lw 2 lc rgb 'black' title 'test truth', "
            "'' using 1:4 with lines lw 2 lc rgb 'red' title 'forecast'\n");
    std::cout << "wrote " << csv.string() << (plotted ? " and " + png.string() : std::string())
              << "\n";
    return 0;
  });
}
