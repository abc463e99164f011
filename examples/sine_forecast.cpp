// sine_forecast: the tutorial LSTM, in C++. A sine wave of 1000 points, windows of 10 samples,
// each predicting the next one; LSTM(1 -> 100) + Linear(100 -> 1) on the last step, MSE, Adam
// lr 0.01, full batch, 100 epochs. Prints the loss as it trains, evaluates under no-grad in eval
// mode, and writes predictions against the truth as CSV and (with gnuplot) PNG.
// --matmul-precision bfloat16 trains and evaluates with bf16 products and float32 sums.
// The model and the loop are in examples/support/sine_forecast.{h,cpp}.
#include <iomanip>
#include <iostream>

#include "example_util.h"
#include "support/cli.h"
#include "support/gnuplot.h"
#include "support/sine_forecast.h"

namespace cli = examples::cli;

int main(int argc, char** argv) {
  cli::Program program("sine_forecast", "an LSTM learns to continue a sine wave (the tutorial model)");
  CLI::App& app = program.app();
  examples::SineConfig config;
  std::string rng = "torch", save_path;
  std::int64_t print_every = 10;
  std::filesystem::path out_dir = "sine_forecast_out";
  app.add_option("--points", config.points, "samples of sin(t), t evenly spaced over [0, 100]")
      ->check(cli::integer_in(2, 10'000'000));
  app.add_option("--seq-length", config.seq_length, "window length fed to the model (< --points)")
      ->check(cli::integer_in(1, 100'000));
  app.add_option("--hidden", config.hidden, "hidden size")->check(cli::integer_in(1, 4096));
  app.add_option("--layers", config.layers, "number of stacked recurrent layers")
      ->check(cli::integer_in(1, 16));
  app.add_option("--cell", config.cell, "recurrent cell")->check(cli::one_of({"lstm", "gru", "rnn"}));
  program.add_epochs(config.epochs, "full-batch training epochs");
  program.add_lr(config.lr);
  program.add_seed(config.seed, "seed of the parameter initialisation");
  app.add_option("--rng", rng,
                 "torch: draw the initial weights as PyTorch does after torch.manual_seed(seed), "
                 "so both start from the same model; tapegrad: tapegrad's own stream")
      ->check(cli::one_of({"torch", "tapegrad"}));
  program.add_matmul_precision(config.matmul_precision);
  app.add_option("--print-every", print_every, "print the loss every N epochs")
      ->check(cli::integer_in(1, 1'000'000));
  program.add_threads();
  program.add_out_dir(out_dir, "where predictions.csv and predictions.png go (created if missing)",
                      [] { return std::vector<std::string>{"predictions.csv", "predictions.png",
                                                           "predictions.gnuplot"}; });
  app.add_option("--init", config.init_path,
                 "optional safetensors file with starting parameters (e.g. a PyTorch state_dict "
                 "exported by scripts/state_dict_convert.py; names rnn.*, head.*)")
      ->check(cli::existing_regular_file());
  program.add_output_file("--save", save_path,
                          "optional path to save the trained parameters (safetensors)");
  program.add_resume_options(config.resume);
  app.callback([&] {
    if (config.seq_length >= config.points) {
      throw CLI::ValidationError("--seq-length", "expected fewer than --points (" +
                                                     std::to_string(config.points) + "), got \"" +
                                                     std::to_string(config.seq_length) + "\"");
    }
    config.torch_rng = rng == "torch";
  });

  return program.run(argc, argv, [&] {
    std::cout << "sine_forecast: " << config.cell << " hidden " << config.hidden << ", layers "
              << config.layers << ", " << config.points - config.seq_length << " windows of "
              << config.seq_length << ", Adam lr " << config.lr << ", " << config.epochs
              << " epochs, matmul precision " << cli::matmul_precision_name(config.matmul_precision)
              << std::endl;
    if (config.resume.resume) std::cout << "resuming from " << config.resume.checkpoint << std::endl;
    const examples::SineResult result = examples::train_sine(
        config,
        [&](std::int64_t epoch, float loss, double seconds) {
          if (epoch % print_every == 0 || epoch == 1 || epoch == config.epochs) {
            std::cout << "epoch " << std::setw(4) << epoch << "/" << config.epochs << "  loss "
                      << std::scientific << std::setprecision(3) << loss << std::defaultfloat
                      << "  " << std::fixed << std::setprecision(2) << seconds << " s"
                      << std::defaultfloat << std::endl;
          }
        },
        save_path);
    if (result.stopped) {
      std::cout << "stopped after epoch " << result.losses.size() << " (--max-steps)";
      if (!config.resume.checkpoint.empty()) {
        std::cout << "; training state saved in " << config.resume.checkpoint
                  << ": run again with --resume to continue";
      }
      std::cout << "\n";
      return 0;
    }
    std::cout << "final training loss " << std::scientific << std::setprecision(3)
              << result.losses.back() << ", eval MSE " << result.eval_mse << std::defaultfloat
              << ", " << result.num_parameters << " parameters, trained in " << std::fixed
              << std::setprecision(2) << result.train_seconds << " s" << std::defaultfloat << "\n";

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
        "set output " + examples::gnuplot_path(png) + "\n"
        "set datafile separator ','\n"
        "set key autotitle columnhead\n"
        "set title " + examples::gnuplot_quote("sine_forecast: " + config.cell +
                                               " predictions vs truth (eval MSE " +
                                               std::to_string(result.eval_mse) + ")") + "\n"
        "set xlabel 'time step'\n"
        "plot " + examples::gnuplot_path(csv) +
            " using 1:2 with lines lw 2, '' using 1:3 with lines dt 2 lw 2\n");
    std::cout << "wrote " << csv.string() << (plotted ? " and " + png.string() : std::string()) << "\n";
    return 0;
  });
}
