#pragma once
// Reading numeric columns of a CSV file by their header names, for series such as
// data/series/co2.csv:
//
//   data::CsvTable table = data::read_csv("co2.csv", {.columns = {"co2"}, .time_column = "date",
//                                                     .missing = data::MissingPolicy::interpolate});
//   const std::vector<double>& co2 = table.column("co2");   // 2284 values, 59 of them filled in
//   table.missing_counts[0];                                 // 59, found before the policy
//
// The first line is the header. Fields are separated by options.separator; spaces and tabs
// around a field are trimmed; a field may be double-quoted ("a, b" keeps its separator, "" inside
// quotes is one quote), which is how the header of data/series/sunspots.csv is written. Lines end
// in \n or \r\n; a UTF-8 byte-order mark is skipped; blank lines are skipped. A quoted field
// cannot span lines.
//
// A value is missing when its field is empty or one of NA, N/A, NaN, nan, null, NULL; how missing
// values are handled is options.missing. Every other numeric field must be a whole finite decimal
// number (1, -2.5, 3e4; std::from_chars, so it reads the same in every locale).
//
// Errors are ValueError naming read_csv, the file and the line: a row with more or fewer fields
// than the header, an unclosed quote, a field that is not a number, a NUL byte, a header without a
// requested column (the message lists the header's names) or with a name twice.
#include <cstdint>
#include <string>
#include <vector>

namespace tapegrad::data {

enum class MissingPolicy {
  error,        // any missing value is a ValueError giving the count and the first line
  drop,         // rows with a missing value in any read column are left out
  interpolate,  // linear in the row index between the nearest values before and after
                // (equally spaced rows: linear in time); a missing first or last value has no
                // neighbour on one side and is a ValueError naming its line
};

struct CsvOptions {
  // The numeric columns to read, by header name, in this order; empty: every column except
  // time_column, in the file's order.
  std::vector<std::string> columns = {};
  // An optional column kept as text (a date, a year): never parsed, never counted as missing.
  std::string time_column = "";
  MissingPolicy missing = MissingPolicy::error;
  char separator = ',';  // ',', ';' or '\t'
};

struct CsvTable {
  std::vector<std::string> names;             // the numeric columns read, in order
  std::vector<std::vector<double>> columns;   // columns[c][row], after the missing policy
  std::vector<std::string> time;              // time_column's text per row (empty if none)
  std::vector<std::int64_t> lines;            // the file line (from 1, the header's) of each row
  std::vector<std::int64_t> missing_counts;   // per column: missing values found in the file
  std::int64_t rows_in_file = 0;              // data rows before the policy
  std::int64_t rows_dropped = 0;              // by MissingPolicy::drop
  std::int64_t values_interpolated = 0;       // by MissingPolicy::interpolate

  std::int64_t rows() const { return static_cast<std::int64_t>(lines.size()); }
  std::int64_t missing_total() const;
  // The column called `name`; ValueError listing names otherwise.
  const std::vector<double>& column(const std::string& name) const;
};

// Reads `path`. Throws ValueError as above; a file that cannot be opened or read is a ValueError
// naming it and the system's reason.
CsvTable read_csv(const std::string& path, const CsvOptions& options = {});

// The same from text in memory; `source` names it in error messages.
CsvTable parse_csv(const std::string& text, const CsvOptions& options = {},
                   const std::string& source = "<text>");

const char* to_string(MissingPolicy policy);  // "error", "drop", "interpolate"
// The policy called `name`; ValueError naming the three otherwise.
MissingPolicy missing_policy_from_string(const std::string& name);

}  // namespace tapegrad::data
