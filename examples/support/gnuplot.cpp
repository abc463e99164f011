#include "gnuplot.h"

#include <fstream>
#include <iostream>
#include <stdexcept>
#include <system_error>

#include "process.h"

namespace examples {

std::string gnuplot_quote(std::string_view text) {
  std::string quoted = "\"";
  for (const char c : text) {
    switch (c) {
      case '\\': quoted += "\\\\"; break;
      case '"': quoted += "\\\""; break;
      case '\n': quoted += "\\n"; break;
      case '\r': quoted += "\\r"; break;
      // Octal, three digits starting with 1: gnuplot reads at most three after a non-zero digit,
      // so a digit that follows in the name is not swallowed.
      case '`': quoted += "\\140"; break;
      default: quoted += c;
    }
  }
  return quoted + "\"";
}

std::string gnuplot_path(const std::filesystem::path& path) {
  return gnuplot_quote(std::filesystem::absolute(path).string());
}

bool have_gnuplot() { return find_executable("gnuplot").has_value(); }

bool run_gnuplot(const std::filesystem::path& script_path, const std::string& script) {
  {
    std::ofstream out(script_path, std::ios::binary);
    out << script;
    out.close();
    if (!out) throw std::runtime_error("cannot write the gnuplot script " + script_path.string());
  }
  const auto gnuplot = find_executable("gnuplot");
  if (!gnuplot) {
    std::cerr << "note: gnuplot not found on PATH (apt-get install gnuplot-nox); wrote the CSV only\n";
    return false;
  }
  // Absolute, so gnuplot cannot take a script name starting with '-' for one of its options.
  const std::string script_argument = std::filesystem::absolute(script_path).string();
  try {
    const ProcessResult result = run_process(*gnuplot, {"gnuplot", script_argument},
                                             {.stdin_from = "/dev/null"});
    if (result.exit_code == 0) return true;
  } catch (const std::system_error& error) {
    std::cerr << "note: " << error.what() << "\n";
  }
  std::cerr << "note: gnuplot failed on " << script_path << "; wrote the CSV only\n";
  return false;
}

}  // namespace examples
