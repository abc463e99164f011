#include "sentiment.h"

#include <cmath>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <stdexcept>

#include "autograd/grad_mode.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "ops/losses.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "loss_guard.h"

namespace examples {

using namespace tapegrad;

std::string default_sentiment_path() {
  return std::string(TAPEGRAD_DATA_DIR) + "/sentiment/sentences.tsv";
}

std::vector<LabelledSentence> read_sentiment_tsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<LabelledSentence> rows;
  std::string line;
  std::getline(in, line);  // the header: label<TAB>sentence
  for (std::int64_t line_number = 2; std::getline(in, line); ++line_number) {
    if (line.empty()) continue;
    const auto tab = line.find('\t');
    const std::string label = line.substr(0, tab);
    if (tab == std::string::npos || (label != "0" && label != "1") || tab + 1 == line.size()) {
      throw std::runtime_error(path + ":" + std::to_string(line_number) +
                               ": expected `0 or 1<TAB>sentence`, got \"" + line + "\"");
    }
    rows.push_back({label == "1" ? 1 : 0, line.substr(tab + 1)});
  }
  if (rows.empty()) throw std::runtime_error(path + ": no sentences");
  return rows;
}

SentimentClassifier::SentimentClassifier(const SentimentModelOptions& options, Generator& gen)
    : options_(options) {
  embedding_ = &register_module(
      "embedding", nn::Embedding({.num_embeddings = options.vocabulary_size,
                                  .embedding_dim = options.embedding_dim,
                                  .padding_idx = data::Vocabulary::pad_id},
                                 gen));
  const std::int64_t E = options.embedding_dim, H = options.hidden_size, L = options.num_layers;
  const bool bidirectional = options.bidirectional;
  if (options.cell == "lstm") {
    lstm_ = &register_module("rnn", nn::LSTM({.input_size = E, .hidden_size = H, .num_layers = L,
                                              .batch_first = true, .bidirectional = bidirectional},
                                             gen));
  } else if (options.cell == "gru") {
    gru_ = &register_module("rnn", nn::GRU({.input_size = E, .hidden_size = H, .num_layers = L,
                                            .batch_first = true, .bidirectional = bidirectional},
                                           gen));
  } else if (options.cell == "rnn") {
    rnn_ = &register_module("rnn", nn::RNN({.input_size = E, .hidden_size = H, .num_layers = L,
                                            .batch_first = true, .bidirectional = bidirectional},
                                           gen));
  } else {
    throw std::invalid_argument("cell must be lstm, gru or rnn, got \"" + options.cell + "\"");
  }
  const std::int64_t features = bidirectional ? 2 * H : H;
  dropout_ = &register_module("dropout", nn::Dropout(options.dropout, gen));
  head_ = &register_module("head", nn::Linear({.in_features = features, .out_features = 1}, gen));
}

Tensor SentimentClassifier::forward(const std::vector<std::int64_t>& ids, const Shape& shape,
                                    const std::vector<std::int64_t>& lengths) const {
  const Tensor embedded = dropout_->forward(embedding_->forward(ids, shape));  // [B, T, E]
  // h_n [layers * directions, B, H]: each sentence's state after its own last token.
  const Tensor h_n = lstm_ ? lstm_->forward(embedded, {}, lengths).state.h
                     : gru_ ? gru_->forward(embedded, Tensor(), lengths).h_n
                            : rnn_->forward(embedded, Tensor(), lengths).h_n;
  const std::int64_t last = h_n.size(0) - 1;
  // Bidirectional: the last layer's forward state (after the last token) and backward state
  // (after reading back to the first token), side by side.
  const Tensor features = options_.bidirectional
                              ? cat({select(h_n, 0, last - 1), select(h_n, 0, last)}, 1)
                              : select(h_n, 0, last);
  return head_->forward(dropout_->forward(features));
}

namespace {

// Seeded Fisher-Yates permutation of 0..n-1 (std::shuffle's result is implementation-defined).
std::vector<std::int64_t> permutation(std::int64_t n, Generator& gen) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(gen.next_u64() % static_cast<std::uint64_t>(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

// Tokens per text; a text without tokens becomes a lone <unk> so it still has a last state.
std::vector<std::vector<std::int64_t>> encode_texts(const std::vector<std::string>& texts,
                                                    const data::Vocabulary& vocabulary) {
  std::vector<std::vector<std::int64_t>> encoded;
  for (const auto& text : texts) {
    encoded.push_back(vocabulary.encode(data::tokenize(text)));
    if (encoded.back().empty()) encoded.back().push_back(data::Vocabulary::unk_id);
  }
  return encoded;
}

// P(positive) per padded sentence. The training loop checks each loss before its optimizer step,
// but the last step itself can make the parameters overflow; `use` ("evaluation after epoch 3",
// "prediction") names where a non-finite output then stops the run instead of being reported.
std::vector<float> probabilities(SentimentClassifier& model, const data::PaddedIds& padded,
                                 const std::string& use) {
  model.eval();
  NoGradGuard no_grad;
  std::vector<float> p = sigmoid(model.forward(padded.ids, padded.shape, padded.lengths)).to_vector();
  for (const float value : p) {
    if (!std::isfinite(value)) {
      throw NonFiniteLossError("non-finite model output " + std::to_string(value) + " in the " +
                               use + "; the parameters overflowed in training (a learning rate "
                               "too large for the model?)");
    }
  }
  return p;
}

float accuracy(SentimentClassifier& model, const data::PaddedIds& padded,
               const std::vector<std::int64_t>& labels, const std::string& use) {
  const std::vector<float> p = probabilities(model, padded, use);
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) correct += (p[i] > 0.5f) == (labels[i] == 1);
  return static_cast<float>(correct) / static_cast<float>(labels.size());
}

void check_config(const SentimentConfig& c) {
  auto positive = [](const char* name, std::int64_t value) {
    if (value < 1) {
      throw std::invalid_argument(std::string(name) + " must be >= 1, got " + std::to_string(value));
    }
  };
  if (c.cell != "lstm" && c.cell != "gru" && c.cell != "rnn") {
    throw std::invalid_argument("cell must be lstm, gru or rnn, got \"" + c.cell + "\"");
  }
  positive("embedding_dim", c.embedding_dim);
  positive("hidden_size", c.hidden_size);
  positive("num_layers", c.num_layers);
  positive("epochs", c.epochs);
  positive("batch_size", c.batch_size);
  positive("max_length", c.max_length);
  positive("min_freq", c.min_freq);
  if (!(c.test_fraction > 0.0f && c.test_fraction < 1.0f)) {
    throw std::invalid_argument("test_fraction must be in (0, 1), got " +
                                std::to_string(c.test_fraction));
  }
  if (!(std::isfinite(c.lr) && c.lr > 0.0f)) {
    throw std::invalid_argument("lr must be finite and > 0, got " + std::to_string(c.lr));
  }
}

}  // namespace

std::vector<float> SentimentPredictor::predict(const std::vector<std::string>& texts) const {
  if (texts.empty()) return {};
  return probabilities(*model, data::pad_ids(encode_texts(texts, *vocabulary), max_length),
                       "prediction");
}

SentimentSplit split_sentiment(const std::vector<LabelledSentence>& corpus, float test_fraction,
                               Generator& generator) {
  const auto n = static_cast<std::int64_t>(corpus.size());
  const auto test_size = static_cast<std::int64_t>(
      std::lround(static_cast<double>(n) * static_cast<double>(test_fraction)));
  if (!(test_fraction > 0.0f && test_fraction < 1.0f) || test_size < 1 || test_size >= n) {
    throw std::invalid_argument("split_sentiment: a test fraction of " +
                                std::to_string(test_fraction) + " of " + std::to_string(n) +
                                " sentences leaves an empty split");
  }
  SentimentSplit split;
  const std::vector<std::int64_t> order = permutation(n, generator);
  for (std::int64_t i = 0; i < n; ++i) {
    const LabelledSentence& row = corpus[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])];
    (i < test_size ? split.test : split.train).push_back(row);
  }
  return split;
}

SentimentResult train_sentiment(const SentimentConfig& config) {
  check_config(config);
  const std::vector<LabelledSentence> corpus = read_sentiment_tsv(config.data_path);
  // One generator for the split and the initialisation, in that order: a seed fixes both.
  Generator gen(config.seed);
  const SentimentSplit split = split_sentiment(corpus, config.test_fraction, gen);
  std::vector<std::string> train_texts, test_texts;
  std::vector<std::int64_t> train_labels, test_labels;
  for (const auto& row : split.train) {
    train_texts.push_back(row.text);
    train_labels.push_back(row.label);
  }
  for (const auto& row : split.test) {
    test_texts.push_back(row.text);
    test_labels.push_back(row.label);
  }
  const auto train_size = static_cast<std::int64_t>(split.train.size());
  const auto test_size = static_cast<std::int64_t>(split.test.size());

  // The vocabulary sees the training split only: test words it never saw become <unk>, as
  // unseen words would for a deployed model, so the test accuracy is honest.
  std::vector<std::vector<std::string>> train_tokens;
  for (const auto& text : train_texts) train_tokens.push_back(data::tokenize(text));
  auto vocabulary = std::make_unique<data::Vocabulary>(
      train_tokens, data::VocabularyOptions{.min_freq = config.min_freq});
  const data::PaddedIds train_ids =
      data::pad_ids(vocabulary->encode_all(train_tokens), config.max_length);
  const data::PaddedIds test_ids =
      data::pad_ids(encode_texts(test_texts, *vocabulary), config.max_length);

  // Ids, lengths and labels are int64 tensors: the loader carries them bit for bit.
  data::TensorDataset train_set({train_ids.ids_tensor(), train_ids.lengths_tensor(),
                                 data::labels_tensor(train_labels, 2)});
  data::DataLoader loader(train_set, {.batch_size = config.batch_size, .shuffle = true,
                                      .seed = config.seed + 1});

  auto model = std::make_unique<SentimentClassifier>(
      SentimentModelOptions{.cell = config.cell, .vocabulary_size = vocabulary->size(),
                            .embedding_dim = config.embedding_dim,
                            .hidden_size = config.hidden_size, .num_layers = config.num_layers,
                            .bidirectional = config.bidirectional, .dropout = config.dropout},
      gen);
  optim::Adam adam(model->parameters(), {.lr = config.lr});

  SentimentResult result;
  result.train_size = train_size;
  result.test_size = test_size;
  result.vocabulary_size = vocabulary->size();
  result.num_parameters = model->num_parameters();
  std::int64_t train_positives = 0;
  for (auto label : train_labels) train_positives += label;
  const std::int64_t majority = 2 * train_positives >= result.train_size ? 1 : 0;
  std::int64_t majority_hits = 0;
  for (auto label : test_labels) majority_hits += label == majority;
  result.majority_test_accuracy = static_cast<float>(majority_hits) / static_cast<float>(test_size);

  for (std::int64_t epoch = 1; epoch <= config.epochs; ++epoch) {
    model->train();
    double loss_sum = 0.0;
    std::int64_t step = 0;
    for (const data::Batch& batch : loader) {
      const Tensor& ids = batch[0];  // [b, max_length], int64
      const std::int64_t b = ids.size(0);
      adam.zero_grad();
      const Tensor logits =
          model->forward(ids.to_vector_i64(), ids.shape(), batch[1].to_vector_i64());
      // The loss compares probabilities with the labels, so it takes them as floats (as PyTorch's
      // BCEWithLogitsLoss wants labels.float()).
      Tensor loss = binary_cross_entropy_with_logits(
          logits, reshape(batch[2].to(Dtype::float32), {b, 1}));
      const float loss_value = loss.item();
      require_finite_loss(loss_value, {.epoch = epoch, .step = ++step});
      loss.backward();
      adam.step();
      loss_sum += static_cast<double>(loss_value) * static_cast<double>(b);
    }
    SentimentEpoch stats{epoch, static_cast<float>(loss_sum / static_cast<double>(result.train_size)),
                         accuracy(*model, train_ids, train_labels,
                                  "evaluation after epoch " + std::to_string(epoch)),
                         accuracy(*model, test_ids, test_labels,
                                  "evaluation after epoch " + std::to_string(epoch))};
    result.epochs.push_back(stats);
    if (config.log) {
      *config.log << "epoch " << std::setw(3) << epoch << "/" << config.epochs << "  loss "
                  << std::fixed << std::setprecision(4) << stats.loss << "  train acc "
                  << std::setprecision(3) << stats.train_accuracy << "  test acc "
                  << stats.test_accuracy << std::defaultfloat << std::endl;
    }
  }
  result.train_accuracy = result.epochs.back().train_accuracy;
  result.test_accuracy = result.epochs.back().test_accuracy;
  result.predictor = {std::move(model), std::move(vocabulary), config.max_length};
  return result;
}

}  // namespace examples
