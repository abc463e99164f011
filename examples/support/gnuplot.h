#pragma once
// Plots through gnuplot without a shell. The script is a file passed to gnuplot as one argument
// (support/process.h), and every path or name inside the script is a gnuplot string literal made
// by gnuplot_quote, so a directory called `x';touch PWNED;'` or `run's output` is just a name.
#include <filesystem>
#include <string>
#include <string_view>

namespace examples {

// A double-quoted gnuplot string literal whose value is exactly `text`, for any bytes. Inside
// double quotes gnuplot 5.4 reads \\, \", \n, \r and octal \ooo escapes, and runs `backquoted`
// text as a shell command (single quotes would stop that but cannot hold a newline), so
// backslash, double quote, newline, carriage return and backquote are escaped; @ (macros) is not
// expanded inside quotes. Checked against gnuplot 5.4 with every byte value 1-255 in a file name
// (tests/examples/test_gnuplot.cpp).
std::string gnuplot_quote(std::string_view text);

// gnuplot_quote of the absolute form of `path`. Relative paths are not enough: gnuplot reads a
// data file name starting with '<' as a shell command to read from, an output name starting with
// '|' as a command to write to, and treats '-', '+', '$name' and a leading '~' specially; an
// absolute path starts with '/', which none of these do.
std::string gnuplot_path(const std::filesystem::path& path);

// Whether a gnuplot executable is on $PATH.
bool have_gnuplot();

// Writes `script` to script_path (kept, so the plot can be remade or edited) and runs
// gnuplot on it, its stdin from /dev/null. Returns false, with a note on stderr, when gnuplot is
// missing or fails: the CSV is the result, the picture a convenience. Throws std::runtime_error
// when the script cannot be written.
bool run_gnuplot(const std::filesystem::path& script_path, const std::string& script);

}  // namespace examples
