// gnuplot_quote against gnuplot itself: a file name holding every byte value but '/' and NUL goes
// through a script and comes out as exactly that name, and nothing in it runs as a command.
#include <string>

#include "example_process.h"
#include "support/gnuplot.h"
#include "test_util.h"

using examples::gnuplot_path;
using examples::gnuplot_quote;
using examples::testing::ScratchDir;

TEST_CASE("gnuplot_quote escapes exactly what gnuplot reads specially in double quotes",
          "[examples][gnuplot]") {
  CHECK(gnuplot_quote("plain name.csv") == "\"plain name.csv\"");
  CHECK(gnuplot_quote("it's") == "\"it's\"");
  CHECK(gnuplot_quote("a\"b") == "\"a\\\"b\"");
  CHECK(gnuplot_quote("a\\b") == "\"a\\\\b\"");
  CHECK(gnuplot_quote("a\nb\rc") == "\"a\\nb\\rc\"");
  CHECK(gnuplot_quote("`cmd`7") == "\"\\140cmd\\1407\"");  // a digit after the escape stays a digit
  CHECK(gnuplot_quote("") == "\"\"");
  // Relative names become absolute: '<cmd', '|cmd', '-' and '~' mean something else to gnuplot.
  for (const std::string name : {"<touch x", "|touch x", "-", "~/x"}) {
    const std::string quoted = gnuplot_path(name);
    INFO(quoted);
    CHECK(quoted.rfind("\"/", 0) == 0);
  }
}

TEST_CASE("run_gnuplot: every byte of a path reaches gnuplot as data", "[examples][gnuplot]") {
  if (!examples::have_gnuplot()) {
    WARN("gnuplot is not on PATH: skipped (apt-get install gnuplot-nox)");
    return;
  }
  ScratchDir scratch;
  std::string every_byte;
  for (int byte = 1; byte < 256; ++byte) {
    if (byte != '/') every_byte += static_cast<char>(byte);
  }
  const std::filesystem::path dir = scratch.path() / every_byte;
  std::filesystem::create_directories(dir);
  // gnuplot creates the print file itself: it exists only if the name arrived intact. Had the
  // backquotes run, the name and the text would hold "SUBSTITUTED" instead.
  const std::string command = "`echo SUBSTITUTED`";
  const auto printed = dir / ("printed " + command);
  const std::string script = "set print " + gnuplot_path(printed) + "\nprint " +
                             gnuplot_quote("value with " + command + " and @x") + "\n";
  REQUIRE(examples::run_gnuplot(dir / "script.gnuplot", script));
  REQUIRE(std::filesystem::exists(printed));
  CHECK(examples::testing::read_text(printed) == "value with " + command + " and @x\n");
}

TEST_CASE("run_gnuplot reports a failing script instead of throwing", "[examples][gnuplot]") {
  if (!examples::have_gnuplot()) {
    WARN("gnuplot is not on PATH: skipped (apt-get install gnuplot-nox)");
    return;
  }
  ScratchDir scratch;
  CHECK_FALSE(examples::run_gnuplot(scratch.path() / "bad.gnuplot", "this is not gnuplot\n"));
  CHECK_THROWS_WITH(examples::run_gnuplot(scratch.path() / "missing" / "x.gnuplot", "print 1\n"),
                    Catch::Contains("cannot write the gnuplot script"));
}
