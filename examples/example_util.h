#pragma once
// Small helpers shared by the example programs: command-line flags, timing, CSV and gnuplot output.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace examples {

// --name value / --name=value flags with defaults and help text; --help prints them and exits.
class Flags {
 public:
  Flags(std::string program, std::string summary)
      : program_(std::move(program)), summary_(std::move(summary)) {}

  Flags& add(const std::string& name, const std::string& default_value, const std::string& help) {
    values_[name] = default_value;
    order_.push_back(name);
    help_[name] = help;
    return *this;
  }

  // Returns false when --help was given (help printed); throws std::invalid_argument otherwise.
  bool parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        print_help();
        return false;
      }
      if (arg.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument: " + arg);
      std::string name = arg.substr(2), value;
      const auto eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        throw std::invalid_argument("flag --" + name + " needs a value");
      }
      if (!values_.count(name)) {
        throw std::invalid_argument("unknown flag --" + name + " (see --help)");
      }
      values_[name] = value;
    }
    return true;
  }

  std::string str(const std::string& name) const { return values_.at(name); }
  long integer(const std::string& name) const { return convert<long>(name, [](auto& s, auto* end) { return std::strtol(s.c_str(), end, 10); }); }
  float real(const std::string& name) const { return convert<float>(name, [](auto& s, auto* end) { return std::strtof(s.c_str(), end); }); }

  void print_help() const {
    std::cout << program_ << ": " << summary_ << "\n\nflags:\n";
    for (const auto& name : order_) {
      std::cout << "  --" << name << " (default " << values_.at(name) << ")\n      " << help_.at(name) << "\n";
    }
  }

 private:
  template <typename T, typename Parse>
  T convert(const std::string& name, Parse parse) const {
    const std::string& text = values_.at(name);
    char* end = nullptr;
    const auto value = parse(text, &end);
    if (text.empty() || end != text.c_str() + text.size()) {
      throw std::invalid_argument("flag --" + name + ": \"" + text + "\" is not a number");
    }
    return static_cast<T>(value);
  }

  std::string program_, summary_;
  std::map<std::string, std::string> values_, help_;
  std::vector<std::string> order_;
};

class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Writes columns (same length) with a header line.
inline void write_csv(const std::filesystem::path& path, const std::vector<std::string>& names,
                      const std::vector<std::vector<float>>& columns) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write " + path.string());
  for (std::size_t c = 0; c < names.size(); ++c) out << (c ? "," : "") << names[c];
  out << "\n";
  for (std::size_t r = 0; r < columns.at(0).size(); ++r) {
    for (std::size_t c = 0; c < columns.size(); ++c) out << (c ? "," : "") << columns[c][r];
    out << "\n";
  }
}

inline bool have_gnuplot() { return std::system("command -v gnuplot > /dev/null 2>&1") == 0; }

// Runs a gnuplot script (written next to the output) to make a PNG; returns false, with a note on
// stderr, when gnuplot is missing or fails (the CSV is the result; the picture is a convenience).
inline bool run_gnuplot(const std::filesystem::path& script_path, const std::string& script) {
  {
    std::ofstream out(script_path);
    out << script;
  }
  if (!have_gnuplot()) {
    std::cerr << "note: gnuplot not found (apt-get install gnuplot-nox); wrote the CSV only\n";
    return false;
  }
  const std::string command = "gnuplot '" + script_path.string() + "'";
  if (std::system(command.c_str()) != 0) {
    std::cerr << "note: gnuplot failed on " << script_path << "; wrote the CSV only\n";
    return false;
  }
  return true;
}

}  // namespace examples
