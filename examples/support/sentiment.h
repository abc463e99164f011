#pragma once
// Sentence sentiment with a recurrent classifier: data/sentiment/sentences.tsv -> tokenize ->
// Vocabulary (training split only) -> padded ids with lengths -> Embedding(padding_idx 0) -> LSTM
// (or GRU/RNN) with `lengths` -> Linear on the final hidden state -> one logit. What
// examples/sentiment.cpp runs and tests/examples/test_sentiment.cpp checks.
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "autograd/generator.h"
#include "autograd/tensor.h"
#include "data/text.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/rnn.h"

namespace examples {

struct LabelledSentence {
  std::int64_t label;  // 1 positive, 0 negative
  std::string text;
};

// Reads a `label<TAB>sentence` file with a header line (the format of data/sentiment/). Throws
// std::runtime_error naming the file (and the line number for a malformed row).
std::vector<LabelledSentence> read_sentiment_tsv(const std::string& path);

// A seeded random split: round(n * test_fraction) rows held out, the rest for training, each in
// the order of one Fisher-Yates permutation drawn from `generator`. std::invalid_argument when a
// side would be empty.
struct SentimentSplit {
  std::vector<LabelledSentence> train, test;
};
SentimentSplit split_sentiment(const std::vector<LabelledSentence>& corpus, float test_fraction,
                               tapegrad::Generator& generator);

// The default corpus, from the source tree (TAPEGRAD_DATA_DIR is set by examples/CMakeLists.txt).
std::string default_sentiment_path();

struct SentimentModelOptions {
  std::string cell = "lstm";  // lstm, gru or rnn
  std::int64_t vocabulary_size = 0;
  std::int64_t embedding_dim = 32;
  std::int64_t hidden_size = 32;
  std::int64_t num_layers = 1;
  bool bidirectional = false;
  // Dropout on the word vectors and on the final state, in training mode only: with a few hundred
  // sentences the model memorises the training split within a few epochs otherwise.
  float dropout = 0.0f;
};

// Embedding -> recurrent layer -> Linear(H or 2H -> 1) on the last layer's final hidden state(s).
// Because the recurrent layer gets each sentence's length, h_n is the state after the sentence's
// own last token: padding never reaches the classifier, and a sentence gets the same logit
// whatever it is batched with.
class SentimentClassifier : public tapegrad::nn::Module {
 public:
  SentimentClassifier(const SentimentModelOptions& options, tapegrad::Generator& generator);
  // ids row-major [B, T] (padded with Vocabulary::pad_id), lengths [B] -> logits [B, 1].
  tapegrad::Tensor forward(const std::vector<std::int64_t>& ids, const tapegrad::Shape& shape,
                           const std::vector<std::int64_t>& lengths) const;
  const SentimentModelOptions& options() const { return options_; }

 private:
  SentimentModelOptions options_;
  tapegrad::nn::Embedding* embedding_ = nullptr;
  // Exactly one of these is set, per options_.cell.
  tapegrad::nn::LSTM* lstm_ = nullptr;
  tapegrad::nn::GRU* gru_ = nullptr;
  tapegrad::nn::RNN* rnn_ = nullptr;
  tapegrad::nn::Linear* head_ = nullptr;
  tapegrad::nn::Dropout* dropout_ = nullptr;
};

struct SentimentConfig {
  std::string data_path = default_sentiment_path();
  std::string cell = "lstm";
  std::int64_t embedding_dim = 32;
  std::int64_t hidden_size = 32;
  std::int64_t num_layers = 1;
  bool bidirectional = false;
  float dropout = 0.5f;
  std::int64_t epochs = 10;
  std::int64_t batch_size = 16;
  std::int64_t max_length = 24;  // tokens kept per sentence (the corpus has at most 20 words)
  // Training-split tokens seen fewer times map to <unk>, so <unk> is trained too and the many
  // test words never seen in training do not hit an untrained random embedding.
  std::int64_t min_freq = 2;
  float lr = 0.01f;
  float test_fraction = 0.2f;
  std::uint64_t seed = 0;  // split, initialisation and batch order
  std::ostream* log = nullptr;  // per-epoch lines go here when set
};

struct SentimentEpoch {
  std::int64_t epoch;
  float loss;  // mean training loss over the epoch's samples
  float train_accuracy;  // measured in eval mode after the epoch
  float test_accuracy;
};

// The trained model with what it needs to read new text.
struct SentimentPredictor {
  std::unique_ptr<SentimentClassifier> model;
  std::unique_ptr<tapegrad::data::Vocabulary> vocabulary;
  std::int64_t max_length = 0;
  // P(positive) per text, in eval mode under no-grad. A text with no tokens gets the model's
  // output for a lone <unk>.
  std::vector<float> predict(const std::vector<std::string>& texts) const;
};

struct SentimentResult {
  std::vector<SentimentEpoch> epochs;
  float train_accuracy = 0.0f;  // after the last epoch
  float test_accuracy = 0.0f;   // held-out, after the last epoch
  float majority_test_accuracy = 0.0f;  // always predicting the training split's majority label
  std::int64_t train_size = 0, test_size = 0, vocabulary_size = 0, num_parameters = 0;
  SentimentPredictor predictor;
};

// Splits the corpus with split_sentiment and a Generator(seed) (which then initialises the model,
// so Generator(seed) alone reproduces the split), trains with Adam on
// binary_cross_entropy_with_logits in mini-batches from a DataLoader, and evaluates after every
// epoch. Throws std::invalid_argument for a bad config, std::runtime_error for an unreadable file,
// NonFiniteLossError (support/loss_guard.h) at the first NaN or infinite batch loss.
SentimentResult train_sentiment(const SentimentConfig& config);

}  // namespace examples
