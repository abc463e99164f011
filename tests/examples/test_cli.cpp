// The flag checks of support/cli.h, where they differ from CLI11's own conversions: overflow,
// octal, negative seeds, non-finite reals, empty list items.
#include <limits>
#include <string>
#include <vector>

#include "support/cli.h"
#include "test_util.h"

namespace cli = examples::cli;

namespace {

// Parses `arguments` (without argv[0]) into `app`; "" when accepted, else CLI11's message.
std::string parse(CLI::App& app, std::vector<std::string> arguments) {
  std::reverse(arguments.begin(), arguments.end());  // CLI11 takes a reversed vector
  try {
    app.parse(arguments);
    return "";
  } catch (const CLI::ParseError& error) {
    return error.what();
  }
}

}  // namespace

TEST_CASE("integer_in: base 10 only, overflow and out-of-range refused with the text quoted",
          "[examples][cli]") {
  std::int64_t hidden = 7;
  CLI::App app;
  app.add_option("--hidden", hidden)->check(cli::integer_in(1, 4096));
  CHECK(parse(app, {"--hidden", "4096"}).empty());
  CHECK(hidden == 4096);
  // CLI11 alone reads 010 as octal 8 and 0x10 as 16; 99999999999999999999 saturates.
  for (const std::string bad : {"0", "4097", "-1", "99999999999999999999", "010", "0x10", "+5",
                                " 5", "5 ", "", "1e3", "abc"}) {
    INFO("[" << bad << "]");
    const std::string message = parse(app, {"--hidden", bad});
    CHECK(message.find("--hidden") != std::string::npos);
    CHECK(message.find("\"" + bad + "\"") != std::string::npos);
    CHECK(message.find("[1, 4096]") != std::string::npos);
  }
  CHECK(hidden == 4096);
}

TEST_CASE("seed_value: the whole uint64 range, no wrap-around of negatives", "[examples][cli]") {
  std::uint64_t seed = 3;
  CLI::App app;
  app.add_option("--seed", seed)->check(cli::seed_value());
  CHECK(parse(app, {"--seed", "18446744073709551615"}).empty());
  CHECK(seed == std::numeric_limits<std::uint64_t>::max());
  CHECK(parse(app, {"--seed", "-1"}).find("\"-1\"") != std::string::npos);  // strtoull: 2^64-1
  CHECK(parse(app, {"--seed", "18446744073709551616"}).find("--seed") != std::string::npos);
}

TEST_CASE("real_in: finite, inside the interval, representable as a float", "[examples][cli]") {
  float lr = 0.5f, dropout = 0.0f;
  CLI::App app;
  app.add_option("--lr", lr)->check(cli::positive_real());
  app.add_option("--dropout", dropout)->check(cli::real_in(0.0, 1.0, cli::Open::max));
  CHECK(parse(app, {"--lr", "1e-3", "--dropout", "0"}).empty());
  CHECK(lr == 1e-3f);
  for (const std::string bad : {"0", "-1", "inf", "-inf", "nan", "1e39", "1e-50", "0x1p3", "", "1,5"}) {
    INFO("[" << bad << "]");
    const std::string message = parse(app, {"--lr", bad});
    CHECK(message.find("--lr") != std::string::npos);
    CHECK(message.find("\"" + bad + "\"") != std::string::npos);
  }
  CHECK(parse(app, {"--dropout", "1"}).find("[0, 1)") != std::string::npos);
}

TEST_CASE("add_list: every item checked, empty items refused, default kept", "[examples][cli]") {
  std::vector<std::int64_t> lags = {10, 50};
  std::vector<std::string> cells = {"lstm"};
  CLI::App app;
  cli::add_list(app, "--lags", lags, cli::integer_in(0, 1000), "lags");
  cli::add_list(app, "--cells", cells, cli::one_of({"rnn", "lstm", "gru"}), "cells");
  CHECK(parse(app, {}).empty());
  CHECK(lags == std::vector<std::int64_t>{10, 50});
  CHECK(parse(app, {"--lags", "5,0,7", "--cells", "gru,rnn"}).empty());
  CHECK(lags == std::vector<std::int64_t>{5, 0, 7});
  CHECK(cells == std::vector<std::string>{"gru", "rnn"});
  for (const std::string bad : {"5,,5", ",5", "5,", "", "abc", "5,-1", "5;6", "5,07"}) {
    INFO("[" << bad << "]");
    const std::string message = parse(app, {"--lags", bad});
    CHECK(message.find("--lags") != std::string::npos);
    CHECK(message.find("\"" + bad + "\"") != std::string::npos);
  }
  CHECK(parse(app, {"--cells", "lstm,LSTM"}).find("\"LSTM\"") != std::string::npos);
  // A repeat would run the same configuration twice under one label.
  CHECK(parse(app, {"--cells", "gru,lstm,gru"}).find("\"gru\" is listed twice") !=
        std::string::npos);
  CHECK(parse(app, {"--lags", "5,7,5"}).find("\"5\" is listed twice") != std::string::npos);
  CHECK(lags == std::vector<std::int64_t>{5, 0, 7});  // unchanged by the refused lists

  std::vector<std::string> sentences;
  CLI::App repeats_allowed;
  cli::add_list(repeats_allowed, "--predict", sentences, cli::non_empty(), "sentences",
                cli::Repeats::allow, '|');
  CHECK(parse(repeats_allowed, {"--predict", "good|good"}).empty());
  CHECK(sentences == std::vector<std::string>{"good", "good"});
}
