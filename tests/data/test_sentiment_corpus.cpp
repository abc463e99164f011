// The sentiment corpus shipped in data/sentiment: header, well-formed rows, label balance, size,
// no duplicate sentences. Read with plain std::ifstream, independently of the text pipeline.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

struct Row {
  std::string label;
  std::string sentence;
};

std::string corpus_path() { return std::string(TAPEGRAD_DATA_DIR) + "/sentiment/sentences.tsv"; }

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

TEST_CASE("sentiment corpus: header, row format, balance, size and no duplicates",
          "[data][sentiment]") {
  INFO("file " << corpus_path());
  const std::vector<std::string> lines = read_lines(corpus_path());
  REQUIRE(lines.size() >= 2);
  REQUIRE(lines[0] == "label\tsentence");

  std::vector<Row> rows;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    INFO("line " << i + 1 << ": " << line);
    REQUIRE(std::count(line.begin(), line.end(), '\t') == 1);  // no tab inside a sentence
    REQUIRE(line.find('\r') == std::string::npos);
    const std::size_t tab = line.find('\t');
    rows.push_back({line.substr(0, tab), line.substr(tab + 1)});
    const Row& row = rows.back();
    REQUIRE((row.label == "0" || row.label == "1"));
    REQUIRE_FALSE(row.sentence.empty());
    REQUIRE(row.sentence.front() != ' ');
    REQUIRE(row.sentence.back() != ' ');
    for (unsigned char c : row.sentence) REQUIRE((c >= 0x20 && c < 0x7f));  // printable ASCII
    std::istringstream words(row.sentence);
    const auto word_count = std::distance(std::istream_iterator<std::string>(words),
                                          std::istream_iterator<std::string>());
    REQUIRE(word_count >= 4);
    REQUIRE(word_count <= 20);
  }

  REQUIRE(rows.size() >= 300);
  const auto positives = std::count_if(rows.begin(), rows.end(),
                                       [](const Row& row) { return row.label == "1"; });
  const auto negatives = static_cast<std::ptrdiff_t>(rows.size()) - positives;
  INFO(positives << " positive, " << negatives << " negative");
  // Balanced within 10% of the rows: each label holds between 45% and 55% of them.
  REQUIRE(std::abs(positives - negatives) <= static_cast<std::ptrdiff_t>(rows.size()) / 10);

  std::set<std::string> seen;
  for (const Row& row : rows) {
    INFO("sentence: " << row.sentence);
    REQUIRE(seen.insert(lowercase(row.sentence)).second);
  }
}
