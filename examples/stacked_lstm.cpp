// stacked_lstm: a 2-layer LSTM (dropout 0.2 between the layers) learns to predict the next value
// of a long noisy series, trained with truncated backpropagation through time: the series is cut
// into consecutive chunks and the (h, c) state is carried from chunk to chunk with
// state.detach(). Evaluates on the held-out tail in eval mode under no-grad against the naive
// "repeat the last value" forecast, and writes predictions vs truth as CSV (and PNG with gnuplot).
// The training loop lives in examples/support/stacked_lstm.{h,cpp}; read it first.
#include <iomanip>
#include <iostream>

#include "example_util.h"
#include "support/stacked_lstm.h"

int main(int argc, char** argv) {
  examples::Flags flags("stacked_lstm",
                        "a 2-layer LSTM trained by truncated BPTT on a long noisy series");
  flags.add("points", "4000", "length of the series sin(2 pi t/50) + 0.5 sin(2 pi t/23) + noise")
      .add("noise", "0.1", "standard deviation of the Gaussian noise")
      .add("test-fraction", "0.2", "share of the series held out at its end")
      .add("hidden", "32", "hidden size of each LSTM layer")
      .add("layers", "2", "number of stacked LSTM layers")
      .add("dropout", "0.2", "dropout between LSTM layers, in training only")
      .add("chunk", "50", "truncated BPTT length: steps per backward pass")
      .add("streams", "4", "the training part is split into this many parallel streams (the batch)")
      .add("epochs", "20", "passes over the training part")
      .add("lr", "0.01", "Adam learning rate")
      .add("clip", "1.0", "max gradient norm (clip_grad_norm_) before every step")
      .add("seed", "0", "seed of the noise, the initialisation and the dropout masks")
      .add("out-dir", "stacked_lstm_out", "where tail_predictions.csv and .png go");
  try {
    if (!flags.parse(argc, argv)) return 0;
    examples::StackedLSTMConfig config;
    config.points = flags.integer("points");
    config.noise_std = flags.real("noise");
    config.test_fraction = flags.real("test-fraction");
    config.hidden_size = flags.integer("hidden");
    config.num_layers = flags.integer("layers");
    config.dropout = flags.real("dropout");
    config.chunk_length = flags.integer("chunk");
    config.streams = flags.integer("streams");
    config.epochs = flags.integer("epochs");
    config.lr = flags.real("lr");
    config.max_grad_norm = flags.real("clip");
    config.seed = static_cast<std::uint64_t>(flags.integer("seed"));
    config.log = &std::cout;

    std::cout << "stacked_lstm: " << config.num_layers << " x LSTM(" << config.hidden_size
              << "), dropout " << config.dropout << ", " << config.points << " points, chunks of "
              << config.chunk_length << " steps, " << config.streams << " streams\n";
    examples::Stopwatch clock;
    const examples::StackedLSTMResult result = examples::train_stacked_lstm(config);
    std::cout << result.num_parameters << " parameters, trained and evaluated in " << std::fixed
              << std::setprecision(1) << clock.seconds() << " s\n"
              << std::scientific << std::setprecision(3) << "held-out tail ("
              << config.points - result.test_start << " steps): test MSE " << result.test_mse
              << ", naive last-value MSE " << result.naive_mse << " (noise variance alone "
              << config.noise_std * config.noise_std << ")\n"
              << std::defaultfloat;

    const std::filesystem::path out_dir = flags.str("out-dir");
    std::filesystem::create_directories(out_dir);
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
        "set output '" + png.string() + "'\n"
        "set datafile separator ','\n"
        "set key autotitle columnhead\n"
        "set title 'stacked_lstm: next-value predictions on the held-out tail'\n"
        "set xlabel 'time step'\n"
        "plot '" + csv.string() + "' using 1:2 with lines lw 1 lc rgb 'gray40', "
        "'' using 1:3 with lines lw 2 lc rgb 'red'\n");
    std::cout << "wrote " << csv.string() << (plotted ? " and " + png.string() : std::string())
              << "\n";
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "stacked_lstm: " << error.what() << "\n";
    return 1;
  }
}
