#include "data/text.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace tapegrad::data {

namespace {

bool is_word_byte(unsigned char byte) {
  return (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
         (byte >= '0' && byte <= '9') || byte >= 0x80;
}

char ascii_lower(unsigned char byte) {
  return static_cast<char>(byte >= 'A' && byte <= 'Z' ? byte - 'A' + 'a' : byte);
}

}  // namespace

std::vector<std::string> tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  std::string current;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (is_word_byte(byte)) {
      current.push_back(ascii_lower(byte));
      continue;
    }
    // An apostrophe joins two word bytes: the previous byte was a word byte exactly when the
    // current token is non-empty.
    const bool inner_apostrophe = byte == '\'' && !current.empty() && i + 1 < text.size() &&
                                  is_word_byte(static_cast<unsigned char>(text[i + 1]));
    if (inner_apostrophe) {
      current.push_back('\'');
    } else if (!current.empty()) {
      tokens.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) tokens.push_back(std::move(current));
  return tokens;
}

// ---------------------------------------------------------------- Vocabulary

Vocabulary::Vocabulary(const std::vector<std::vector<std::string>>& token_lists,
                       VocabularyOptions options) {
  if (options.min_freq < 1) {
    throw ValueError("Vocabulary: min_freq must be at least 1, got " +
                     std::to_string(options.min_freq));
  }
  if (options.max_size && *options.max_size < 2) {
    throw ValueError("Vocabulary: max_size must be at least 2 (for <pad> and <unk>), got " +
                     std::to_string(*options.max_size));
  }
  for (const auto& tokens : token_lists) {
    for (const std::string& token : tokens) {
      if (token != pad_token && token != unk_token) ++counts_[token];
    }
  }
  std::vector<std::pair<std::string, std::int64_t>> kept;
  for (const auto& [token, count] : counts_) {
    if (count >= options.min_freq) kept.emplace_back(token, count);
  }
  // counts_ iterates alphabetically and stable_sort keeps that order among equal counts.
  std::stable_sort(kept.begin(), kept.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (options.max_size && static_cast<std::int64_t>(kept.size()) > *options.max_size - 2) {
    kept.resize(static_cast<std::size_t>(*options.max_size - 2));
  }
  tokens_.reserve(kept.size() + 2);
  tokens_.emplace_back(pad_token);
  tokens_.emplace_back(unk_token);
  for (auto& entry : kept) tokens_.push_back(std::move(entry.first));
  for (std::size_t id = 0; id < tokens_.size(); ++id) {
    ids_.emplace(tokens_[id], static_cast<std::int64_t>(id));
  }
}

bool Vocabulary::contains(std::string_view token) const { return ids_.find(token) != ids_.end(); }

std::int64_t Vocabulary::id(std::string_view token) const {
  const auto found = ids_.find(token);
  return found == ids_.end() ? unk_id : found->second;
}

const std::string& Vocabulary::token(std::int64_t id) const {
  if (id < 0 || id >= size()) {
    throw IndexError("Vocabulary.token: id " + std::to_string(id) +
                     " is out of range for a vocabulary of size " + std::to_string(size()));
  }
  return tokens_[static_cast<std::size_t>(id)];
}

std::int64_t Vocabulary::frequency(std::string_view token) const {
  const auto found = counts_.find(token);
  return found == counts_.end() ? 0 : found->second;
}

std::vector<std::int64_t> Vocabulary::encode(const std::vector<std::string>& tokens) const {
  std::vector<std::int64_t> ids;
  ids.reserve(tokens.size());
  for (const std::string& token : tokens) ids.push_back(id(token));
  return ids;
}

std::vector<std::vector<std::int64_t>> Vocabulary::encode_all(
    const std::vector<std::vector<std::string>>& token_lists) const {
  std::vector<std::vector<std::int64_t>> encoded;
  encoded.reserve(token_lists.size());
  for (const auto& tokens : token_lists) encoded.push_back(encode(tokens));
  return encoded;
}

std::vector<std::string> Vocabulary::decode(const std::vector<std::int64_t>& ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (std::size_t position = 0; position < ids.size(); ++position) {
    const std::int64_t id = ids[position];
    if (id < 0 || id >= size()) {
      throw IndexError("Vocabulary.decode: id " + std::to_string(id) + " at position " +
                       std::to_string(position) + " is out of range for a vocabulary of size " +
                       std::to_string(size()));
    }
    tokens.push_back(tokens_[static_cast<std::size_t>(id)]);
  }
  return tokens;
}

// ---------------------------------------------------------------- padding and labels

PaddedIds pad_ids(const std::vector<std::vector<std::int64_t>>& sequences,
                  std::int64_t max_length, std::int64_t pad_id) {
  if (max_length < 1) {
    throw ValueError("pad_ids: max_length must be at least 1, got " + std::to_string(max_length));
  }
  if (sequences.empty()) throw ValueError("pad_ids: no sequences given");
  for (std::size_t index = 0; index < sequences.size(); ++index) {
    if (sequences[index].empty()) {
      throw ValueError("pad_ids: sequence " + std::to_string(index) +
                       " is empty (every sequence needs at least one id)");
    }
  }
  const auto count = static_cast<std::int64_t>(sequences.size());
  PaddedIds padded;
  padded.shape = {count, max_length};
  // max_length is the caller's: count * max_length must be checked before it sizes the buffer.
  padded.ids.assign(static_cast<std::size_t>(checked_numel("pad_ids", padded.shape)), pad_id);
  padded.lengths.reserve(sequences.size());
  for (std::size_t index = 0; index < sequences.size(); ++index) {
    const auto kept = std::min(static_cast<std::int64_t>(sequences[index].size()), max_length);
    std::copy_n(sequences[index].begin(), kept,
                padded.ids.begin() + static_cast<std::ptrdiff_t>(index) * max_length);
    padded.lengths.push_back(kept);
  }
  return padded;
}

Tensor PaddedIds::ids_tensor() const { return Tensor::from_vector_i64(ids, shape); }

Tensor PaddedIds::lengths_tensor() const {
  return Tensor::from_vector_i64(lengths, {static_cast<std::int64_t>(lengths.size())});
}

std::vector<std::int64_t> tensor_to_ids(const Tensor& ids) {
  if (!ids.defined()) throw ValueError("tensor_to_ids: the tensor is undefined");
  if (ids.dtype() == Dtype::int64) {
    std::vector<std::int64_t> result = ids.to_vector_i64();
    for (std::size_t i = 0; i < result.size(); ++i) {
      if (result[i] < 0) {
        throw ValueError("tensor_to_ids: value " + std::to_string(result[i]) + " at index " +
                         std::to_string(i) + " is negative (ids are >= 0)");
      }
    }
    return result;
  }
  std::vector<std::int64_t> result(static_cast<std::size_t>(ids.numel()));
  const float* values = ids.data();
  for (std::int64_t i = 0; i < ids.numel(); ++i) {
    const float value = values[i];
    if (!(value >= 0.0f) || value != std::floor(value) || value >= 16777216.0f) {
      throw ValueError("tensor_to_ids: value " + std::to_string(value) + " at index " +
                       std::to_string(i) + " is not a whole number in [0, 2^24)");
    }
    result[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(value);
  }
  return result;
}

namespace {

void check_label_range(const char* function, const std::vector<std::int64_t>& labels,
                       std::int64_t num_classes) {
  if (num_classes < 1) {
    throw ValueError(std::string(function) + ": num_classes must be at least 1, got " +
                     std::to_string(num_classes));
  }
  for (std::size_t index = 0; index < labels.size(); ++index) {
    if (labels[index] < 0 || labels[index] >= num_classes) {
      throw ValueError(std::string(function) + ": label " + std::to_string(labels[index]) +
                       " at index " + std::to_string(index) + " is out of range [0, " +
                       std::to_string(num_classes) + ")");
    }
  }
}

}  // namespace

void check_labels(const std::vector<std::int64_t>& labels, std::int64_t num_classes) {
  check_label_range("check_labels", labels, num_classes);
}

EncodedLabels encode_labels(const std::vector<std::string>& labels) {
  EncodedLabels encoded;
  encoded.classes = labels;
  std::sort(encoded.classes.begin(), encoded.classes.end());
  encoded.classes.erase(std::unique(encoded.classes.begin(), encoded.classes.end()),
                        encoded.classes.end());
  encoded.ids.reserve(labels.size());
  for (const std::string& label : labels) {
    const auto found = std::lower_bound(encoded.classes.begin(), encoded.classes.end(), label);
    encoded.ids.push_back(found - encoded.classes.begin());
  }
  return encoded;
}

Tensor labels_tensor(const std::vector<std::int64_t>& labels, std::int64_t num_classes) {
  check_label_range("labels_tensor", labels, num_classes);
  return Tensor::from_vector_i64(labels, {static_cast<std::int64_t>(labels.size())});
}

}  // namespace tapegrad::data
