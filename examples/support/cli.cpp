#include "cli.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iostream>
#include <optional>
#include <sstream>

#include "autograd/threads.h"
#include "example_util.h"

#ifndef TAPEGRAD_VERSION
#error "TAPEGRAD_VERSION (the CMake project version) must be defined by examples/CMakeLists.txt"
#endif

namespace examples::cli {

namespace {

std::string in_quotes(const std::string& text) { return "\"" + text + "\""; }

std::vector<std::string> split_keeping_empty(const std::string& text, char separator) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(separator, start);
    items.push_back(text.substr(start, end - start));
    if (end == std::string::npos) return items;
    start = end + 1;
  }
}

template <typename Int>
CLI::Validator integer_validator(Int min, Int max) {
  const std::string range = "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        Int value{};
        const char* const last = text.data() + text.size();
        const auto [end, error] = std::from_chars(text.data(), last, value);  // base 10, no '+'
        // CLI11 converts with base 0 afterwards, reading "010" as octal 8: no leading zeros.
        const std::size_t first_digit = text.rfind('-', 0) == 0 ? 1 : 0;
        const bool leading_zero = text.size() > first_digit + 1 && text[first_digit] == '0';
        if (text.empty() || error != std::errc() || end != last || leading_zero || value < min ||
            value > max) {
          return "expected an integer in " + range + ", got " + in_quotes(text);
        }
        return {};
      },
      "in " + range);
}

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

CLI::Validator integer_in(std::int64_t min, std::int64_t max) {
  return integer_validator<std::int64_t>(min, max);
}

CLI::Validator seed_value() {
  return integer_validator<std::uint64_t>(0, std::numeric_limits<std::uint64_t>::max());
}

namespace {

// The text as a finite double that fits a float, or nothing. from_chars takes decimal and
// scientific forms only (no hex, no leading '+' or space) and parses "inf" and "nan", which the
// finiteness check then refuses.
std::optional<double> read_real(const std::string& text) {
  double value = 0.0;
  const char* const last = text.data() + text.size();
  const auto [end, error] = std::from_chars(text.data(), last, value);
  if (text.empty() || error != std::errc() || end != last || !std::isfinite(value) ||
      std::abs(value) > std::numeric_limits<float>::max()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

float to_float(const std::string& checked_text) {
  const std::optional<double> value = read_real(checked_text);
  if (!value) throw std::invalid_argument("not a finite number: \"" + checked_text + "\"");
  return static_cast<float>(*value);
}

CLI::Validator real_in(double min, double max, Open open) {
  const bool min_open = open == Open::min || open == Open::both;
  const bool max_open = open == Open::max || open == Open::both;
  const std::string range =
      max >= std::numeric_limits<float>::max()
          ? (min_open ? "> " : ">= ") + format_number(min)
          : "in " + std::string(min_open ? "(" : "[") + format_number(min) + ", " +
                format_number(max) + (max_open ? ")" : "]");
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        const bool parsed = read_real(text).has_value();
        // The interval applies to the float the program stores: 1e-50 rounds to 0, not > 0.
        const double stored = parsed ? static_cast<double>(to_float(text)) : 0.0;
        const bool inside = (min_open ? stored > min : stored >= min) &&
                            (max_open ? stored < max : stored <= max);
        if (!parsed || !inside) {
          return "expected a finite number " + range + ", got " + in_quotes(text);
        }
        return {};
      },
      "finite, " + range);
}

CLI::Validator one_of(std::vector<std::string> choices) {
  std::string listed;
  for (const std::string& choice : choices) listed += (listed.empty() ? "" : ", ") + choice;
  return CLI::Validator(
      [choices, listed](std::string& text) -> std::string {
        for (const std::string& choice : choices) {
          if (text == choice) return {};
        }
        return "expected one of " + listed + "; got " + in_quotes(text);
      },
      "{" + listed + "}");
}

std::string matmul_precision_name(tapegrad::MatmulPrecision precision) {
  return precision == tapegrad::MatmulPrecision::bfloat16 ? "bfloat16" : "float32";
}

CLI::Validator existing_regular_file() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::error_code error;
        const std::filesystem::file_type type = std::filesystem::status(text, error).type();
        if (type == std::filesystem::file_type::regular) return {};
        const std::string what =
            type == std::filesystem::file_type::not_found ? "it does not exist"
            : type == std::filesystem::file_type::directory ? "it is a directory"
            : error ? "cannot inspect it: " + error.message()
                    : "it is not a regular file (a device, FIFO or socket)";
        return "expected an existing regular file, got " + in_quotes(text) + ": " + what;
      },
      "FILE");
}

CLI::Validator non_empty() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return text.empty() ? "expected a non-empty value, got \"\"" : std::string();
      },
      "");
}

namespace {

// The whole list's text is checked: CLI11's own delimiter drops the empty items of "5,,5"
// before any check sees them.
CLI::Validator list_of(const CLI::Validator& item_check, char separator, Repeats repeats) {
  const std::string list_name = separator == ',' ? "comma-separated list" :
                                std::string("list separated by '") + separator + "'";
  return CLI::Validator(
      [item_check, separator, list_name, repeats](std::string& text) -> std::string {
        const std::vector<std::string> items = split_keeping_empty(text, separator);
        for (std::size_t i = 0; i < items.size(); ++i) {
          std::string item = items[i];
          if (item.empty()) return "empty item in the " + list_name + " " + in_quotes(text);
          const std::string error = item_check(item);
          if (!error.empty()) return error + " (in the list " + in_quotes(text) + ")";
          // A repeat would run (or print) the same thing twice under one label.
          if (repeats == Repeats::refuse &&
              std::find(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(i), item) !=
                  items.begin() + static_cast<std::ptrdiff_t>(i)) {
            return in_quotes(item) + " is listed twice in " + in_quotes(text);
          }
        }
        return {};
      },
      list_name + (item_check.get_description().empty() ? "" : ", each " +
                                                                   item_check.get_description()));
}

template <typename Item>
std::string join(const std::vector<Item>& items, char separator) {
  std::ostringstream out;
  for (std::size_t i = 0; i < items.size(); ++i) out << (i ? std::string(1, separator) : "") << items[i];
  return out.str();
}

}  // namespace

CLI::Option* add_list(CLI::App& app, const std::string& name, std::vector<std::string>& target,
                      const CLI::Validator& item_check, const std::string& help, Repeats repeats,
                      char separator) {
  return app
      .add_option_function<std::string>(
          name,
          [&target, separator](const std::string& text) {
            target = split_keeping_empty(text, separator);
          },
          help)
      ->check(list_of(item_check, separator, repeats))
      ->default_str(join(target, separator));
}

CLI::Option* add_list(CLI::App& app, const std::string& name, std::vector<std::int64_t>& target,
                      const CLI::Validator& item_check, const std::string& help, Repeats repeats,
                      char separator) {
  return app
      .add_option_function<std::string>(
          name,
          [&target, separator](const std::string& text) {
            target.clear();  // the items are checked base-10 integers by now
            for (const std::string& item : split_keeping_empty(text, separator)) {
              target.push_back(std::stoll(item));
            }
          },
          help)
      ->check(list_of(item_check, separator, repeats))
      ->default_str(join(target, separator));
}

Program::Program(std::string name, std::string description)
    : name_(std::move(name)), app_(std::move(description), name_) {
  app_.option_defaults()->always_capture_default();
  app_.footer("Exit codes: 0 done; 1 failed while running (an unwritable output, a non-finite "
              "loss, ...); 2 a bad flag or TAPEGRAD_NUM_THREADS, refused before anything ran.");
  app_.set_version_flag("--version", name_ + " (tapegrad " TAPEGRAD_VERSION ")",
                        "print tapegrad's version and exit");
}

Program::~Program() = default;

CLI::Option* Program::add_epochs(std::int64_t& epochs, const std::string& help) {
  return app_.add_option("--epochs", epochs, help)->check(integer_in(1, 1'000'000));
}

CLI::Option* Program::add_lr(float& lr, const std::string& help) {
  return app_.add_option("--lr", lr, help)->check(positive_real());
}

CLI::Option* Program::add_seed(std::uint64_t& seed, const std::string& help) {
  return app_.add_option("--seed", seed, help)->check(seed_value());
}

CLI::Option* Program::add_threads() {
  return app_
      .add_option("--threads", threads_,
                  "at most this many threads (tapegrad::set_num_threads; default: "
                  "TAPEGRAD_NUM_THREADS, else every core)")
      ->check(integer_in(1, tapegrad::kMaxThreads))
      ->default_str("");
}

CLI::Option* Program::add_matmul_precision(tapegrad::MatmulPrecision& precision) {
  using tapegrad::MatmulPrecision;
  return app_
      .add_option_function<std::string>(
          "--matmul-precision",
          [&precision](const std::string& text) {  // one of the two names by now
            precision = text == matmul_precision_name(MatmulPrecision::bfloat16)
                            ? MatmulPrecision::bfloat16
                            : MatmulPrecision::float32;
          },
          "products of matmul, linear and the recurrent layers: float32, or bfloat16 operands "
          "with float32 sums (weights, optimizer and everything else stay float32)")
      ->check(one_of({matmul_precision_name(MatmulPrecision::float32),
                      matmul_precision_name(MatmulPrecision::bfloat16)}))
      ->default_str(matmul_precision_name(precision));
}

CLI::Option* Program::add_out_dir(std::filesystem::path& dir, const std::string& help,
                                  std::function<std::vector<std::string>()> file_names) {
  out_dirs_.push_back({&dir, std::move(file_names)});
  return app_.add_option("--out-dir", dir, help)->check(non_empty());
}

CLI::Option* Program::add_output_file(const std::string& name, std::string& path,
                                      const std::string& help) {
  output_files_.push_back(&path);
  const CLI::Validator replaceable(
      [](std::string& text) -> std::string {
        const std::string why = why_not_replaceable(text);
        return why.empty() ? std::string() : "refusing to replace " + in_quotes(text) + ": " + why;
      },
      "");
  return app_.add_option(name, path, help)->check(non_empty())->check(replaceable);
}

void Program::add_resume_options(ResumeOptions& options) {
  CLI::Option* checkpoint = add_output_file(
      "--checkpoint", options.checkpoint,
      "training-state file (model, optimizer, generators, loop position), saved atomically at "
      "--checkpoint-every and --max-steps, read by --resume");
  app_.add_option("--checkpoint-every", options.every, "save the training state every N steps")
      ->check(integer_in(1, 1'000'000'000))
      ->needs(checkpoint);
  app_.add_option("--max-steps", options.max_steps,
                  "stop after N training steps in all (a resumed run counts the earlier ones), "
                  "saving the training state if --checkpoint is given")
      ->check(integer_in(1, 1'000'000'000));
  app_.add_flag("--resume", options.resume,
                "continue the run saved in --checkpoint: same flags, same results as a run "
                "that never stopped")
      ->needs(checkpoint);
}

void Program::add_combination_check(std::string flags, std::function<void()> check) {
  combination_checks_.emplace_back(std::move(flags), std::move(check));
}

std::string Program::describe(const CLI::ParseError& error, int argc, char** argv) const {
  // CLI11 reports "--bidirectional 7" as an unexpected argument "7" and "--bidirectional=7" as
  // a disallowed override, neither naming both the switch and the value.
  if (dynamic_cast<const CLI::ExtrasError*>(&error) ||
      dynamic_cast<const CLI::ArgumentMismatch*>(&error)) {
    for (int i = 1; i < argc; ++i) {
      const std::string argument = argv[i];
      const std::size_t equals = argument.find('=');
      const std::string flag = argument.substr(0, equals);
      if (flag.rfind("--", 0) != 0) continue;
      const CLI::Option* option = app_.get_option_no_throw(flag);
      if (option == nullptr || option->get_expected_max() != 0) continue;  // not a switch
      std::string value;
      if (equals != std::string::npos) {
        value = argument.substr(equals + 1);
      } else if (i + 1 < argc && argv[i + 1][0] != '-') {
        value = argv[i + 1];
      } else {
        continue;
      }
      return flag + ": a switch takes no value, got " + in_quotes(value) + " (give " + flag +
             " alone to turn it on)";
    }
  }
  return error.what();
}

std::string Program::flag_taken_as_value(int argc, char** argv) const {
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string argument = argv[i];
    const std::string next = argv[i + 1];
    if (argument.rfind("--", 0) != 0 || argument.find('=') != std::string::npos) continue;
    if (next.rfind("--", 0) != 0) continue;
    const CLI::Option* option = app_.get_option_no_throw(argument);
    if (option == nullptr || option->get_expected_max() == 0) continue;  // a switch takes none
    const std::string next_flag = next.substr(0, next.find('='));
    if (app_.get_option_no_throw(next_flag) == nullptr) continue;
    return argument + ": expected a value, got the flag " + in_quotes(next) + " (write " +
           argument + "=" + next + " for a value that starts with --)";
  }
  return {};
}

int Program::run(int argc, char** argv, const std::function<int()>& body) {
  const int code = run_unchecked_output(argc, argv, body);
  // A report that did not reach stdout (a full disk, a closed descriptor) is a failed run, not a
  // silent success: the stream's error state is only visible here, once everything is flushed.
  if (!std::cout.flush()) {
    std::cerr << name_ << ": could not write to standard output\n";
    return code == 0 ? 1 : code;
  }
  return code;
}

int Program::run_unchecked_output(int argc, char** argv, const std::function<int()>& body) {
  // CLI11 takes "--out-dir --help" as the directory "--help": a flag where a value belongs is
  // almost always a forgotten value, so it is refused like any bad flag.
  if (const std::string problem = flag_taken_as_value(argc, argv); !problem.empty()) {
    std::cerr << name_ << ": " << problem << "\n"
              << name_ << ": run " << name_ << " --help for the flags\n";
    return 2;
  }
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return app_.exit(error);  // --help, --version: printed on stdout
    }
    std::cerr << name_ << ": " << describe(error, argc, argv) << "\n"
              << name_ << ": run " << name_ << " --help for the flags\n";
    return 2;
  }
  for (const auto& [flags, check] : combination_checks_) {
    try {
      check();
    } catch (const std::exception& error) {
      std::cerr << name_ << ": " << flags << ": " << error.what() << "\n"
                << name_ << ": run " << name_ << " --help for the flags\n";
      return 2;
    }
  }
  // The files the program will write in its output directories: checked now, so a name taken
  // by a directory or a FIFO is a bad --out-dir, not a failure after training.
  for (const OutDir& out : out_dirs_) {
    for (const std::string& file_name : out.file_names()) {
      const std::filesystem::path file = *out.dir / file_name;
      if (const std::string why = why_not_replaceable(file); !why.empty()) {
        std::cerr << name_ << ": --out-dir: refusing to replace " << in_quotes(file.string())
                  << ": " << why << "\n";
        return 2;
      }
    }
  }
  // The library's one thread setting: the flag, else TAPEGRAD_NUM_THREADS, checked here so that
  // a bad value is refused like a bad flag, before anything runs.
  try {
    if (threads_ > 0) {
      tapegrad::set_num_threads(static_cast<int>(threads_));
    } else {
      (void)tapegrad::num_threads();
    }
  } catch (const std::exception& error) {
    std::cerr << name_ << ": " << error.what() << "\n";
    return 2;
  }
  try {
    for (const OutDir& out : out_dirs_) prepare_output_dir(*out.dir);
    for (const std::string* file : output_files_) {
      if (!file->empty()) check_output_file(*file);
    }
    return body();
  } catch (const std::exception& error) {
    std::cerr << name_ << ": " << error.what() << "\n";
    return 1;
  }
}

}  // namespace examples::cli
