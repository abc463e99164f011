// stacked_lstm: a 2-layer LSTM (dropout 0.2 between the layers) learns to predict the next value
// of a long noisy series, trained with truncated backpropagation through time: the series is cut
// into consecutive chunks and the (h, c) state is carried from chunk to chunk with
// state.detach(). Evaluates on the held-out tail in eval mode under no-grad against the naive
// "repeat the last value" forecast, and writes predictions vs truth as CSV (and PNG with gnuplot).
// The training loop lives in examples/support/stacked_lstm.{h,cpp}; read it first.
#include <iomanip>
#include <iostream>

#include "example_util.h"
#include "support/cli.h"
#include "support/gnuplot.h"
#include "support/stacked_lstm.h"

namespace cli = examples::cli;

int main(int argc, char** argv) {
  cli::Program program("stacked_lstm",
                       "a 2-layer LSTM trained by truncated BPTT on a long noisy series");
  CLI::App& app = program.app();
  examples::StackedLSTMConfig config;
  std::filesystem::path out_dir = "stacked_lstm_out";
  app.add_option("--points", config.points,
                 "length of the series sin(2 pi t/50) + 0.5 sin(2 pi t/23) + noise")
      ->check(cli::integer_in(2, 10'000'000));
  app.add_option("--noise", config.noise_std, "standard deviation of the Gaussian noise")
      ->check(cli::non_negative_real());
  app.add_option("--test-fraction", config.test_fraction, "share of the series held out at its end")
      ->check(cli::real_in(0.0, 1.0, cli::Open::both));
  app.add_option("--hidden", config.hidden_size, "hidden size of each LSTM layer")
      ->check(cli::integer_in(1, 4096));
  app.add_option("--layers", config.num_layers, "number of stacked LSTM layers")
      ->check(cli::integer_in(1, 16));
  app.add_option("--dropout", config.dropout, "dropout between LSTM layers, in training only")
      ->check(cli::real_in(0.0, 1.0, cli::Open::max));
  app.add_option("--chunk", config.chunk_length, "truncated BPTT length: steps per backward pass")
      ->check(cli::integer_in(1, 1'000'000));
  app.add_option("--streams", config.streams,
                 "the training part is split into this many parallel streams (the batch)")
      ->check(cli::integer_in(1, 100'000));
  program.add_epochs(config.epochs, "passes over the training part");
  program.add_lr(config.lr);
  app.add_option("--clip", config.max_grad_norm,
                 "max gradient norm (clip_grad_norm_) before every step")
      ->check(cli::positive_real());
  program.add_seed(config.seed, "seed of the noise, the initialisation and the dropout masks");
  program.add_threads();
  program.add_resume_options(config.resume);
  program.add_out_dir(out_dir, "where tail_predictions.csv and .png go (created if missing)",
                      [] { return std::vector<std::string>{"tail_predictions.csv", "tail_predictions.png",
                                                           "tail_predictions.gnuplot"}; });

  program.add_combination_check("--points, --test-fraction, --streams",
                                [&] { examples::stacked_lstm_test_length(config); });

  return program.run(argc, argv, [&] {
    config.log = &std::cout;
    std::cout << "stacked_lstm: " << config.num_layers << " x LSTM(" << config.hidden_size
              << "), dropout " << config.dropout << ", " << config.points << " points, chunks of "
              << config.chunk_length << " steps, " << config.streams << " streams\n";
    examples::Stopwatch clock;
    const examples::StackedLSTMResult result = examples::train_stacked_lstm(config);
    if (result.stopped) {
      std::cout << "stopped after step " << result.steps << " (--max-steps)";
      if (!config.resume.checkpoint.empty()) {
        std::cout << "; training state saved in " << config.resume.checkpoint
                  << ": run again with --resume to continue";
      }
      std::cout << "\n";
      return 0;
    }
    std::cout << result.num_parameters << " parameters, trained and evaluated in " << std::fixed
              << std::setprecision(1) << clock.seconds() << " s\n"
              << std::scientific << std::setprecision(3) << "held-out tail ("
              << config.points - result.test_start << " steps): test MSE " << result.test_mse
              << ", naive last-value MSE " << result.naive_mse << " (noise variance alone "
              << config.noise_std * config.noise_std << ")\n"
              << std::defaultfloat;

    std::vector<float> step, truth, naive;
    for (std::int64_t t = result.test_start; t < config.points; ++t) {
      step.push_back(static_cast<float>(t));
      truth.push_back(result.series[static_cast<std::size_t>(t)]);
      naive.push_back(result.series[static_cast<std::size_t>(t - 1)]);
    }
    const auto csv = out_dir / "tail_predictions.csv";
    examples::write_csv(csv, {"step", "truth", "prediction", "last_value"},
                        {step, truth, result.tail_prediction, naive});
    const auto png = out_dir / "tail_predictions.png";
    const bool plotted = examples::run_gnuplot(
        out_dir / "tail_predictions.gnuplot",
        "set terminal pngcairo size 1200,400 noenhanced\n"  // keep the _ in names literal
        "set output " + examples::gnuplot_path(png) + "\n"
        "set datafile separator ','\n"
        "set key autotitle columnhead\n"
        "set title 'stacked_lstm: next-value predictions on the held-out tail'\n"
        "set xlabel 'time step'\n"
        "plot " + examples::gnuplot_path(csv) + " using 1:2 with lines lw 1 lc rgb 'gray40', "
        "'' using 1:3 with lines lw 2 lc rgb 'red'\n");
    std::cout << "wrote " << csv.string() << (plotted ? " and " + png.string() : std::string())
              << "\n";
    return 0;
  });
}
