// CSV reading on top of fast-cpp-csv-parser (Debian libfccp-dev, header-only, seen by this file
// only). Its typed CSVReader<N> fixes the number of columns at compile time, so a file whose
// columns are chosen by name at run time uses its field layer instead: the double_quote_escape
// policy (splitting at separators outside quotes, unquoting "" pairs, detecting an unclosed
// quote) and trim_chars. Lines are cut here, not by its LineReader, which allocates three 16 MiB
// blocks per file (48 MiB for a 3 KB series; under AddressSanitizer a read then took ~0.1 s).
// Numbers are read with std::from_chars: fccp's own parse_float accumulates digit by digit in the
// target type and is not correctly rounded.
#include "data/csv.h"

#define CSV_IO_NO_THREAD  // LineReader's reader thread is not used
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 reports fccp's strncpy of a file name into its 256-byte error buffer (truncation is
// intended there) at the inlined call sites in this file, where the system-header exemption no
// longer applies. Error messages here carry the full name: they are built by this file.
#pragma GCC diagnostic ignored "-Wstringop-truncation"
#endif
#include <libfccp/csv.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

#include "autograd/errors.h"

namespace tapegrad::data {

namespace {

constexpr double missing_marker = std::numeric_limits<double>::quiet_NaN();

std::string in_quotes(const std::string& text) { return "\"" + text + "\""; }

[[noreturn]] void fail(const std::string& source, std::int64_t line, const std::string& why) {
  std::string where = "read_csv: " + source;
  if (line > 0) where += " line " + std::to_string(line);
  throw ValueError(where + ": " + why);
}

// One line split into fields, in place: each field is a NUL-terminated pointer into `line`.
template <char Separator>
void split_fields(char* line, std::vector<const char*>& fields) {
  using quote_policy = io::double_quote_escape<Separator, '"'>;
  using trim_policy = io::trim_chars<' ', '\t'>;
  fields.clear();
  while (true) {
    char* begin = line;
    char* end = begin + (quote_policy::find_next_column_end(begin) - begin);
    char* const next = *end == '\0' ? nullptr : end + 1;
    *end = '\0';
    trim_policy::trim(begin, end);  // both move begin and end inward
    quote_policy::unescape(begin, end);
    fields.push_back(begin);
    if (next == nullptr) return;
    line = next;
  }
}

using Splitter = void (*)(char*, std::vector<const char*>&);

Splitter splitter_for(char separator) {
  switch (separator) {
    case ',': return &split_fields<','>;
    case ';': return &split_fields<';'>;
    case '\t': return &split_fields<'\t'>;
    default:
      throw ValueError("read_csv: separator must be ',', ';' or '\\t', got character code " +
                       std::to_string(static_cast<int>(static_cast<unsigned char>(separator))));
  }
}

bool is_missing_token(std::string_view field) {
  static constexpr std::string_view tokens[] = {"", "NA", "N/A", "NaN", "nan", "null", "NULL"};
  return std::find(std::begin(tokens), std::end(tokens), field) != std::end(tokens);
}

bool is_blank(const char* line) {
  for (; *line; ++line) {
    if (*line != ' ' && *line != '\t') return false;
  }
  return true;
}

// The value of a numeric field, missing_marker for a missing one; throws for anything else.
double parse_value(std::string_view field, const std::string& source, std::int64_t line,
                   const std::string& column) {
  if (is_missing_token(field)) return missing_marker;
  std::string_view digits = field;
  if (digits.size() > 1 && digits.front() == '+' && digits[1] != '-') digits.remove_prefix(1);
  double value = 0.0;
  const char* const last = digits.data() + digits.size();
  const auto [end, error] = std::from_chars(digits.data(), last, value);
  if (error != std::errc() || end != last || !std::isfinite(value)) {
    fail(source, line, "column " + in_quotes(column) + ": " + in_quotes(std::string(field)) +
                           " is not a finite number");
  }
  return value;
}

void apply_policy(CsvTable& table, MissingPolicy policy, const std::string& source) {
  const std::int64_t total = table.missing_total();
  if (total == 0) return;
  const auto rows = static_cast<std::size_t>(table.rows());
  auto first_missing_line = [&](std::size_t c) {
    for (std::size_t r = 0; r < rows; ++r) {
      if (std::isnan(table.columns[c][r])) return table.lines[r];
    }
    return std::int64_t{0};
  };
  switch (policy) {
    case MissingPolicy::error: {
      std::string detail;
      for (std::size_t c = 0; c < table.names.size(); ++c) {
        if (table.missing_counts[c] == 0) continue;
        detail += std::string(detail.empty() ? "" : "; ") + "column " + in_quotes(table.names[c]) +
                  ": " + std::to_string(table.missing_counts[c]) + ", the first at line " +
                  std::to_string(first_missing_line(c));
      }
      fail(source, 0, std::to_string(total) + " missing values (" + detail +
                          "); choose a missing-value policy: drop or interpolate");
    }
    case MissingPolicy::drop: {
      std::size_t kept = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        bool complete = true;
        for (const auto& column : table.columns) complete = complete && !std::isnan(column[r]);
        if (!complete) continue;
        for (auto& column : table.columns) column[kept] = column[r];
        if (!table.time.empty() && kept != r) table.time[kept] = std::move(table.time[r]);
        table.lines[kept] = table.lines[r];
        ++kept;
      }
      for (auto& column : table.columns) column.resize(kept);
      if (!table.time.empty()) table.time.resize(kept);
      table.lines.resize(kept);
      table.rows_dropped = static_cast<std::int64_t>(rows - kept);
      return;
    }
    case MissingPolicy::interpolate: {
      for (std::size_t c = 0; c < table.columns.size(); ++c) {
        std::vector<double>& values = table.columns[c];
        std::size_t r = 0;
        while (r < rows) {
          if (!std::isnan(values[r])) {
            ++r;
            continue;
          }
          const std::size_t gap_begin = r;
          while (r < rows && std::isnan(values[r])) ++r;
          if (gap_begin == 0 || r == rows) {
            const std::size_t edge = gap_begin == 0 ? gap_begin : rows - 1;
            fail(source, table.lines[edge],
                 "column " + in_quotes(table.names[c]) + ": the missing value has no value " +
                     (gap_begin == 0 ? "before" : "after") +
                     " it to interpolate from (drop such rows with the drop policy)");
          }
          const double before = values[gap_begin - 1], after = values[r];
          const auto span = static_cast<double>(r - (gap_begin - 1));
          for (std::size_t i = gap_begin; i < r; ++i) {
            const double weight = static_cast<double>(i - (gap_begin - 1)) / span;
            values[i] = before + (after - before) * weight;
          }
          table.values_interpolated += static_cast<std::int64_t>(r - gap_begin);
        }
      }
      return;
    }
  }
}

}  // namespace

std::int64_t CsvTable::missing_total() const {
  std::int64_t total = 0;
  for (std::int64_t count : missing_counts) total += count;
  return total;
}

const std::vector<double>& CsvTable::column(const std::string& name) const {
  const auto at = std::find(names.begin(), names.end(), name);
  if (at == names.end()) {
    std::string known;
    for (const std::string& n : names) known += (known.empty() ? "" : ", ") + in_quotes(n);
    throw ValueError("CsvTable::column: no column " + in_quotes(name) + " (columns: " + known + ")");
  }
  return columns[static_cast<std::size_t>(at - names.begin())];
}

const char* to_string(MissingPolicy policy) {
  switch (policy) {
    case MissingPolicy::error: return "error";
    case MissingPolicy::drop: return "drop";
    case MissingPolicy::interpolate: return "interpolate";
  }
  return "unknown";
}

MissingPolicy missing_policy_from_string(const std::string& name) {
  for (MissingPolicy policy :
       {MissingPolicy::error, MissingPolicy::drop, MissingPolicy::interpolate}) {
    if (name == to_string(policy)) return policy;
  }
  throw ValueError("missing-value policy must be error, drop or interpolate, got " + in_quotes(name));
}

CsvTable parse_csv(const std::string& text, const CsvOptions& options, const std::string& source) {
  const Splitter split = splitter_for(options.separator);
  if (const std::size_t nul = text.find('\0'); nul != std::string::npos) {
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(nul), '\n');
    fail(source, line, "a NUL byte: not a text file");
  }
  // Lines end at \n, with an optional \r before it; the last may lack its \n. The copy is
  // NUL-terminated and split in place.
  std::vector<char> buffer(text.begin(), text.end());
  buffer.push_back('\0');
  std::size_t position = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;  // a UTF-8 byte-order mark
  std::int64_t line_number = 0;
  auto next_line = [&]() -> char* {
    if (position >= text.size()) return nullptr;
    ++line_number;
    std::size_t end = text.find('\n', position);
    if (end == std::string::npos) end = text.size();
    buffer[end] = '\0';
    if (end > position && buffer[end - 1] == '\r') buffer[end - 1] = '\0';
    char* const line = buffer.data() + position;
    position = end + 1;
    return line;
  };
  auto split_line = [&](char* line, std::vector<const char*>& fields) {
    try {
      split(line, fields);
    } catch (const io::error::escaped_string_not_closed&) {
      fail(source, line_number, "a quoted field is not closed (a quote cannot span lines)");
    }
  };

  std::vector<const char*> fields;
  char* header_line = next_line();
  while (header_line != nullptr && is_blank(header_line)) header_line = next_line();
  if (header_line == nullptr) fail(source, 0, "the file is empty: no header line");
  split_line(header_line, fields);
  const std::vector<std::string> header(fields.begin(), fields.end());
  const std::int64_t header_line_number = line_number;

  auto header_index = [&](const std::string& name) {
    const auto at = std::find(header.begin(), header.end(), name);
    if (at == header.end()) {
      std::string known;
      for (const std::string& n : header) known += (known.empty() ? "" : ", ") + in_quotes(n);
      fail(source, header_line_number, "no column " + in_quotes(name) + " in the header (columns: " +
                                           known + ")");
    }
    if (std::count(header.begin(), header.end(), name) > 1) {
      fail(source, header_line_number, "column " + in_quotes(name) + " appears twice in the header");
    }
    return static_cast<std::size_t>(at - header.begin());
  };

  CsvTable table;
  std::vector<std::size_t> indices;  // header index of each numeric column read
  if (options.columns.empty()) {
    for (std::size_t i = 0; i < header.size(); ++i) {
      if (!options.time_column.empty() && header[i] == options.time_column) continue;
      if (header[i].empty()) {
        fail(source, header_line_number, "column " + std::to_string(i + 1) + " has no name");
      }
      table.names.push_back(header[i]);
    }
  } else {
    table.names = options.columns;
  }
  for (const std::string& name : table.names) {
    if (name == options.time_column) {
      fail(source, 0, "column " + in_quotes(name) + " is both the time column and a value column");
    }
    indices.push_back(header_index(name));
  }
  const bool has_time = !options.time_column.empty();
  const std::size_t time_index = has_time ? header_index(options.time_column) : 0;
  table.columns.resize(table.names.size());
  table.missing_counts.assign(table.names.size(), 0);

  while (char* line = next_line()) {
    if (is_blank(line)) continue;
    split_line(line, fields);
    if (fields.size() != header.size()) {
      fail(source, line_number, "expected " + std::to_string(header.size()) +
                                    " fields as in the header, got " + std::to_string(fields.size()));
    }
    for (std::size_t c = 0; c < indices.size(); ++c) {
      const double value = parse_value(fields[indices[c]], source, line_number, table.names[c]);
      if (std::isnan(value)) ++table.missing_counts[c];
      table.columns[c].push_back(value);
    }
    if (has_time) table.time.emplace_back(fields[time_index]);
    table.lines.push_back(line_number);
  }
  table.rows_in_file = table.rows();
  apply_policy(table, options.missing, source);
  return table;
}

CsvTable read_csv(const std::string& path, const CsvOptions& options) {
  if (std::filesystem::is_directory(path)) fail(path, 0, "is a directory, not a CSV file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, 0, std::string("cannot open: ") + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(path, 0, std::string("cannot read: ") + std::strerror(errno));
  return parse_csv(text, options, path);
}

}  // namespace tapegrad::data
