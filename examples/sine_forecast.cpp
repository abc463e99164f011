// sine_forecast: the tutorial LSTM, in C++. A sine wave of 1000 points, windows of 10 samples,
// each predicting the next one; LSTM(1 -> 100) + Linear(100 -> 1) on the last step, MSE, Adam
// lr 0.01, full batch, 100 epochs. Prints the loss as it trains, evaluates under no-grad in eval
// mode, and writes predictions against the truth as CSV and (with gnuplot) PNG.
#include <cmath>
#include <iomanip>
#include <iostream>

#include "autograd/grad_mode.h"
#include "data/sequences.h"
#include "example_util.h"
#include "nn/layers.h"
#include "nn/rnn.h"
#include "nn/serialize.h"
#include "ops/losses.h"
#include "ops/ops.h"
#include "optim/adam.h"

using namespace tapegrad;

namespace {

// The recurrent layer of the chosen cell type and a Linear head on its last time step.
struct Forecaster : nn::Module {
  std::string cell;
  nn::Module* rnn = nullptr;
  nn::Linear* head = nullptr;

  Forecaster(const std::string& cell_type, std::int64_t hidden, std::int64_t layers, Generator& gen)
      : cell(cell_type) {
    if (cell == "lstm") {
      rnn = &register_module("rnn", nn::LSTM({.input_size = 1, .hidden_size = hidden,
                                              .num_layers = layers, .batch_first = true}, gen));
    } else if (cell == "gru") {
      rnn = &register_module("rnn", nn::GRU({.input_size = 1, .hidden_size = hidden,
                                             .num_layers = layers, .batch_first = true}, gen));
    } else if (cell == "rnn") {
      rnn = &register_module("rnn", nn::RNN({.input_size = 1, .hidden_size = hidden,
                                             .num_layers = layers, .batch_first = true}, gen));
    } else {
      throw std::invalid_argument("--cell must be lstm, gru or rnn, got " + cell);
    }
    head = &register_module("head", nn::Linear({.in_features = hidden, .out_features = 1}, gen));
  }

  Tensor forward(const Tensor& x) const {  // x [B, T, 1] -> [B, 1]
    Tensor output = cell == "lstm" ? static_cast<nn::LSTM*>(rnn)->forward(x).output
                    : cell == "gru" ? static_cast<nn::GRU*>(rnn)->forward(x).output
                                    : static_cast<nn::RNN*>(rnn)->forward(x).output;
    return head->forward(select(output, 1, -1));
  }
};

}  // namespace

int main(int argc, char** argv) {
  examples::Flags flags("sine_forecast", "an LSTM learns to continue a sine wave (the tutorial model)");
  flags.add("points", "1000", "samples of sin(t), t evenly spaced over [0, 100]")
      .add("seq-length", "10", "window length fed to the model")
      .add("hidden", "100", "hidden size")
      .add("layers", "1", "number of stacked recurrent layers")
      .add("cell", "lstm", "lstm, gru or rnn")
      .add("epochs", "100", "full-batch training epochs")
      .add("lr", "0.01", "Adam learning rate")
      .add("seed", "0", "seed of the parameter initialisation")
      .add("print-every", "10", "print the loss every N epochs")
      .add("out-dir", "sine_forecast_out", "where predictions.csv and predictions.png go")
      .add("init", "", "optional safetensors file with starting parameters (e.g. a PyTorch state_dict "
                       "exported by scripts/state_dict_convert.py; names rnn.*, head.*)")
      .add("save", "", "optional path to save the trained parameters (safetensors)");
  try {
    if (!flags.parse(argc, argv)) return 0;
    const auto points = flags.integer("points");
    const auto seq_length = flags.integer("seq-length");
    const auto epochs = flags.integer("epochs");
    const auto print_every = std::max(1L, flags.integer("print-every"));

    std::vector<float> series(static_cast<std::size_t>(points));
    for (long i = 0; i < points; ++i) {
      series[static_cast<std::size_t>(i)] =
          std::sin(100.0f * static_cast<float>(i) / static_cast<float>(points - 1));
    }
    data::Sequences windows = data::create_sequences(series, seq_length);  // X [N, L, 1], y [N, 1]

    Generator gen(static_cast<std::uint64_t>(flags.integer("seed")));
    Forecaster model(flags.str("cell"), flags.integer("hidden"), flags.integer("layers"), gen);
    if (!flags.str("init").empty()) nn::load(model, flags.str("init"));
    optim::Adam adam(model.parameters(), {.lr = flags.real("lr")});
    std::cout << "sine_forecast: " << flags.str("cell") << " hidden " << flags.integer("hidden")
              << ", layers " << flags.integer("layers") << ", " << model.num_parameters()
              << " parameters, " << windows.inputs.size(0) << " windows of " << seq_length << "\n";

    examples::Stopwatch clock;
    float loss_value = 0.0f;
    model.train();
    for (long epoch = 1; epoch <= epochs; ++epoch) {
      adam.zero_grad();
      Tensor loss = mse_loss(model.forward(windows.inputs), windows.targets);
      loss.backward();
      adam.step();
      loss_value = loss.item();
      if (epoch % print_every == 0 || epoch == 1 || epoch == epochs) {
        std::cout << "epoch " << std::setw(4) << epoch << "/" << epochs << "  loss "
                  << std::scientific << std::setprecision(3) << loss_value << std::defaultfloat
                  << "  " << std::fixed << std::setprecision(2) << clock.seconds() << " s"
                  << std::defaultfloat << std::endl;
      }
    }
    const double train_seconds = clock.seconds();

    model.eval();
    Tensor predictions;
    float eval_mse;
    {
      NoGradGuard no_grad;
      predictions = model.forward(windows.inputs);
      eval_mse = mse_loss(predictions, windows.targets).item();
    }
    std::cout << "final training loss " << std::scientific << loss_value << ", eval MSE "
              << eval_mse << std::defaultfloat << ", trained in " << train_seconds << " s\n";

    if (!flags.str("save").empty()) nn::save(model, flags.str("save"));
    const std::filesystem::path out_dir = flags.str("out-dir");
    std::filesystem::create_directories(out_dir);
    std::vector<float> step_index;
    for (long i = 0; i < windows.targets.size(0); ++i) step_index.push_back(static_cast<float>(i + seq_length));
    examples::write_csv(out_dir / "predictions.csv", {"step", "truth", "prediction"},
                        {step_index, windows.targets.to_vector(), predictions.to_vector()});
    const bool plotted = examples::run_gnuplot(
        out_dir / "predictions.gnuplot",
        "set terminal pngcairo size 1000,400\n"
        "set output '" + (out_dir / "predictions.png").string() + "'\n"
        "set datafile separator ','\n"
        "set key autotitle columnhead\n"
        "set title 'sine_forecast: " + flags.str("cell") + " predictions vs truth'\n"
        "set xlabel 'time step'\n"
        "plot '" + (out_dir / "predictions.csv").string() + "' using 1:2 with lines lw 2, '' using 1:3 with lines dt 2 lw 2\n");
    std::cout << "wrote " << (out_dir / "predictions.csv").string()
              << (plotted ? " and " + (out_dir / "predictions.png").string() : std::string()) << "\n";
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "sine_forecast: " << error.what() << "\n";
    return 1;
  }
}
