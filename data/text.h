#pragma once
// A small text pipeline for sequence classification: tokenize -> Vocabulary -> pad_ids, plus label
// checks. Ids are std::int64_t, the index type of tapegrad's embedding op, and go into datasets as
// int64 tensors (no float round trip):
//   auto padded = pad_ids(vocab.encode_all(token_lists), 50);
//   Tensor embedded = embedding(weight, padded.ids_tensor(), Vocabulary::pad_id);
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad::data {

// Lower-cases ASCII letters and splits on every byte that is not a word byte. Word bytes are ASCII
// letters and digits, and every byte >= 0x80, so UTF-8 letters (é, ß, 日本) stay inside words,
// unchanged. An apostrophe (') is kept only between two word bytes: "don't" is one token,
// "'quoted'" gives "quoted". Never returns an empty token.
std::vector<std::string> tokenize(std::string_view text);

struct VocabularyOptions {
  std::int64_t min_freq = 1;              // tokens seen fewer times are left out (map to <unk>)
  // Whole vocabulary, specials included; >= 2. (An explicit default keeps GCC -Wextra quiet
  // about designated initializers that leave it out.)
  std::optional<std::int64_t> max_size = std::nullopt;
};

// Ids: 0 = "<pad>", 1 = "<unk>", then the kept tokens by frequency (descending), ties in byte-wise
// alphabetical order, so the same corpus always gives the same ids. With max_size, the
// max_size - 2 first tokens of that order are kept (torchtext's max_tokens counts specials too).
class Vocabulary {
 public:
  static constexpr std::int64_t pad_id = 0;
  static constexpr std::int64_t unk_id = 1;
  static constexpr std::string_view pad_token = "<pad>";
  static constexpr std::string_view unk_token = "<unk>";

  // Counts every token of every list. Occurrences of "<pad>"/"<unk>" count toward nothing: they
  // already have their ids. ValueError for min_freq < 1 or max_size < 2.
  explicit Vocabulary(const std::vector<std::vector<std::string>>& token_lists,
                      VocabularyOptions options = {});

  std::int64_t size() const { return static_cast<std::int64_t>(tokens_.size()); }
  bool contains(std::string_view token) const;
  std::int64_t id(std::string_view token) const;  // unk_id for an unknown token
  const std::string& token(std::int64_t id) const;  // IndexError outside [0, size())
  // How often the token appeared in the corpus (0 for unknown tokens and the specials).
  std::int64_t frequency(std::string_view token) const;

  std::vector<std::int64_t> encode(const std::vector<std::string>& tokens) const;
  std::vector<std::vector<std::int64_t>> encode_all(
      const std::vector<std::vector<std::string>>& token_lists) const;
  // IndexError naming the id, its position and the vocabulary size when an id is out of range.
  std::vector<std::string> decode(const std::vector<std::int64_t>& ids) const;

 private:
  std::vector<std::string> tokens_;                        // id -> token
  std::map<std::string, std::int64_t, std::less<>> ids_;     // token -> id
  std::map<std::string, std::int64_t, std::less<>> counts_;  // token -> corpus frequency
};

// Sequences padded (at the end) or truncated (keeping the first max_length ids) to max_length.
struct PaddedIds {
  std::vector<std::int64_t> ids;      // row-major [N, max_length]
  Shape shape;                        // {N, max_length}
  std::vector<std::int64_t> lengths;  // min(original length, max_length), each >= 1
  // The ids as an int64 tensor [N, max_length], to put in a TensorDataset.
  Tensor ids_tensor() const;
  // The lengths as an int64 tensor [N].
  Tensor lengths_tensor() const;
};

// ValueError for max_length < 1, no sequences, or an empty sequence (naming its index): an empty
// sequence has no last hidden state, so it would silently classify padding.
PaddedIds pad_ids(const std::vector<std::vector<std::int64_t>>& sequences,
                  std::int64_t max_length, std::int64_t pad_id = Vocabulary::pad_id);

// The ids of a batch from a DataLoader: an int64 tensor's values (ValueError naming the index of a
// negative one), or, from a float tensor (data made before int64 tensors), its values when each is
// a whole number in [0, 2^24), where floats are exact (ValueError naming the index otherwise).
std::vector<std::int64_t> tensor_to_ids(const Tensor& ids);

// ValueError("check_labels: label 7 at index 3 is out of range [0, 5)") for the first bad label;
// ValueError for num_classes < 1.
void check_labels(const std::vector<std::int64_t>& labels, std::int64_t num_classes);

// sklearn's LabelEncoder: classes sorted (byte-wise), each label replaced by its class index.
struct EncodedLabels {
  std::vector<std::int64_t> ids;
  std::vector<std::string> classes;  // id -> class name
};
EncodedLabels encode_labels(const std::vector<std::string>& labels);

// Integer class labels as an int64 tensor [N], to put in a TensorDataset (cross_entropy takes it
// as its target; a loss on probabilities such as binary_cross_entropy wants labels.to(float32));
// checked as by check_labels (the message names labels_tensor).
Tensor labels_tensor(const std::vector<std::int64_t>& labels, std::int64_t num_classes);

}  // namespace tapegrad::data
