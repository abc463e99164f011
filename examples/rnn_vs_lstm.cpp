// rnn_vs_lstm: why gated cells exist. A plain RNN (tanh), an LSTM and a GRU are trained on the same
// task, seed, budget (steps x batch size), optimizer (Adam) and gradient clipping, for tasks whose
// lag is a parameter: the adding problem (lag = T), the copy-memory task (lag = the delay) and a
// delayed sine (lag = how far back the target was seen). For each run it records the loss curve,
// the held-out loss against the task's documented baseline, wall time, parameter count, the
// gradient reaching every hidden state (||dL/dh_t||, read with tapegrad::GradProbe) before and
// after training, and how saturated the LSTM/GRU gates are. --matmul-precision bfloat16 runs it
// all with bf16 products and float32 sums. See examples/RNN_VS_LSTM.md.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "example_util.h"
#include "support/cli.h"
#include "support/gnuplot.h"
#include "support/rnn_vs_lstm.h"

using namespace tapegrad;
namespace lag = examples::lag;
namespace cli = examples::cli;

namespace {

std::string number(double value) {
  if (!std::isfinite(value)) return "";
  std::ostringstream out;
  out << std::setprecision(6) << value;
  return out.str();
}

std::string json_number(double value) { return std::isfinite(value) ? number(value) : "null"; }

std::ofstream open(const std::filesystem::path& path) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write " + path.string());
  return out;
}

const lag::GateSaturation* find_gate(const lag::RunResult& r, const std::string& gate) {
  for (const auto& g : r.gates) {
    if (g.gate == gate) return &g;
  }
  return nullptr;
}

void write_results(const std::filesystem::path& dir, const std::vector<lag::RunResult>& runs) {
  std::ofstream csv = open(dir / "results.csv");
  csv << "task,lag,cell,seq_len,metric,eval_loss,baseline,ratio,accuracy,train_seconds,parameters,"
         "grad_ratio_first_last\n";
  std::ofstream json = open(dir / "results.json");
  json << "[\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const lag::RunResult& r = runs[i];
    const std::string task = lag::task_name(r.spec.task);
    const std::string metric = r.spec.task == lag::Task::Copy ? "cross_entropy" : "mse";
    csv << task << "," << r.spec.lag << "," << r.cell << "," << r.spec.sequence_length() << ","
        << metric << "," << number(r.eval.loss) << "," << number(r.baseline) << ","
        << number(r.ratio()) << "," << number(r.eval.accuracy) << "," << number(r.train_seconds)
        << "," << r.parameters << "," << number(r.grad_ratio()) << "\n";
    json << "  {\"task\": \"" << task << "\", \"lag\": " << r.spec.lag << ", \"cell\": \""
         << r.cell << "\", \"seq_len\": " << r.spec.sequence_length() << ", \"metric\": \""
         << metric << "\", \"eval_loss\": " << json_number(r.eval.loss)
         << ", \"baseline\": " << json_number(r.baseline) << ", \"ratio\": "
         << json_number(r.ratio()) << ", \"accuracy\": " << json_number(r.eval.accuracy)
         << ", \"train_seconds\": " << json_number(r.train_seconds)
         << ", \"parameters\": " << r.parameters
         << ", \"grad_ratio_first_last\": " << json_number(r.grad_ratio()) << "}"
         << (i + 1 < runs.size() ? "," : "") << "\n";
  }
  json << "]\n";

  std::ofstream curves = open(dir / "curves.csv");
  curves << "task,lag,cell,step,loss\n";
  std::ofstream norms = open(dir / "grad_norms.csv");
  norms << "task,lag,cell,stage,t,norm\n";
  std::ofstream gates = open(dir / "gate_saturation.csv");
  gates << "task,lag,cell,gate,below_0.05,above_0.95,saturated,mean\n";
  for (const lag::RunResult& r : runs) {
    const std::string key = lag::task_name(r.spec.task) + "," + std::to_string(r.spec.lag) + "," + r.cell;
    for (std::size_t k = 0; k < r.curve_steps.size(); ++k) {
      curves << key << "," << r.curve_steps[k] << "," << number(r.curve_losses[k]) << "\n";
    }
    for (const auto& [stage, values] : {std::pair{"init", &r.grad_norms_init},
                                        std::pair{"trained", &r.grad_norms_trained}}) {
      for (std::size_t t = 0; t < values->size(); ++t) {
        norms << key << "," << stage << "," << t << "," << number((*values)[t]) << "\n";
      }
    }
    for (const auto& g : r.gates) {
      gates << key << "," << g.gate << "," << number(g.below) << "," << number(g.above) << ","
            << number(g.saturated()) << "," << number(g.mean) << "\n";
    }
  }
}

// One PNG of loss curves and one of gradient norms per task and lag, filtering the shared CSVs.
// Every name and path in the scripts is a gnuplot string literal (examples::gnuplot_quote).
void plot(const std::filesystem::path& dir, const std::string& task, std::int64_t lag_value,
          const std::vector<std::string>& cells, double baseline) {
  using examples::gnuplot_path;
  using examples::gnuplot_quote;
  const std::string stem = task + "_lag" + std::to_string(lag_value);
  const std::string filter =
      "(strcol(1) eq " + gnuplot_quote(task) + " && $2 == " + std::to_string(lag_value);
  auto header = [&](const std::string& name, const std::string& title) {
    return "set terminal pngcairo size 900,500\nset output " + gnuplot_path(dir / (name + ".png")) +
           "\nset datafile separator ','\nset title " + gnuplot_quote(title) +
           "\nset key outside right\n";
  };
  const std::string curves_csv = gnuplot_path(dir / "curves.csv");
  const std::string norms_csv = gnuplot_path(dir / "grad_norms.csv");
  std::vector<std::string> loss_lines, grad_lines;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const std::string cell_filter = filter + " && strcol(3) eq " + gnuplot_quote(cells[i]);
    const std::string color = " lc " + std::to_string(i + 1);
    loss_lines.push_back(curves_csv + " every ::1 using 4:(" + cell_filter +
                         ") ? $5 : 1/0) with lines lw 2" + color + " title " +
                         gnuplot_quote(cells[i]));
    for (const std::string stage : {"trained", "init"}) {
      grad_lines.push_back(norms_csv + " every ::1 using 5:(" + cell_filter +
                           " && strcol(4) eq " + gnuplot_quote(stage) +
                           " && $6 > 0) ? $6 : 1/0) with lines lw 2" + color +
                           (stage == "init" ? " dt 2" : "") + " title " +
                           gnuplot_quote(cells[i] + " " + stage));
    }
  }
  loss_lines.push_back(std::to_string(baseline) + " with lines dt 3 lc 'black' title 'baseline'");
  auto join = [](const std::vector<std::string>& lines) {
    std::string joined;
    for (const std::string& line : lines) joined += (joined.empty() ? "" : ", ") + line;
    return joined + "\n";
  };
  const std::string lag_title = task + " lag " + std::to_string(lag_value);
  const std::string losses = header("loss_" + stem, "training loss, " + lag_title) +
                             "set xlabel 'step'\nset ylabel 'loss (window mean)'\nplot " +
                             join(loss_lines);
  const std::string grads = header("grad_norms_" + stem, "||dL/dh_t|| on held-out data, " +
                                                             lag_title) +
                            "set logscale y\nset format y '10^{%T}'\nset xlabel 't'\n"
                            "set ylabel '||dL/dh_t||'\nplot " + join(grad_lines);
  examples::run_gnuplot(dir / ("loss_" + stem + ".gnuplot"), losses);
  examples::run_gnuplot(dir / ("grad_norms_" + stem + ".gnuplot"), grads);
}

// The tasks --task names, "all" standing for every task; each task once, in the order first
// named ("all,adding" is every task, not adding twice).
std::vector<lag::Task> selected_tasks(const std::vector<std::string>& task_names) {
  std::vector<lag::Task> tasks;
  const auto add = [&tasks](lag::Task task) {
    if (std::find(tasks.begin(), tasks.end(), task) == tasks.end()) tasks.push_back(task);
  };
  for (const std::string& name : task_names) {
    if (name == "all") {
      for (const lag::Task task : {lag::Task::Adding, lag::Task::Copy, lag::Task::Sine}) add(task);
    } else {
      add(lag::parse_task(name));
    }
  }
  return tasks;
}

std::string fixed3(double value) {
  if (!std::isfinite(value)) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(3) << value;
  return out.str();
}

void print_summary(const std::vector<lag::RunResult>& runs) {
  std::cout << "\n" << std::left << std::setw(7) << "task" << std::right << std::setw(5) << "lag"
            << std::setw(5) << "T" << "  " << std::left << std::setw(5) << "cell" << std::right
            << std::setw(8) << "params" << std::setw(9) << "time s" << std::setw(11) << "eval loss"
            << std::setw(10) << "baseline" << std::setw(8) << "ratio" << std::setw(8) << "acc"
            << std::setw(12) << "|g0|/|gT|" << std::setw(10) << "f sat" << "\n";
  for (const lag::RunResult& r : runs) {
    const lag::GateSaturation* forget = find_gate(r, r.cell == "gru" ? "update" : "forget");
    std::cout << std::left << std::setw(7) << lag::task_name(r.spec.task) << std::right
              << std::setw(5) << r.spec.lag << std::setw(5) << r.spec.sequence_length() << "  "
              << std::left << std::setw(5) << r.cell << std::right << std::setw(8) << r.parameters
              << std::fixed << std::setprecision(1) << std::setw(9) << r.train_seconds
              << std::setprecision(4) << std::setw(11) << r.eval.loss << std::setw(10)
              << r.baseline << std::setprecision(3) << std::setw(8) << r.ratio() << std::setw(8)
              << fixed3(r.eval.accuracy) << std::scientific << std::setprecision(2)
              << std::setw(12) << r.grad_ratio() << std::setw(10)
              << fixed3(forget ? forget->saturated() : NAN) << std::defaultfloat << "\n";
  }
  std::cout << "ratio = eval loss / baseline (1 = no better than ignoring the input); acc = "
               "copied symbols right (copy); |g0|/|gT| = ||dL/dh_0|| / ||dL/dh_T-1|| after "
               "training; f sat = saturated forget (LSTM) or update (GRU) gate fraction\n";
}

}  // namespace

int main(int argc, char** argv) {
  cli::Program program("rnn_vs_lstm",
                       "RNN, LSTM and GRU on long-lag tasks: loss, gradient flow, gate saturation");
  CLI::App& app = program.app();
  std::vector<std::string> task_names = {"all"};
  std::vector<std::int64_t> lags = {10, 50, 100};
  std::vector<std::string> cells = {"rnn", "lstm", "gru"};
  lag::RunOptions options;
  lag::TaskSpec task_options;  // the task and lag of each run are set in the loop below
  std::string forget_bias = "none";
  std::filesystem::path out_dir = "rnn_vs_lstm_out";
  bool quiet = false;
  cli::add_list(app, "--task", task_names, cli::one_of({"adding", "copy", "sine", "all"}),
                "comma-separated tasks among adding, copy, sine; or all");
  cli::add_list(app, "--lags", lags, cli::integer_in(0, 100'000),
                "comma-separated lags (adding: T; copy: delay; sine: lag)");
  // "rnn" (the tanh RNN) and every registered cell: the variants and any user cell too.
  std::vector<std::string> cell_choices = {"rnn"};
  for (const std::string& name : tapegrad::nn::registered_cells()) cell_choices.push_back(name);
  std::string cell_list;
  for (const std::string& name : cell_choices) cell_list += (cell_list.empty() ? "" : ", ") + name;
  cli::add_list(app, "--cells", cells, cli::one_of(cell_choices),
                "comma-separated cells among " + cell_list);
  app.add_option("--hidden", options.hidden_size, "hidden size of every cell")
      ->check(cli::integer_in(1, 4096));
  app.add_option("--steps", options.steps, "training steps (one fresh batch each)")
      ->check(cli::integer_in(1, 1'000'000'000));
  app.add_option("--batch-size", options.batch_size, "sequences per training step")
      ->check(cli::integer_in(1, 1'000'000));
  program.add_lr(options.lr);
  const CLI::Validator bias_value = cli::real_in(-100.0, 100.0);
  app.add_option("--lstm-forget-bias", forget_bias,
                 "LSTM forget-gate bias at initialisation (e.g. 1), or none for PyTorch's init")
      ->check(CLI::Validator(
          [bias_value](std::string& text) -> std::string {
            if (text == "none" || bias_value(text).empty()) return {};
            return "expected none or a finite number in [-100, 100], got \"" + text + "\"";
          },
          "none or " + bias_value.get_description()));
  app.add_option("--clip", options.clip_norm, "clip_grad_norm_ max norm, the same for every cell")
      ->check(cli::positive_real());
  program.add_seed(options.seed, "seed of the initialisation and the training batches");
  program.add_matmul_precision(options.matmul_precision);
  app.add_option("--eval-size", options.eval_size,
                 "held-out sequences (a fixed set, the same for every seed)")
      ->check(cli::integer_in(1, 1'000'000));
  app.add_option("--probe-size", options.probe_size,
                 "held-out sequences used for gradient norms and gate statistics")
      ->check(cli::integer_in(1, 1'000'000));
  app.add_option("--log-every", options.log_every, "steps per loss-curve point")
      ->check(cli::integer_in(1, 1'000'000'000));
  app.add_option("--copy-symbols", task_options.copy_symbols, "copy task: alphabet size K")
      ->check(cli::integer_in(1, 10'000));
  app.add_option("--copy-length", task_options.copy_length, "copy task: symbols to remember S")
      ->check(cli::integer_in(1, 100'000));
  app.add_option("--sine-context", task_options.sine_context, "delayed sine: T = lag + this")
      ->check(cli::integer_in(1, 100'000));
  app.add_option("--sine-noise", task_options.sine_noise,
                 "delayed sine: noise std (what must be remembered)")
      ->check(cli::non_negative_real());
  program.add_threads();
  program.add_out_dir(out_dir, "where the CSV, JSON and PNG files go (created if missing)", [&] {
    std::vector<std::string> names = {"results.csv", "results.json", "curves.csv",
                                      "grad_norms.csv", "gate_saturation.csv"};
    for (const lag::Task task : selected_tasks(task_names)) {
      for (const std::int64_t lag_value : lags) {
        const std::string stem = lag::task_name(task) + "_lag" + std::to_string(lag_value);
        for (const std::string plot_name : {"loss_", "grad_norms_"}) {
          names.insert(names.end(), {plot_name + stem + ".png", plot_name + stem + ".gnuplot"});
        }
      }
    }
    return names;
  });
  app.add_flag("--quiet", quiet, "no per-step progress lines")->disable_flag_override();

  // Every task at every lag makes one sample before training, so a lag a task cannot take (the
  // adding problem needs T >= 2) is a bad flag, not a failure after hours of training.
  program.add_combination_check("--task, --lags, --copy-length, --sine-context", [&] {
    for (const lag::Task task : selected_tasks(task_names)) {
      for (const std::int64_t lag_value : lags) {
        lag::TaskSpec spec = task_options;
        spec.task = task;
        spec.lag = lag_value;
        Generator check_generator(0);
        lag::make_batch(spec, 1, check_generator);
      }
    }
  });

  return program.run(argc, argv, [&] {
    if (forget_bias != "none") options.lstm_forget_bias = cli::to_float(forget_bias);
    const std::vector<lag::Task> tasks = selected_tasks(task_names);

    std::cout << "rnn_vs_lstm: hidden " << options.hidden_size << ", " << options.steps
              << " steps of " << options.batch_size << ", Adam lr " << options.lr << ", clip "
              << options.clip_norm << ", seed " << options.seed << ", matmul precision "
              << cli::matmul_precision_name(options.matmul_precision) << std::endl;
    std::vector<lag::RunResult> runs;
    for (lag::Task task : tasks) {
      for (std::int64_t lag_value : lags) {
        lag::TaskSpec spec = task_options;
        spec.task = task;
        spec.lag = lag_value;
        double baseline = 0.0;
        for (const std::string& cell : cells) {
          std::cout << lag::task_name(task) << " lag " << lag_value << " (T = "
                    << spec.sequence_length() << "): " << cell << std::endl;
          runs.push_back(lag::run_experiment(spec, cell, options, quiet ? nullptr : &std::cout));
          baseline = runs.back().baseline;
          write_results(out_dir, runs);  // after every run, so a long sweep can be watched
        }
        plot(out_dir, lag::task_name(task), lag_value, cells, baseline);
      }
    }
    print_summary(runs);
    std::cout << "wrote results.csv, results.json, curves.csv, grad_norms.csv, "
                 "gate_saturation.csv and PNGs to " << out_dir.string() << "\n";
    return 0;
  });
}
