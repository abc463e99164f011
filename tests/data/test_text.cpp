#include "data/dataset.h"
#include "data/loader.h"
#include "data/text.h"
#include "test_util.h"

using namespace tapegrad;
using namespace tapegrad::data;
using Tokens = std::vector<std::string>;

TEST_CASE("tokenize lower-cases and splits on punctuation and whitespace", "[text]") {
  REQUIRE(tokenize("Hello, World!") == Tokens{"hello", "world"});
  REQUIRE(tokenize("line1\nLINE2\tx  y") == Tokens{"line1", "line2", "x", "y"});
  REQUIRE(tokenize("stop-believing... snake_case (2024)") ==
          Tokens{"stop", "believing", "snake", "case", "2024"});
  REQUIRE(tokenize("").empty());
  REQUIRE(tokenize(" ,.!? -- ' ").empty());
}

TEST_CASE("tokenize keeps apostrophes only inside words", "[text]") {
  REQUIRE(tokenize("Don't stop, it's O'Neil's") == Tokens{"don't", "stop", "it's", "o'neil's"});
  REQUIRE(tokenize("'quoted' rock 'n' roll") == Tokens{"quoted", "rock", "n", "roll"});
  REQUIRE(tokenize("the students' books'") == Tokens{"the", "students", "books"});
  REQUIRE(tokenize("a''b") == Tokens{"a", "b"});
}

TEST_CASE("tokenize keeps UTF-8 bytes inside words unchanged", "[text]") {
  // "Café naïve 日本語!" : é, ï and the CJK letters are multi-byte UTF-8 (bytes >= 0x80).
  REQUIRE(tokenize("Caf\xC3\xA9 NA\xC3\xAFVE \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E!") ==
          Tokens{"caf\xC3\xA9", "na\xC3\xAFve", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"});
  // Only ASCII is lower-cased: "É" (C3 89) stays as it is.
  REQUIRE(tokenize("\xC3\x89t\xC3\xA9") == Tokens{"\xC3\x89t\xC3\xA9"});
}

namespace {

// counts: the 3, cat 2, sat 2, dog 1, ran 1
const std::vector<Tokens> corpus = {
    {"the", "cat", "sat"}, {"the", "dog", "sat"}, {"the", "cat", "ran"}};

}  // namespace

TEST_CASE("Vocabulary orders by frequency, then alphabetically, after the specials", "[text]") {
  Vocabulary vocab(corpus);
  REQUIRE(vocab.size() == 7);
  REQUIRE(vocab.decode({0, 1, 2, 3, 4, 5, 6}) ==
          Tokens{"<pad>", "<unk>", "the", "cat", "sat", "dog", "ran"});
  REQUIRE(vocab.id("<pad>") == Vocabulary::pad_id);
  REQUIRE(vocab.id("<unk>") == Vocabulary::unk_id);
  REQUIRE(vocab.token(2) == "the");
  REQUIRE(vocab.frequency("cat") == 2);
  REQUIRE(vocab.frequency("bird") == 0);
  REQUIRE(vocab.contains("dog"));
  REQUIRE_FALSE(vocab.contains("bird"));

  // The same corpus in another order gives the same ids.
  Vocabulary reordered({corpus[2], corpus[0], corpus[1]});
  REQUIRE(reordered.decode({2, 3, 4, 5, 6}) == vocab.decode({2, 3, 4, 5, 6}));
}

TEST_CASE("Vocabulary maps unknown tokens to <unk> and honours min_freq/max_size", "[text]") {
  Vocabulary vocab(corpus);
  REQUIRE(vocab.encode({"the", "bird", "cat", "<pad>"}) ==
          std::vector<std::int64_t>{2, 1, 3, 0});

  Vocabulary frequent(corpus, {.min_freq = 2});
  REQUIRE(frequent.size() == 5);
  REQUIRE(frequent.decode({2, 3, 4}) == Tokens{"the", "cat", "sat"});
  REQUIRE(frequent.id("dog") == Vocabulary::unk_id);

  Vocabulary small(corpus, {.max_size = 4});
  REQUIRE(small.size() == 4);
  REQUIRE(small.decode({2, 3}) == Tokens{"the", "cat"});
  REQUIRE(small.encode({"sat"}) == std::vector<std::int64_t>{Vocabulary::unk_id});

  REQUIRE(Vocabulary(corpus, {.max_size = 100}).size() == 7);
  REQUIRE(Vocabulary(corpus, {.max_size = 2}).size() == 2);

  // Specials in the corpus are not counted as words.
  Vocabulary with_specials({{"<pad>", "<unk>", "word", "<pad>"}});
  REQUIRE(with_specials.size() == 3);
  REQUIRE(with_specials.frequency("<pad>") == 0);
}

TEST_CASE("Vocabulary round-trips tokenized text", "[text]") {
  const std::vector<Tokens> texts = {tokenize("I loved it. Loved it!"), tokenize("I hated it")};
  Vocabulary vocab(texts);
  // counts: it 3, i 2, loved 2, hated 1 -> ids 2, 3, 4, 5
  const std::vector<std::vector<std::int64_t>> ids = vocab.encode_all(texts);
  REQUIRE(ids[0] == std::vector<std::int64_t>{3, 4, 2, 4, 2});
  REQUIRE(ids[1] == std::vector<std::int64_t>{3, 5, 2});
  REQUIRE(vocab.decode(ids[1]) == texts[1]);
}

TEST_CASE("Vocabulary rejects bad options and ids", "[text][errors]") {
  REQUIRE_THROWS_AS(Vocabulary(corpus, {.min_freq = 0}), ValueError);
  REQUIRE_THROWS_WITH(Vocabulary(corpus, {.min_freq = 0}),
                      Catch::Contains("Vocabulary") && Catch::Contains("min_freq"));
  REQUIRE_THROWS_AS(Vocabulary(corpus, {.max_size = 1}), ValueError);
  Vocabulary vocab(corpus);
  REQUIRE_THROWS_AS(vocab.decode({2, 7}), IndexError);
  REQUIRE_THROWS_WITH(vocab.decode({2, 7}), Catch::Contains("Vocabulary.decode") &&
                                                Catch::Contains("id 7") &&
                                                Catch::Contains("position 1") &&
                                                Catch::Contains("size 7"));
  REQUIRE_THROWS_AS(vocab.decode({-1}), IndexError);
  REQUIRE_THROWS_AS(vocab.token(7), IndexError);
}

TEST_CASE("pad_ids pads at the end and truncates to max_length", "[text]") {
  const PaddedIds padded = pad_ids({{5, 6, 7}, {8}, {1, 2, 3, 4, 5}}, 4);
  REQUIRE(padded.shape == Shape{3, 4});
  REQUIRE(padded.ids == std::vector<std::int64_t>{5, 6, 7, 0, 8, 0, 0, 0, 1, 2, 3, 4});
  REQUIRE(padded.lengths == std::vector<std::int64_t>{3, 1, 4});

  const PaddedIds custom = pad_ids({{3}, {4, 5}}, 3, -1);
  REQUIRE(custom.ids == std::vector<std::int64_t>{3, -1, -1, 4, 5, -1});

  Tensor as_tensor = padded.ids_tensor();
  REQUIRE(as_tensor.shape() == Shape{3, 4});
  REQUIRE(as_tensor.dtype() == Dtype::int64);
  REQUIRE(as_tensor.to_vector_i64() == padded.ids);
  REQUIRE(tensor_to_ids(as_tensor) == padded.ids);
  REQUIRE(padded.lengths_tensor().to_vector_i64() == padded.lengths);
  // Data made before int64 tensors: float ids still convert.
  REQUIRE(tensor_to_ids(as_tensor.to(Dtype::float32)) == padded.ids);
}

TEST_CASE("pad_ids and tensor_to_ids reject bad input", "[text][errors]") {
  REQUIRE_THROWS_AS(pad_ids({{1, 2}, {}, {3}}, 4), ValueError);
  REQUIRE_THROWS_WITH(pad_ids({{1, 2}, {}, {3}}, 4),
                      Catch::Contains("pad_ids") && Catch::Contains("sequence 1"));
  REQUIRE_THROWS_AS(pad_ids({{1}}, 0), ValueError);
  REQUIRE_THROWS_WITH(pad_ids({{1}}, 0), Catch::Contains("pad_ids") && Catch::Contains("0"));
  REQUIRE_THROWS_AS(pad_ids({}, 3), ValueError);
  REQUIRE_THROWS_AS(tensor_to_ids(Tensor::from_vector({1.0f, 1.5f}, {2})), ValueError);
  REQUIRE_THROWS_WITH(tensor_to_ids(Tensor::from_vector({1.0f, 1.5f}, {2})),
                      Catch::Contains("tensor_to_ids") && Catch::Contains("index 1"));
  REQUIRE_THROWS_AS(tensor_to_ids(Tensor::from_vector({-1.0f}, {1})), ValueError);
  REQUIRE_THROWS_WITH(tensor_to_ids(Tensor::from_vector_i64({4, -1}, {2})),
                      Catch::Contains("tensor_to_ids: value -1 at index 1 is negative"));
}

TEST_CASE("Labels must satisfy 0 <= label < num_classes", "[text][errors]") {
  REQUIRE_NOTHROW(check_labels({0, 2, 1}, 3));
  REQUIRE_THROWS_AS(check_labels({0, 3, 1}, 3), ValueError);
  REQUIRE_THROWS_WITH(check_labels({0, 3, 1}, 3), Catch::Contains("check_labels") &&
                                                      Catch::Contains("label 3") &&
                                                      Catch::Contains("index 1"));
  REQUIRE_THROWS_WITH(check_labels({-1}, 2), Catch::Contains("label -1") &&
                                                 Catch::Contains("index 0"));
  REQUIRE_THROWS_AS(check_labels({0}, 0), ValueError);

  Tensor labels = labels_tensor({0, 2, 1}, 3);
  REQUIRE(labels.shape() == Shape{3});
  REQUIRE(labels.dtype() == Dtype::int64);
  REQUIRE(labels.to_vector_i64() == std::vector<std::int64_t>{0, 2, 1});
  REQUIRE_THROWS_WITH(labels_tensor({1, 5}, 2), Catch::Contains("labels_tensor") &&
                                                    Catch::Contains("label 5") &&
                                                    Catch::Contains("index 1"));
}

TEST_CASE("encode_labels sorts class names like sklearn's LabelEncoder", "[text]") {
  const EncodedLabels encoded = encode_labels({"pos", "neg", "pos", "neutral"});
  REQUIRE(encoded.classes == Tokens{"neg", "neutral", "pos"});
  REQUIRE(encoded.ids == std::vector<std::int64_t>{2, 0, 2, 1});
  REQUIRE(encode_labels({}).ids.empty());
}

TEST_CASE("The text pipeline feeds a DataLoader", "[text]") {
  const std::vector<std::string> reviews = {"Great film!", "Awful, awful film.", "Great cast"};
  std::vector<Tokens> tokens;
  for (const auto& review : reviews) tokens.push_back(tokenize(review));
  Vocabulary vocab(tokens);
  const PaddedIds padded = pad_ids(vocab.encode_all(tokens), 3);
  TensorDataset dataset({padded.ids_tensor(), labels_tensor({1, 0, 1}, 2)});
  DataLoader loader(dataset, {.batch_size = 2, .shuffle = true, .seed = 1});
  std::vector<std::int64_t> seen_labels;
  for (const std::vector<Tensor>& batch : loader) {
    const std::vector<std::int64_t> ids = tensor_to_ids(batch[0]);
    for (std::int64_t r = 0; r < batch[1].shape()[0]; ++r) {
      const std::int64_t label = batch[1].data_i64()[r];
      seen_labels.push_back(label);
      // Each row's words decode back to its review; the first word tells which review it is.
      const std::vector<std::int64_t> row(ids.begin() + r * 3, ids.begin() + r * 3 + 3);
      const std::string first = vocab.decode(row)[0];
      REQUIRE(label == (first == "awful" ? 0 : 1));
    }
  }
  std::sort(seen_labels.begin(), seen_labels.end());
  REQUIRE(seen_labels == std::vector<std::int64_t>{0, 1, 1});
}

TEST_CASE("pad_ids refuses a max_length whose buffer would overflow", "[text][shape]") {
  // count * max_length wrapped around before it sized the id buffer.
  const std::vector<std::vector<std::int64_t>> sequences{{1, 2}, {3}, {4}, {5}};
  const std::int64_t wraps = (std::int64_t{1} << 62) + 1;  // 4 * that is 4 mod 2^64
  REQUIRE_THROWS_AS(pad_ids(sequences, wraps), ShapeError);
  REQUIRE_THROWS_WITH(pad_ids(sequences, wraps),
                      Catch::StartsWith("pad_ids: shape [4, 4611686018427387905]"));
}
