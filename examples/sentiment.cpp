// sentiment: classify review sentences as positive or negative with an Embedding + LSTM + Linear.
// Reads data/sentiment/sentences.tsv, holds out a seeded 20% for testing, builds the vocabulary on
// the training split, pads to --max-length and passes the true lengths to the LSTM so padding never
// reaches the final state. Trains with Adam on binary cross-entropy with logits in mini-batches,
// prints loss and accuracies per epoch, then classifies the --predict sentences.
// The pipeline lives in examples/support/sentiment.{h,cpp}; tests/examples/test_sentiment.cpp
// runs it too.
#include <iomanip>
#include <iostream>

#include "example_util.h"
#include "support/sentiment.h"

namespace {

// "a|b|c" -> {"a", "b", "c"}, dropping empty pieces.
std::vector<std::string> split_sentences(const std::string& text) {
  std::vector<std::string> pieces;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto bar = std::min(text.find('|', start), text.size());
    if (bar > start) pieces.push_back(text.substr(start, bar - start));
    start = bar + 1;
  }
  return pieces;
}

}  // namespace

int main(int argc, char** argv) {
  examples::Flags flags("sentiment", "an LSTM classifies review sentences as positive or negative");
  flags.add("data", examples::default_sentiment_path(), "label<TAB>sentence file with a header line")
      .add("cell", "lstm", "lstm, gru or rnn")
      .add("embedding-dim", "32", "size of the word vectors")
      .add("hidden", "32", "hidden size of the recurrent layer")
      .add("layers", "1", "number of stacked recurrent layers")
      .add("bidirectional", "0", "1: read each sentence both ways and classify both final states")
      .add("dropout", "0.5", "dropout on the word vectors and the final state, in training")
      .add("epochs", "10", "passes over the training split")
      .add("batch-size", "16", "sentences per mini-batch")
      .add("max-length", "24", "tokens kept per sentence (padded or truncated to this)")
      .add("min-freq", "2", "training-split words seen fewer times become <unk>")
      .add("lr", "0.01", "Adam learning rate")
      .add("seed", "0", "seed of the split, the initialisation and the batch order")
      .add("predict",
           "The food was delicious and the staff were lovely.|"
           "The screen cracked after a week and support never answered.|"
           "Honestly, the plot was not bad at all.",
           "sentences to classify after training, separated by |");
  try {
    if (!flags.parse(argc, argv)) return 0;
    examples::SentimentConfig config;
    config.data_path = flags.str("data");
    config.cell = flags.str("cell");
    config.embedding_dim = flags.integer("embedding-dim");
    config.hidden_size = flags.integer("hidden");
    config.num_layers = flags.integer("layers");
    config.bidirectional = flags.integer("bidirectional") != 0;
    config.dropout = flags.real("dropout");
    config.epochs = flags.integer("epochs");
    config.batch_size = flags.integer("batch-size");
    config.max_length = flags.integer("max-length");
    config.min_freq = flags.integer("min-freq");
    config.lr = flags.real("lr");
    config.seed = static_cast<std::uint64_t>(flags.integer("seed"));
    config.log = &std::cout;

    std::cout << "sentiment: " << (config.bidirectional ? "bidirectional " : "") << config.cell
              << ", embedding " << config.embedding_dim << ", hidden " << config.hidden_size
              << ", layers " << config.num_layers << ", data " << config.data_path << "\n";
    examples::Stopwatch clock;
    examples::SentimentResult result = examples::train_sentiment(config);
    std::cout << result.train_size << " training / " << result.test_size
              << " held-out sentences, vocabulary " << result.vocabulary_size << ", "
              << result.num_parameters << " parameters, trained in " << std::fixed
              << std::setprecision(1) << clock.seconds() << " s\n"
              << std::setprecision(3) << "final held-out accuracy " << result.test_accuracy
              << " (train " << result.train_accuracy << "; always guessing the majority label: "
              << result.majority_test_accuracy << ")\n";

    const std::vector<std::string> sentences = split_sentences(flags.str("predict"));
    const std::vector<float> positive = result.predictor.predict(sentences);
    for (std::size_t i = 0; i < sentences.size(); ++i) {
      std::cout << (positive[i] > 0.5f ? "positive" : "negative") << " (P(positive) = "
                << positive[i] << ")  " << sentences[i] << "\n";
    }
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "sentiment: " << error.what() << "\n";
    return 1;
  }
}
