#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "autograd/errors.h"
#include "data/csv.h"
#include "test_util.h"

using namespace tapegrad;
using namespace std::string_literals;
using data::CsvOptions;
using data::MissingPolicy;
using data::parse_csv;
using data::read_csv;

namespace {

// The error parse_csv throws for `text`, or "" when it throws none.
std::string error_of(const std::string& text, const CsvOptions& options = {}) {
  try {
    parse_csv(text, options, "t.csv");
  } catch (const ValueError& error) {
    return error.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("read_csv: header names, every numeric column, a text time column", "[csv]") {
  const auto table = parse_csv("date,co2,temp\n19580329,316.1,-2.5\n19580405,317.3,1e1\n",
                               {.time_column = "date"});
  REQUIRE(table.names == std::vector<std::string>{"co2", "temp"});
  REQUIRE(table.rows() == 2);
  REQUIRE(table.column("co2") == std::vector<double>{316.1, 317.3});  // correctly rounded
  REQUIRE(table.column("temp") == std::vector<double>{-2.5, 10.0});
  REQUIRE(table.time == std::vector<std::string>{"19580329", "19580405"});
  REQUIRE(table.lines == std::vector<std::int64_t>{2, 3});
  REQUIRE(table.missing_total() == 0);
  REQUIRE_THROWS_WITH(table.column("CO2"), Catch::Contains("no column \"CO2\"") &&
                                               Catch::Contains("\"co2\", \"temp\""));

  // Chosen columns come in the order asked for; the others are not parsed at all.
  const auto chosen = parse_csv("a,b,c\n1,x,3\n4,y,6\n", {.columns = {"c", "a"}});
  REQUIRE(chosen.names == std::vector<std::string>{"c", "a"});
  REQUIRE(chosen.columns == std::vector<std::vector<double>>{{3, 6}, {1, 4}});
  REQUIRE(chosen.time.empty());
}

TEST_CASE("read_csv: quoted fields, trimmed spaces, CRLF, BOM, blank lines, other separators",
          "[csv]") {
  // sunspots.csv quotes its header: "YEAR","SUNACTIVITY"
  const auto quoted = parse_csv("\xEF\xBB\xBF\"YEAR\",\"SUN, ACTIVITY\",\"say \"\"hi\"\"\"\r\n"
                                "1700 , \"5\" ,\"a,b\"\r\n\r\n  \n1701,11,\"\"\"\"\r\n",
                                {.time_column = "say \"hi\"", .missing = MissingPolicy::error});
  REQUIRE(quoted.names == std::vector<std::string>{"YEAR", "SUN, ACTIVITY"});
  REQUIRE(quoted.column("YEAR") == std::vector<double>{1700, 1701});
  REQUIRE(quoted.column("SUN, ACTIVITY") == std::vector<double>{5, 11});
  REQUIRE(quoted.time == std::vector<std::string>{"a,b", "\""});
  REQUIRE(quoted.lines == std::vector<std::int64_t>{2, 5});  // blank lines 3 and 4 skipped

  const auto semicolons = parse_csv("x;y\n1,5;2\n", {.columns = {"y"}, .separator = ';'});
  REQUIRE(semicolons.column("y") == std::vector<double>{2});
  const auto tabs = parse_csv("x\ty\n1\t2\n", {.separator = '\t'});
  REQUIRE(tabs.column("x") == std::vector<double>{1});
  REQUIRE(parse_csv("x\n", {}).rows() == 0);  // a header alone: an empty table
  REQUIRE(parse_csv("x\n+3\n", {}).column("x") == std::vector<double>{3});
}

TEST_CASE("read_csv: missing values are counted and handled by the chosen policy", "[csv]") {
  // co2.csv writes a missing week as "19580510," (an empty last field).
  const std::string text = "t,a,b\n0,1,10\n1,,NA\n2,NaN,30\n3,4,null\n4,5,50\n";
  const std::string error = error_of(text);
  CHECK(contains(error, "t.csv: 4 missing values"));
  CHECK(contains(error, "column \"a\": 2, the first at line 3"));
  CHECK(contains(error, "column \"b\": 2, the first at line 3"));
  CHECK(contains(error, "drop or interpolate"));

  const auto dropped = parse_csv(text, {.time_column = "t", .missing = MissingPolicy::drop});
  REQUIRE(dropped.column("a") == std::vector<double>{1, 5});
  REQUIRE(dropped.column("b") == std::vector<double>{10, 50});
  REQUIRE(dropped.time == std::vector<std::string>{"0", "4"});
  REQUIRE(dropped.lines == std::vector<std::int64_t>{2, 6});
  REQUIRE(dropped.missing_counts == std::vector<std::int64_t>{2, 2});  // as found in the file
  REQUIRE(dropped.rows_in_file == 5);
  REQUIRE(dropped.rows_dropped == 3);

  const auto filled = parse_csv(text, {.time_column = "t", .missing = MissingPolicy::interpolate});
  REQUIRE(filled.rows() == 5);
  REQUIRE(filled.column("a") == std::vector<double>{1, 2, 3, 4, 5});  // 1 .. 4 over three steps
  REQUIRE(filled.column("b") == std::vector<double>{10, 20, 30, 40, 50});
  REQUIRE(filled.values_interpolated == 4);
  REQUIRE(filled.missing_counts == std::vector<std::int64_t>{2, 2});

  // Only the columns read count: a gap in an unread column is no concern.
  REQUIRE(parse_csv(text, {.columns = {"t"}}).missing_total() == 0);
  // An edge value has nothing on one side to interpolate from: named, not extrapolated.
  CHECK(contains(error_of("a,b\n,1\n2,2\n", {.missing = MissingPolicy::interpolate}),
                 "t.csv line 2: column \"a\": the missing value has no value before it"));
  CHECK(contains(error_of("a\n1\n2\nNA\n", {.missing = MissingPolicy::interpolate}),
                 "t.csv line 4: column \"a\": the missing value has no value after it"));
  REQUIRE(data::missing_policy_from_string("drop") == MissingPolicy::drop);
  REQUIRE_THROWS_WITH(data::missing_policy_from_string("zero"),
                      Catch::Contains("error, drop or interpolate") && Catch::Contains("\"zero\""));
}

TEST_CASE("read_csv: a malformed row or header is an error naming the line", "[csv]") {
  CHECK(contains(error_of("a,b\n1,2\n3\n"), "t.csv line 3: expected 2 fields as in the header, got 1"));
  CHECK(contains(error_of("a,b\n1,2\n3,4,5\n"), "t.csv line 3: expected 2 fields as in the header, got 3"));
  CHECK(contains(error_of("a,b\n1,2\n\"3,4\n"), "t.csv line 3: a quoted field is not closed"));
  CHECK(contains(error_of("a,b\n1,2\n3,4x\n"), "t.csv line 3: column \"b\": \"4x\" is not a finite number"));
  CHECK(contains(error_of("a\n1\ninf\n"), "line 3: column \"a\": \"inf\" is not a finite number"));
  CHECK(contains(error_of("a\n1\n1e999\n"), "line 3: column \"a\": \"1e999\" is not a finite number"));
  CHECK(contains(error_of("a\n0x10\n"), "line 2: column \"a\": \"0x10\" is not a finite number"));
  CHECK(contains(error_of("a\n1\n2\0" "3\n"s), "t.csv line 3: a NUL byte"));
  CHECK(contains(error_of(""), "t.csv: the file is empty: no header line"));
  CHECK(contains(error_of("\n \n"), "the file is empty"));
  CHECK(contains(error_of("a,b\n1,2\n", {.columns = {"c"}}),
                 "t.csv line 1: no column \"c\" in the header (columns: \"a\", \"b\")"));
  CHECK(contains(error_of("a,b\n1,2\n", {.time_column = "t"}), "no column \"t\" in the header"));
  CHECK(contains(error_of("a,a\n1,2\n"), "line 1: column \"a\" appears twice in the header"));
  CHECK(contains(error_of("a,\n1,2\n"), "line 1: column 2 has no name"));
  CHECK(contains(error_of("a,b\n1,2\n", {.columns = {"a"}, .time_column = "a"}),
                 "column \"a\" is both the time column and a value column"));
  CHECK(contains(error_of("a\n1\n", {.separator = '|'}), "separator must be ',', ';' or '\\t'"));
  // A text column read as a number names itself.
  CHECK(contains(error_of("name,v\nx,1\n"), "line 2: column \"name\": \"x\" is not a finite number"));
}

TEST_CASE("read_csv reads files: the shipped series and an unreadable path", "[csv]") {
  const std::string dir = TAPEGRAD_DATA_DIR "/series";
  const auto sunspots = read_csv(dir + "/sunspots.csv", {.columns = {"SUNACTIVITY"},
                                                          .time_column = "YEAR"});
  REQUIRE(sunspots.rows() == 309);
  REQUIRE(sunspots.time.front() == "1700");
  REQUIRE(sunspots.time.back() == "2008");
  REQUIRE(sunspots.column("SUNACTIVITY").front() == 5.0);

  REQUIRE_THROWS_WITH(read_csv(dir + "/co2.csv", {.columns = {"co2"}, .time_column = "date"}),
                      Catch::Contains("59 missing values"));
  const auto co2 = read_csv(dir + "/co2.csv", {.columns = {"co2"}, .time_column = "date",
                                               .missing = MissingPolicy::interpolate});
  REQUIRE(co2.rows() == 2284);
  REQUIRE(co2.missing_counts == std::vector<std::int64_t>{59});
  REQUIRE(co2.values_interpolated == 59);
  for (double value : co2.column("co2")) REQUIRE(std::isfinite(value));

  REQUIRE_THROWS_WITH(read_csv(dir + "/no_such.csv"),
                      Catch::Contains("no_such.csv: cannot open: No such file or directory"));
  REQUIRE_THROWS_WITH(read_csv(dir), Catch::Contains("is a directory"));
}
