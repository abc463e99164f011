// sine_forecast: the tutorial LSTM, in C++. A sine wave of 1000 points, windows of 10 samples,
// each predicting the next one; LSTM(1 -> 100) + Linear(100 -> 1) on the last step, MSE, Adam
// lr 0.01, full batch, 100 epochs. Prints the loss as it trains, evaluates under no-grad in eval
// mode, and writes predictions against the truth as CSV and (with gnuplot) PNG.
// The model and the loop are in examples/support/sine_forecast.{h,cpp}.
#include <iomanip>
#include <iostream>

#include "example_util.h"
#include "support/sine_forecast.h"

int main(int argc, char** argv) {
  examples::Flags flags("sine_forecast", "an LSTM learns to continue a sine wave (the tutorial model)");
  const examples::SineConfig defaults;
  flags.add("points", std::to_string(defaults.points), "samples of sin(t), t evenly spaced over [0, 100]")
      .add("seq-length", std::to_string(defaults.seq_length), "window length fed to the model")
      .add("hidden", std::to_string(defaults.hidden), "hidden size")
      .add("layers", std::to_string(defaults.layers), "number of stacked recurrent layers")
      .add("cell", defaults.cell, "lstm, gru or rnn")
      .add("epochs", std::to_string(defaults.epochs), "full-batch training epochs")
      .add("lr", "0.01", "Adam learning rate")
      .add("seed", std::to_string(defaults.seed), "seed of the parameter initialisation")
      .add("rng", "torch", "torch: draw the initial weights as PyTorch does after "
                           "torch.manual_seed(seed), so both start from the same model; tapegrad: "
                           "tapegrad's own stream")
      .add("print-every", "10", "print the loss every N epochs")
      .add("out-dir", "sine_forecast_out", "where predictions.csv and predictions.png go")
      .add("init", "", "optional safetensors file with starting parameters (e.g. a PyTorch "
                       "state_dict exported by scripts/state_dict_convert.py; names rnn.*, head.*)")
      .add("save", "", "optional path to save the trained parameters (safetensors)");
  try {
    if (!flags.parse(argc, argv)) return 0;
    examples::SineConfig config;
    config.points = flags.integer("points");
    config.seq_length = flags.integer("seq-length");
    config.hidden = flags.integer("hidden");
    config.layers = flags.integer("layers");
    config.cell = flags.str("cell");
    config.epochs = flags.integer("epochs");
    config.lr = flags.real("lr");
    config.seed = static_cast<std::uint64_t>(flags.integer("seed"));
    const std::string rng = flags.str("rng");
    if (rng != "tapegrad" && rng != "torch")
      throw std::invalid_argument("--rng must be tapegrad or torch, got \"" + rng + "\"");
    config.torch_rng = rng == "torch";
    config.init_path = flags.str("init");
    const long print_every = std::max(1L, flags.integer("print-every"));

    std::cout << "sine_forecast: " << config.cell << " hidden " << config.hidden << ", layers "
              << config.layers << ", " << config.points - config.seq_length << " windows of "
              << config.seq_length << ", Adam lr " << config.lr << ", " << config.epochs
              << " epochs" << std::endl;
    examples::SineResult result = examples::train_sine(
        config,
        [&](std::int64_t epoch, float loss, double seconds) {
          if (epoch % print_every == 0 || epoch == 1 || epoch == config.epochs) {
            std::cout << "epoch " << std::setw(4) << epoch << "/" << config.epochs << "  loss "
                      << std::scientific << std::setprecision(3) << loss << std::defaultfloat
                      << "  " << std::fixed << std::setprecision(2) << seconds << " s"
                      << std::defaultfloat << std::endl;
          }
        },
        flags.str("save"));
    std::cout << "final training loss " << std::scientific << std::setprecision(3)
              << result.losses.back() << ", eval MSE " << result.eval_mse << std::defaultfloat
              << ", " << result.num_parameters << " parameters, trained in " << std::fixed
              << std::setprecision(2) << result.train_seconds << " s" << std::defaultfloat << "\n";

    const std::filesystem::path out_dir = flags.str("out-dir");
    std::filesystem::create_directories(out_dir);
    std::vector<float> step_index;
    for (std::size_t i = 0; i < result.truth.size(); ++i) {
      step_index.push_back(static_cast<float>(i + static_cast<std::size_t>(config.seq_length)));
    }
    const auto csv = out_dir / "predictions.csv";
    examples::write_csv(csv, {"step", "truth", "prediction"},
                        {step_index, result.truth, result.predictions});
    const auto png = out_dir / "predictions.png";
    const bool plotted = examples::run_gnuplot(
        out_dir / "predictions.gnuplot",
        "set terminal pngcairo noenhanced size 1000,400\n"
        "set output '" + png.string() + "'\n"
        "set datafile separator ','\n"
        "set key autotitle columnhead\n"
        "set title 'sine_forecast: " + config.cell + " predictions vs truth (eval MSE " +
            std::to_string(result.eval_mse) + ")'\n"
        "set xlabel 'time step'\n"
        "plot '" + csv.string() + "' using 1:2 with lines lw 2, '' using 1:3 with lines dt 2 lw 2\n");
    std::cout << "wrote " << csv.string() << (plotted ? " and " + png.string() : std::string()) << "\n";
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "sine_forecast: " << error.what() << "\n";
    return 1;
  }
}
