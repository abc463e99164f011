#pragma once
// Command lines of the example programs, parsed with CLI11 (header-only, included by the
// programs and cli.cpp only). Every flag is typed and range-checked before anything runs; every
// refusal is one line on stderr naming the flag and quoting the bad value, with exit code 2.
//
//   examples::cli::Program program("sine_forecast", "an LSTM learns to continue a sine wave");
//   program.app().add_option("--hidden", config.hidden, "hidden size")
//       ->check(examples::cli::integer_in(1, 4096));
//   program.add_epochs(config.epochs, "full-batch training epochs");
//   return program.run(argc, argv, [&] { ...train...; return 0; });
#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/grad_mode.h"
#include "resume.h"

namespace examples::cli {

// ---- checks of one flag's text, run by CLI11 before it converts the text ----

// A base-10 integer in [min, max]. Refuses what CLI11 alone would accept or misread: an
// overflowing 99999999999999999999 (strtoll saturates), "-1" for an unsigned seed (strtoull
// wraps), hexadecimal "0x10" and leading zeros (CLI11 reads "010" as octal 8).
CLI::Validator integer_in(std::int64_t min, std::int64_t max);
CLI::Validator seed_value();  // any integer in [0, 2^64 - 1]

// A finite real in the given interval, which must also fit a float (the examples store floats):
// "inf", "nan", "1e39" and hexadecimal floats are refused.
enum class Open { neither, min, max, both };  // which ends of the interval are excluded
CLI::Validator real_in(double min, double max, Open open = Open::neither);
inline CLI::Validator positive_real() {
  return real_in(0.0, std::numeric_limits<float>::max(), Open::min);
}
inline CLI::Validator non_negative_real() {
  return real_in(0.0, std::numeric_limits<float>::max());
}

// The float a text that real_in accepted stands for, read the way real_in reads it (so a
// subnormal such as 1e-38 is the subnormal float, where std::stof would throw out_of_range).
// Throws std::invalid_argument for a text real_in refuses outright.
float to_float(const std::string& checked_text);

// One of `choices`, exactly (so "" and "LSTM" are refused).
CLI::Validator one_of(std::vector<std::string> choices);

// "float32" or "bfloat16": the names --matmul-precision takes and the programs print.
std::string matmul_precision_name(tapegrad::MatmulPrecision precision);

// An input file: an existing regular file, a symlink to one included. A FIFO, device or
// directory is refused, so reading it can neither block forever nor run without end.
CLI::Validator existing_regular_file();

// A non-empty text: paths and sentences.
CLI::Validator non_empty();

// A list option ("--lags 10,50"; the separator is ',' unless given): every item passes
// item_check, and an empty item ("5,,5") or an empty list is refused, and so is an item given
// twice ("lstm,lstm") unless repeats are allowed. The target keeps its value unless the flag is
// given.
enum class Repeats { refuse, allow };
CLI::Option* add_list(CLI::App& app, const std::string& name, std::vector<std::string>& target,
                      const CLI::Validator& item_check, const std::string& help,
                      Repeats repeats = Repeats::refuse, char separator = ',');
CLI::Option* add_list(CLI::App& app, const std::string& name, std::vector<std::int64_t>& target,
                      const CLI::Validator& item_check, const std::string& help,
                      Repeats repeats = Repeats::refuse, char separator = ',');

// ---- one example program ----

// A CLI11 app with --help and --version (tapegrad's version), the options every example defines
// alike, and run(): parse, then check the outputs, then train.
class Program {
 public:
  Program(std::string name, std::string description);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  CLI::App& app() { return app_; }
  const std::string& name() const { return name_; }

  // The options shared by the examples, with the same name, type and range everywhere.
  CLI::Option* add_epochs(std::int64_t& epochs, const std::string& help);   // [1, 1e6]
  CLI::Option* add_lr(float& lr, const std::string& help = "Adam learning rate");  // finite, > 0
  CLI::Option* add_seed(std::uint64_t& seed, const std::string& help);
  // --threads N in [1, 1024]: tapegrad::set_num_threads(N) before the body runs. Not given: the
  // library's default (TAPEGRAD_NUM_THREADS, else every core).
  CLI::Option* add_threads();
  // --matmul-precision float32|bfloat16 (autograd/grad_mode.h): the precision of the products of
  // matmul, linear and the recurrent layers. The program's training function wraps training and
  // evaluation in a tapegrad::MatmulPrecisionGuard of it.
  CLI::Option* add_matmul_precision(tapegrad::MatmulPrecision& precision);
  // An output directory, created and probed by run() before the body: a run that cannot write
  // its results fails at once instead of after training. file_names (called after parsing, so
  // names may depend on flags) lists every file the program writes in it; one that exists and is
  // not a regular file (a directory, symlink, device, FIFO) is refused as a bad --out-dir.
  CLI::Option* add_out_dir(std::filesystem::path& dir, const std::string& help,
                           std::function<std::vector<std::string>()> file_names);
  // An optional output file (not written unless given; "" is refused). An existing path that is
  // not a regular file is refused, a symlink included; run() checks its directory is writable.
  CLI::Option* add_output_file(const std::string& name, std::string& path, const std::string& help);
  // --checkpoint, --checkpoint-every, --max-steps and --resume into `options` (resumable
  // training, support/resume.h); --resume and --checkpoint-every require --checkpoint.
  void add_resume_options(ResumeOptions& options);

  // A check of several flags together, run after parsing: when it throws (the library's own
  // refusal, e.g. std::invalid_argument or tapegrad::ValueError),
  // run() prints "<name>: <flags>: <what>" and returns 2 before anything ran.
  void add_combination_check(std::string flags, std::function<void()> check);

  // Parses argv. --help and --version print to stdout and return 0. A bad flag prints
  // "<name>: <flag>: <why>" and a pointer to --help on stderr and returns 2. Otherwise it applies
  // --threads, prepares the outputs, runs body and returns its exit code; an exception from the
  // outputs or the body prints "<name>: <what>" on stderr and returns 1.
  // A flag given where a value belongs ("--out-dir --help") is refused the same way, and a run
  // whose standard output could not be written (a full disk) returns 1 with a message on stderr.
  int run(int argc, char** argv, const std::function<int()>& body);

 private:
  int run_unchecked_output(int argc, char** argv, const std::function<int()>& body);
  std::string describe(const CLI::ParseError& error, int argc, char** argv) const;
  // "<flag>: expected a value, got the flag ..." for the first value option followed by another
  // of this program's flags; "" when there is none.
  std::string flag_taken_as_value(int argc, char** argv) const;

  std::string name_;
  CLI::App app_;
  std::int64_t threads_ = 0;  // 0: --threads not given
  struct OutDir {
    const std::filesystem::path* dir;
    std::function<std::vector<std::string>()> file_names;
  };
  std::vector<OutDir> out_dirs_;
  std::vector<std::pair<std::string, std::function<void()>>> combination_checks_;
  std::vector<const std::string*> output_files_;
};

}  // namespace examples::cli
