// The example programs as a user runs them, spawned without a shell (example_process.h): every
// bad flag is refused with exit code 2 and a message naming the flag and the value, before any
// training; an output that cannot be written is refused before training; a non-finite loss stops
// the run naming the epoch; a hostile or merely unusual --out-dir never reaches a shell or
// gnuplot's command syntax. Sizes are tiny: these runs take milliseconds each.
#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "example_process.h"
#include "example_util.h"
#include "support/gnuplot.h"
#include "test_util.h"

using examples::testing::ProgramRun;
using examples::testing::run_example;
using examples::testing::ScratchDir;

namespace {

const std::string sine_forecast = TAPEGRAD_EXAMPLE_SINE_FORECAST;
const std::string stacked_lstm = TAPEGRAD_EXAMPLE_STACKED_LSTM;
const std::string rnn_vs_lstm = TAPEGRAD_EXAMPLE_RNN_VS_LSTM;
const std::string sentiment = TAPEGRAD_EXAMPLE_SENTIMENT;
const std::string custom_op = TAPEGRAD_EXAMPLE_CUSTOM_OP;
const std::string custom_cell = TAPEGRAD_EXAMPLE_CUSTOM_CELL;
const std::string forecast = TAPEGRAD_EXAMPLE_FORECAST;
const std::vector<std::string> all_programs = {sine_forecast, stacked_lstm, rnn_vs_lstm, sentiment,
                                               custom_op, custom_cell, forecast};

// Small runs of each program that train in well under a second.
std::vector<std::string> tiny_sine(const std::filesystem::path& out_dir) {
  return {"--points", "40", "--hidden", "4", "--epochs", "2", "--out-dir", out_dir.string()};
}
std::vector<std::string> tiny_stacked(const std::filesystem::path& out_dir) {
  return {"--points", "120", "--hidden", "4", "--epochs", "1", "--chunk", "10",
          "--streams", "2", "--out-dir", out_dir.string()};
}
std::vector<std::string> tiny_rnn_vs_lstm(const std::filesystem::path& out_dir) {
  return {"--task", "adding", "--lags", "5", "--cells", "lstm", "--hidden", "4",
          "--steps", "3", "--batch-size", "4", "--eval-size", "8", "--probe-size", "4",
          "--quiet", "--out-dir", out_dir.string()};
}

// `arguments` with each flag of `changes` set to its new value (replaced if present, else added).
std::vector<std::string> with(std::vector<std::string> arguments,
                              const std::vector<std::pair<std::string, std::string>>& changes) {
  for (const auto& [flag, value] : changes) {
    const auto at = std::find(arguments.begin(), arguments.end(), flag);
    if (at != arguments.end()) {
      *std::next(at) = value;
    } else {
      arguments.insert(arguments.end(), {flag, value});
    }
  }
  return arguments;
}

std::string program_name(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

}  // namespace

TEST_CASE("every example refuses a bad flag: exit 2, the flag and the value on stderr, no training",
          "[examples][cli]") {
  struct BadFlag {
    std::string program;
    std::vector<std::string> arguments;
    std::string flag, value;  // both must appear in the message
  };
  const std::vector<BadFlag> cases = {
      {sine_forecast, {"--epochs", "0"}, "--epochs", "\"0\""},
      {sine_forecast, {"--epochs", "-1"}, "--epochs", "\"-1\""},
      {sine_forecast, {"--hidden", "99999999999999999999"}, "--hidden", "99999999999999999999"},
      {sine_forecast, {"--hidden", "12abc"}, "--hidden", "12abc"},
      {sine_forecast, {"--lr", "inf"}, "--lr", "\"inf\""},
      {sine_forecast, {"--lr", "nan"}, "--lr", "\"nan\""},
      {sine_forecast, {"--lr", "0"}, "--lr", "\"0\""},
      {sine_forecast, {"--lr", "1e39"}, "--lr", "1e39"},  // finite as a double, inf as a float
      {sine_forecast, {"--threads", "-1"}, "--threads", "\"-1\""},
      {sine_forecast, {"--threads", "100000"}, "--threads", "100000"},
      {sine_forecast, {"--cell", "LSTM"}, "--cell", "LSTM"},
      {sine_forecast, {"--rng", ""}, "--rng", "\"\""},
      {sine_forecast, {"--seq-length", "1000"}, "--seq-length", "1000"},
      {sine_forecast, {"--seed", "-1"}, "--seed", "\"-1\""},
      {sine_forecast, {"--out-dir", ""}, "--out-dir", "\"\""},
      {sine_forecast, {"--init", "/nonexistent/init.safetensors"}, "--init", "/nonexistent/init"},
      {sine_forecast, {"--epoch", "3"}, "--epoch", "3"},
      {sine_forecast, {"--max-steps", "0"}, "--max-steps", "\"0\""},
      {sine_forecast, {"--checkpoint", ""}, "--checkpoint", "\"\""},
      {stacked_lstm, {"--checkpoint-every", "3"}, "--checkpoint-every", "--checkpoint"},
      {stacked_lstm, {"--resume"}, "--resume", "--checkpoint"},
      {rnn_vs_lstm, {"--task", ""}, "--task", "\"\""},
      {rnn_vs_lstm, {"--task", "adding,,copy"}, "--task", "adding,,copy"},
      {rnn_vs_lstm, {"--steps", "0"}, "--steps", "\"0\""},
      {rnn_vs_lstm, {"--lags", "5,,5"}, "--lags", "5,,5"},
      {rnn_vs_lstm, {"--lags", "abc"}, "--lags", "abc"},
      {rnn_vs_lstm, {"--lags", "10,-5"}, "--lags", "-5"},
      {rnn_vs_lstm, {"--cells", "rnn,lstmx"}, "--cells", "lstmx"},
      {rnn_vs_lstm, {"--threads", "-1"}, "--threads", "\"-1\""},
      {rnn_vs_lstm, {"--threads", "100000"}, "--threads", "100000"},
      {rnn_vs_lstm, {"--hidden", "99999999999999999999"}, "--hidden", "99999999999999999999"},
      {rnn_vs_lstm, {"--lstm-forget-bias", "inf"}, "--lstm-forget-bias", "inf"},
      {rnn_vs_lstm, {"--quiet", "1"}, "--quiet", "\"1\""},
      {sentiment, {"--bidirectional", "7"}, "--bidirectional", "\"7\""},
      {sentiment, {"--bidirectional=7"}, "--bidirectional", "\"7\""},
      {sentiment, {"--predict", "good|"}, "--predict", "good|"},
      {sentiment, {"--cell", ""}, "--cell", "\"\""},
      {sentiment, {"--dropout", "1"}, "--dropout", "\"1\""},
      {stacked_lstm, {"--noise", "-1"}, "--noise", "\"-1\""},
      {stacked_lstm, {"--noise", "nan"}, "--noise", "\"nan\""},
      {stacked_lstm, {"--test-fraction", "1"}, "--test-fraction", "\"1\""},
      {custom_op, {"--epochs", "0"}, "--epochs", "\"0\""},
      {custom_op, {"--hidden", "0x10"}, "--hidden", "0x10"},
      {custom_cell, {"--timing", "text,short"}, "--timing", "short"},
      {custom_cell, {"--repeats", "-3"}, "--repeats", "\"-3\""},
      {custom_cell, {"--epochs", "0"}, "--epochs", "\"0\""},
  };
  for (const BadFlag& bad : cases) {
    std::string command = program_name(bad.program);
    for (const std::string& argument : bad.arguments) command += " [" + argument + "]";
    const ProgramRun run = run_example(bad.program, bad.arguments);
    INFO(command << "\n" << run.describe());
    CHECK(run.exit_code == 2);
    CHECK(run.err.find(bad.flag) != std::string::npos);
    CHECK(run.err.find(bad.value) != std::string::npos);
    CHECK(run.out.empty());  // refused before printing, let alone training, anything
  }
}

TEST_CASE("every example answers --help and --version on stdout and exit 0", "[examples][cli]") {
  for (const std::string& program : all_programs) {
    INFO(program_name(program));
    const ProgramRun help = run_example(program, {"--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("--threads") != std::string::npos);
    CHECK(help.out.find("--version") != std::string::npos);
    CHECK(help.out.find("Exit codes") != std::string::npos);
    const ProgramRun version = run_example(program, {"--version"});
    CHECK(version.exit_code == 0);
    CHECK(version.out.find("tapegrad " TAPEGRAD_VERSION) != std::string::npos);
  }
}

TEST_CASE("every example refuses a flag where a value belongs, and fails when stdout cannot be "
          "written",
          "[examples][cli]") {
  for (const std::string& program : all_programs) {
    INFO(program_name(program));
    // CLI11 alone takes the "--help" after "--threads" as its value.
    const ProgramRun forgotten = run_example(program, {"--threads", "--help"});
    INFO(forgotten.describe());
    CHECK(forgotten.exit_code == 2);
    CHECK(forgotten.err.find("--threads: expected a value, got the flag \"--help\"") !=
          std::string::npos);
    CHECK(forgotten.out.empty());  // neither the help text nor a run
    // The form with '=' still gives a value that starts with "--" (here a bad one, refused as such).
    const ProgramRun explicit_value = run_example(program, {"--threads=--help"});
    CHECK(explicit_value.exit_code == 2);
    CHECK(explicit_value.err.find("expected a value, got the flag") == std::string::npos);

    if (!std::filesystem::exists("/dev/full")) {
      WARN("no /dev/full: the failed-stdout check is skipped");
      continue;
    }
    ScratchDir capture;
    const examples::ProcessResult full = examples::run_process(
        program, {program_name(program), "--help"},
        {.stdin_from = "/dev/null", .stdout_to = "/dev/full", .stderr_to = capture.path() / "err"});
    const std::string err = examples::testing::read_text(capture.path() / "err");
    INFO(err);
    CHECK(full.exit_code == 1);
    CHECK(err.find("could not write to standard output") != std::string::npos);
  }
}

TEST_CASE("rnn_vs_lstm --task all,adding runs each task once", "[examples][cli]") {
  ScratchDir scratch;
  const ProgramRun run = run_example(
      rnn_vs_lstm, with(tiny_rnn_vs_lstm(scratch.path()), {{"--task", "all,adding"}}));
  INFO(run.describe());
  REQUIRE(run.exit_code == 0);
  const std::string csv = examples::testing::read_text(scratch.path() / "results.csv");
  const auto rows = std::count(csv.begin(), csv.end(), '\n') - 1;  // minus the header
  CHECK(rows == 3);  // adding, copy, sine: one cell, one lag each
}

TEST_CASE("sine_forecast and rnn_vs_lstm take --matmul-precision float32 or bfloat16, nothing else",
          "[examples][cli]") {
  ScratchDir scratch;
  struct Case {
    std::string program;
    std::vector<std::string> arguments;
  };
  const std::vector<Case> cases = {{sine_forecast, tiny_sine(scratch.path() / "sine")},
                                   {rnn_vs_lstm, tiny_rnn_vs_lstm(scratch.path() / "lag")}};
  for (const Case& c : cases) {
    INFO(program_name(c.program));
    for (const std::string bad : {"bogus", "bf16", "BFLOAT16", "float16", ""}) {
      const ProgramRun refused =
          run_example(c.program, with(c.arguments, {{"--matmul-precision", bad}}));
      INFO("[" << bad << "]\n" << refused.describe());
      CHECK(refused.exit_code == 2);
      CHECK(refused.err.find("--matmul-precision") != std::string::npos);
      CHECK(refused.err.find("expected one of float32, bfloat16; got \"" + bad + "\"") !=
            std::string::npos);
      CHECK(refused.out.empty());  // refused before anything ran
    }
    const ProgramRun help = run_example(c.program, {"--help"});
    CHECK(help.out.find("--matmul-precision") != std::string::npos);
    // The settings line names the precision the run used, float32 unless asked.
    const ProgramRun default_run = run_example(c.program, c.arguments);
    INFO(default_run.describe());
    CHECK(default_run.exit_code == 0);
    CHECK(default_run.out.find("matmul precision float32") != std::string::npos);
    const ProgramRun bf16_run =
        run_example(c.program, with(c.arguments, {{"--matmul-precision", "bfloat16"}}));
    INFO(bf16_run.describe());
    CHECK(bf16_run.exit_code == 0);
    CHECK(bf16_run.out.find("matmul precision bfloat16") != std::string::npos);
  }
}

TEST_CASE("sine_forecast --epochs 0 is refused, never reaches an empty loss history",
          "[examples][cli]") {
  // It used to crash reading losses.back() of zero epochs (SIGSEGV).
  for (const std::string epochs : {"0", "-1"}) {
    const ProgramRun run = run_example(sine_forecast, {"--epochs", epochs});
    INFO(run.describe());
    CHECK(run.signal == 0);
    CHECK(run.exit_code == 2);
  }
}

TEST_CASE("an output that cannot be written is refused before training", "[examples][cli]") {
  ScratchDir scratch;
  const auto blocker = scratch.path() / "a_file";
  std::ofstream(blocker) << "not a directory\n";
  const auto out_dir = blocker / "out";  // a directory inside a regular file: ENOTDIR, even as root
  struct Case {
    std::string program;
    std::vector<std::string> arguments;
  };
  const std::vector<Case> cases = {{sine_forecast, tiny_sine(out_dir)},
                                   {stacked_lstm, tiny_stacked(out_dir)},
                                   {rnn_vs_lstm, tiny_rnn_vs_lstm(out_dir)}};
  for (const Case& c : cases) {
    const ProgramRun run = run_example(c.program, c.arguments);
    INFO(program_name(c.program) << "\n" << run.describe());
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("cannot create the output directory") != std::string::npos);
    CHECK(run.err.find(out_dir.string()) != std::string::npos);
    CHECK(run.out.empty());  // no header line, no epoch: nothing trained
  }
  // --save into a directory that does not exist.
  const ProgramRun run = run_example(
      sine_forecast, with(tiny_sine(scratch.path() / "out"),
                          {{"--save", (scratch.path() / "missing" / "m.safetensors").string()}}));
  INFO(run.describe());
  CHECK(run.exit_code == 1);
  CHECK(run.err.find("does not exist") != std::string::npos);
  CHECK(run.out.empty());
}

TEST_CASE("save: --save refuses to replace what is not a regular file, and refuses an empty path",
          "[examples][cli]") {
  ScratchDir scratch;
  const auto out_dir = scratch.path() / "out";
  const auto fifo = scratch.path() / "a_fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto victim = scratch.path() / "victim.txt";
  std::ofstream(victim) << "keep me\n";
  const auto link = scratch.path() / "link.safetensors";
  std::filesystem::create_symlink(victim, link);
  const auto directory = scratch.path() / "a_directory";
  std::filesystem::create_directories(directory);
  for (const auto& target : {fifo, link, directory, std::filesystem::path("/dev/null")}) {
    const ProgramRun run =
        run_example(sine_forecast, with(tiny_sine(out_dir), {{"--save", target.string()}}));
    INFO(run.describe());
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("--save") != std::string::npos);
    CHECK(run.err.find(target.string()) != std::string::npos);
    CHECK(run.out.empty());
  }
  CHECK(std::filesystem::is_fifo(std::filesystem::symlink_status(fifo)));
  CHECK(std::filesystem::is_symlink(std::filesystem::symlink_status(link)));
  CHECK(examples::testing::read_text(victim) == "keep me\n");
  CHECK(std::filesystem::is_character_file("/dev/null"));

  const ProgramRun empty = run_example(sine_forecast, with(tiny_sine(out_dir), {{"--save", ""}}));
  INFO(empty.describe());
  CHECK(empty.exit_code == 2);
  CHECK(empty.err.find("--save") != std::string::npos);
  CHECK(empty.out.empty());

  // A regular file is replaced, as before.
  const auto model = scratch.path() / "model.safetensors";
  std::ofstream(model) << "old\n";
  const ProgramRun saved = run_example(sine_forecast, with(tiny_sine(out_dir), {{"--save", model.string()}}));
  INFO(saved.describe());
  CHECK(saved.exit_code == 0);
  CHECK(examples::testing::read_text(model) != "old\n");
}

TEST_CASE("the write probe neither follows nor truncates a file planted under its name",
          "[examples][cli]") {
  ScratchDir scratch;
  const auto out_dir = scratch.path() / "out";
  std::filesystem::create_directories(out_dir);
  const auto victim = scratch.path() / "victim.txt";
  std::ofstream(victim) << "keep me\n";
  // A spawned program's pid is unknown before it runs, so the probe itself runs here, with this
  // process's pid, against links planted under its first three names and the name it once had.
  const std::string prefix = ".tapegrad-write-probe-" + std::to_string(::getpid());
  std::filesystem::create_symlink(victim, out_dir / prefix);
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::filesystem::create_symlink(victim, out_dir / (prefix + "-" + std::to_string(attempt)));
  }
  examples::probe_writable_dir(out_dir);
  CHECK(examples::testing::read_text(victim) == "keep me\n");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(out_dir)) ++entries;
  CHECK(entries == 4);  // the planted links only: the probe removed its own file
}

TEST_CASE("a file the program writes in --out-dir that is not a regular file is refused before "
          "training, exit 2",
          "[examples][cli]") {
  struct Case {
    std::string program;
    std::vector<std::string> (*arguments)(const std::filesystem::path&);
    std::string taken_name;
  };
  const std::vector<Case> cases = {{sine_forecast, tiny_sine, "predictions.csv"},
                                   {sine_forecast, tiny_sine, "predictions.png"},
                                   {stacked_lstm, tiny_stacked, "tail_predictions.csv"},
                                   {rnn_vs_lstm, tiny_rnn_vs_lstm, "results.csv"},
                                   {rnn_vs_lstm, tiny_rnn_vs_lstm, "loss_adding_lag5.png"}};
  for (const Case& c : cases) {
    ScratchDir scratch;
    const auto out_dir = scratch.path() / "out";
    std::filesystem::create_directories(out_dir / c.taken_name);
    const ProgramRun run = run_example(c.program, c.arguments(out_dir));
    INFO(program_name(c.program) << " " << c.taken_name << "\n" << run.describe());
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("--out-dir") != std::string::npos);
    CHECK(run.err.find((out_dir / c.taken_name).string()) != std::string::npos);
    CHECK(run.out.empty());
  }
}

TEST_CASE("a non-finite loss stops every example with the epoch (or step) named, exit 1",
          "[examples][cli]") {
  ScratchDir scratch;
  // Adam moves every weight by about lr per step whatever the gradient: lr 1e30 makes the next
  // forward overflow to inf or NaN.
  {
    const ProgramRun run = run_example(
        sine_forecast, with(tiny_sine(scratch.path() / "sine"),
                            {{"--epochs", "5"}, {"--print-every", "1"}, {"--lr", "1e30"}}));
    INFO(run.describe());
    REQUIRE(run.exit_code == 1);
    // The run printed every finite epoch; the error names the next one.
    const std::regex epoch_line("epoch +[0-9]+/5  loss");
    const auto finite_epochs = std::distance(
        std::sregex_iterator(run.out.begin(), run.out.end(), epoch_line), std::sregex_iterator());
    REQUIRE(finite_epochs >= 1);
    CHECK(run.err.find("non-finite training loss") != std::string::npos);
    CHECK(run.err.find("at epoch " + std::to_string(finite_epochs + 1) + ";") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(scratch.path() / "sine" / "predictions.csv"));
  }
  struct Case {
    std::string program;
    std::vector<std::string> arguments;
    std::string where;  // a regex for the position in the message
  };
  const std::vector<Case> cases = {
      {stacked_lstm, with(tiny_stacked(scratch.path() / "stacked"), {{"--epochs", "3"}, {"--lr", "1e30"}}),
       "at epoch [0-9]+, step [0-9]+;"},
      {rnn_vs_lstm, with(tiny_rnn_vs_lstm(scratch.path() / "lag"), {{"--steps", "5"}, {"--lr", "1e30"}}),
       "at step [0-9]+;"},
      // BCE with logits stays finite far longer: the logits themselves must overflow.
      {sentiment, {"--epochs", "2", "--hidden", "4", "--embedding-dim", "4", "--lr", "3e38"},
       "at epoch [0-9]+, step [0-9]+;"},
      {custom_op, {"--epochs", "5", "--hidden", "2", "--seq-length", "3", "--lr", "1e30"},
       "at epoch [0-9]+;"},
      {custom_cell, {"--epochs", "5", "--hidden", "2", "--timing", "none", "--lr", "1e30"},
       "at epoch [0-9]+;"},
  };
  for (const Case& c : cases) {
    const ProgramRun run = run_example(c.program, c.arguments);
    INFO(program_name(c.program) << "\n" << run.describe());
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("non-finite training loss") != std::string::npos);
    CHECK(std::regex_search(run.err, std::regex(c.where)));
  }
}

TEST_CASE("sentiment: parameters that overflow at the last step stop the run, exit 1, no NaN "
          "reported",
          "[examples][cli]") {
  // One batch, one epoch: the one loss is finite, its Adam step (lr 3e38) overflows the weights.
  const ProgramRun run = run_example(sentiment, {"--epochs", "1", "--hidden", "4", "--embedding-dim",
                                                 "4", "--lr", "3e38", "--batch-size", "1000000"});
  INFO(run.describe());
  CHECK(run.exit_code == 1);
  CHECK(run.err.find("non-finite model output") != std::string::npos);
  CHECK(run.err.find("evaluation after epoch 1") != std::string::npos);
  CHECK(run.out.find("nan") == std::string::npos);
  CHECK(run.out.find("P(positive)") == std::string::npos);
}

TEST_CASE("rnn_vs_lstm --lstm-forget-bias takes a subnormal as the check accepted it",
          "[examples][cli]") {
  ScratchDir scratch;
  const ProgramRun run = run_example(
      rnn_vs_lstm, with(tiny_rnn_vs_lstm(scratch.path()), {{"--lstm-forget-bias", "1e-38"}}));
  INFO(run.describe());
  CHECK(run.exit_code == 0);
  CHECK(run.err.find("stof") == std::string::npos);
  CHECK(std::filesystem::exists(scratch.path() / "results.csv"));
}

TEST_CASE("an input file must be a regular file: a FIFO or a directory is refused, exit 2",
          "[examples][cli]") {
  ScratchDir scratch;
  const auto fifo = scratch.path() / "a_fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto directory = scratch.path() / "a_directory";
  std::filesystem::create_directories(directory);
  for (const auto& input : {fifo, directory}) {
    // Before the fix the FIFO case blocked forever in open(), waiting for a writer.
    const std::vector<std::pair<std::string, std::vector<std::string>>> runs = {
        {"--init", with(tiny_sine(scratch.path() / "out"), {{"--init", input.string()}})},
        {"--data", {"--epochs", "1", "--data", input.string()}}};
    for (const auto& [flag, arguments] : runs) {
      const ProgramRun run = run_example(flag == "--init" ? sine_forecast : sentiment, arguments);
      INFO(flag << " " << input << "\n" << run.describe());
      CHECK(run.exit_code == 2);
      CHECK(run.err.find(flag) != std::string::npos);
      CHECK(run.err.find(input.string()) != std::string::npos);
      CHECK(run.out.empty());
    }
  }
}

TEST_CASE("custom_op --epochs 1, the documented minimum, compares the loss before and after the "
          "step",
          "[examples][cli]") {
  for (const std::string seed : {"0", "1", "2"}) {
    const ProgramRun run = run_example(custom_op, {"--epochs", "1", "--seed", seed});
    INFO(run.describe());
    CHECK(run.exit_code == 0);
    CHECK(run.out.find("loss fell from") != std::string::npos);
  }
}

TEST_CASE("custom_cell: the user's cell registers, gradchecks, matches its composed form, trains and "
          "is timed",
          "[examples][cli]") {
  {
    const ProgramRun run = run_example(custom_cell, {"--timing", "none"});
    INFO(run.describe());
    CHECK(run.exit_code == 0);
    CHECK(run.out.find("gradcheck (input, h0): ok") != std::string::npos);
    CHECK(run.out.find("fused vs composed") != std::string::npos);
    CHECK(run.out.find("after 150 steps") != std::string::npos);
    CHECK(run.out.find("training step") == std::string::npos);  // nothing timed
  }
  {
    // One config, one timed step each: the timing table has exactly that row.
    const ProgramRun run =
        run_example(custom_cell, {"--epochs", "100", "--timing", "online", "--repeats", "1"});
    INFO(run.describe());
    CHECK(run.exit_code == 0);
    CHECK(run.out.find("after 100 steps") != std::string::npos);
    CHECK(std::regex_search(run.out, std::regex("online T=50 B=1 +[0-9.]+ +[0-9.]+ +[0-9.]+")));
    CHECK(run.out.find("text T=") == std::string::npos);
  }
  {
    const ProgramRun run = run_example(custom_cell, {"--timing", "none,text"});
    INFO(run.describe());
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("--timing") != std::string::npos);
    CHECK(run.out.empty());
  }
}

TEST_CASE("TAPEGRAD_NUM_THREADS: a bad value is refused like a bad flag, --threads overrides it",
          "[examples][cli]") {
  ScratchDir scratch;
  for (const std::string bad : {"abc", "0", "2000"}) {
    const ProgramRun run = run_example(sine_forecast, tiny_sine(scratch.path() / "bad"), {},
                                       {"TAPEGRAD_NUM_THREADS=" + bad});
    INFO(run.describe());
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("TAPEGRAD_NUM_THREADS") != std::string::npos);
    CHECK(run.err.find("\"" + bad + "\"") != std::string::npos);
    CHECK(run.out.empty());  // nothing ran
  }
  // The flag is the explicit choice: the variable is then not read.
  const ProgramRun flagged = run_example(
      sine_forecast, with(tiny_sine(scratch.path() / "flag"), {{"--threads", "1"}}), {},
      {"TAPEGRAD_NUM_THREADS=abc"});
  INFO(flagged.describe());
  CHECK(flagged.exit_code == 0);
  const ProgramRun good = run_example(sine_forecast, tiny_sine(scratch.path() / "good"), {},
                                      {"TAPEGRAD_NUM_THREADS=1"});
  INFO(good.describe());
  CHECK(good.exit_code == 0);
}

TEST_CASE("flag combinations a run cannot take are refused at parse time, exit 2, naming the flags",
          "[examples][cli]") {
  ScratchDir scratch;
  struct Case {
    std::string program;
    std::vector<std::string> arguments;
    std::vector<std::string> flags;
  };
  const std::vector<std::string> split_flags = {"--points", "--test-fraction", "--streams"};
  const std::vector<Case> cases = {
      {stacked_lstm, with(tiny_stacked(scratch.path() / "s"), {{"--points", "2"}}), split_flags},
      {stacked_lstm, with(tiny_stacked(scratch.path() / "s"), {{"--streams", "100000"}}), split_flags},
      {stacked_lstm, with(tiny_stacked(scratch.path() / "s"), {{"--test-fraction", "1e-45"}}),
       split_flags},
      {rnn_vs_lstm, with(tiny_rnn_vs_lstm(scratch.path() / "r"), {{"--lags", "0"}}),
       {"--task", "--lags"}},
  };
  for (const Case& c : cases) {
    const ProgramRun run = run_example(c.program, c.arguments);
    INFO(program_name(c.program) << "\n" << run.describe());
    CHECK(run.exit_code == 2);
    for (const std::string& flag : c.flags) CHECK(run.err.find(flag) != std::string::npos);
    CHECK(run.out.empty());
  }
  CHECK_FALSE(std::filesystem::exists(scratch.path() / "s"));  // refused before the out dir
  CHECK_FALSE(std::filesystem::exists(scratch.path() / "r"));
}

TEST_CASE("plots: --out-dir never reaches a shell or gnuplot's command syntax, and any name gets its plot",
          "[examples][cli][gnuplot]") {
  ScratchDir scratch;
  const auto base = scratch.path();
  // Each name would run `touch` through the old std::system("gnuplot '" + path + "'") or through
  // gnuplot itself (backquotes run in double-quoted strings; '<cmd' and '|cmd' file names are
  // pipes). The commands name absolute paths, so whatever shell might run them, the evidence
  // lands in `base`.
  const std::string pwned = (base / "PWNED").string();
  const std::vector<std::string> relative_names = {
      "x';touch " + pwned + ";'",           // the shell quoting of the old run_gnuplot
      "run's output",                       // an apostrophe broke the old gnuplot script
      "`touch " + pwned + "`",               // gnuplot backquote substitution
      "$(touch " + pwned + ") and \"quotes\" \\ and $HOME",
      "<touch " + pwned + ";x",              // gnuplot: plot '<cmd' reads a pipe
      "|touch " + pwned + ";x",              // gnuplot: set output '|cmd' writes to a pipe
      "line\nbreak",
  };
  for (const std::string& name : relative_names) {
    // Relative to the program's working directory, as a user types it.
    const ProgramRun run = run_example(sine_forecast, tiny_sine(name), base);
    INFO("--out-dir [" << name << "]\n" << run.describe());
    CHECK(run.exit_code == 0);
    CHECK_FALSE(std::filesystem::exists(base / "PWNED"));
    CHECK(std::filesystem::exists(base / name / "predictions.csv"));
    if (examples::have_gnuplot()) {
      CHECK(std::filesystem::exists(base / name / "predictions.png"));
    } else {
      WARN("gnuplot is not on PATH: the plots were not checked (apt-get install gnuplot-nox)");
    }
  }
  // stacked_lstm and rnn_vs_lstm write their scripts the same way.
  const std::string hostile = "it's `touch " + pwned + "`;'";
  const ProgramRun stacked = run_example(stacked_lstm, tiny_stacked(base / hostile));
  INFO(stacked.describe());
  CHECK(stacked.exit_code == 0);
  const ProgramRun lag = run_example(rnn_vs_lstm, tiny_rnn_vs_lstm(base / ("lag " + hostile)));
  INFO(lag.describe());
  CHECK(lag.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(base / "PWNED"));
  if (examples::have_gnuplot()) {
    CHECK(std::filesystem::exists(base / hostile / "tail_predictions.png"));
    CHECK(std::filesystem::exists(base / ("lag " + hostile) / "loss_adding_lag5.png"));
    CHECK(std::filesystem::exists(base / ("lag " + hostile) / "grad_norms_adding_lag5.png"));
  }
}

TEST_CASE("resume: a program stopped by --max-steps and resumed from its --checkpoint ends where "
          "an uninterrupted one does",
          "[examples][cli][resume]") {
  // sine_forecast takes one step per epoch; stacked_lstm's tiny run 5 chunks per epoch (47 steps
  // per stream in chunks of 10), so its stop at step 4 is mid-epoch. The bit-for-bit comparisons
  // are in test_sine_forecast.cpp and test_stacked_lstm.cpp; here the printed results agree.
  struct Case {
    std::string program;
    std::vector<std::string> arguments;
    std::string stop_at;
    std::string final_line;  // the line that sums the run up, printed with full precision below
  };
  ScratchDir dir;
  const std::vector<Case> cases = {
      {sine_forecast, with(tiny_sine(dir.path()), {{"--epochs", "5"}}), "2",
       "final training loss"},
      {stacked_lstm, with(tiny_stacked(dir.path()), {{"--epochs", "3"}, {"--dropout", "0.3"}}),
       "4", "held-out tail"},
  };
  for (const Case& c : cases) {
    INFO(program_name(c.program));
    const std::string checkpoint = (dir.path() / (program_name(c.program) + ".state")).string();
    const auto summary = [&](const ProgramRun& run) {
      const std::size_t at = run.out.find(c.final_line);
      REQUIRE(at != std::string::npos);
      return run.out.substr(at, run.out.find('\n', at) - at);
    };
    const ProgramRun whole = run_example(c.program, c.arguments);
    INFO(whole.describe());
    REQUIRE(whole.exit_code == 0);

    const ProgramRun stopped = run_example(
        c.program, with(c.arguments, {{"--max-steps", c.stop_at}, {"--checkpoint", checkpoint}}));
    INFO(stopped.describe());
    REQUIRE(stopped.exit_code == 0);
    REQUIRE(stopped.out.find("stopped after") != std::string::npos);
    REQUIRE(stopped.out.find(c.final_line) == std::string::npos);  // no evaluation yet

    std::vector<std::string> resume_arguments = with(c.arguments, {{"--checkpoint", checkpoint}});
    resume_arguments.push_back("--resume");
    const ProgramRun resumed = run_example(c.program, resume_arguments);
    INFO(resumed.describe());
    REQUIRE(resumed.exit_code == 0);
    // Timings aside, the summary lines (losses, MSEs) are the same text.
    const std::regex timing(" (trained|evaluated)[^,]* in [0-9.]+ s");
    REQUIRE(std::regex_replace(summary(resumed), timing, "") ==
            std::regex_replace(summary(whole), timing, ""));

    // --resume without --checkpoint is refused at parse time; a checkpoint of another model
    // fails the run (exit 1) with the mismatch named.
    std::vector<std::string> no_checkpoint = c.arguments;
    no_checkpoint.push_back("--resume");
    const ProgramRun refused = run_example(c.program, no_checkpoint);
    INFO(refused.describe());
    REQUIRE(refused.exit_code == 2);
    REQUIRE(refused.err.find("--checkpoint") != std::string::npos);
    resume_arguments = with(resume_arguments, {{"--hidden", "5"}});
    const ProgramRun mismatched = run_example(c.program, resume_arguments);
    INFO(mismatched.describe());
    REQUIRE(mismatched.exit_code == 1);
    REQUIRE(mismatched.err.find("shape mismatches") != std::string::npos);
  }
}
