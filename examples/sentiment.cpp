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
#include "support/cli.h"
#include "support/sentiment.h"

namespace cli = examples::cli;

int main(int argc, char** argv) {
  cli::Program program("sentiment", "an LSTM classifies review sentences as positive or negative");
  CLI::App& app = program.app();
  examples::SentimentConfig config;
  std::vector<std::string> sentences = {
      "The food was delicious and the staff were lovely.",
      "The screen cracked after a week and support never answered.",
      "Honestly, the plot was not bad at all."};
  app.add_option("--data", config.data_path, "label<TAB>sentence file with a header line")
      ->check(cli::existing_regular_file());
  app.add_option("--cell", config.cell, "recurrent cell")->check(cli::one_of({"lstm", "gru", "rnn"}));
  app.add_option("--embedding-dim", config.embedding_dim, "size of the word vectors")
      ->check(cli::integer_in(1, 4096));
  app.add_option("--hidden", config.hidden_size, "hidden size of the recurrent layer")
      ->check(cli::integer_in(1, 4096));
  app.add_option("--layers", config.num_layers, "number of stacked recurrent layers")
      ->check(cli::integer_in(1, 16));
  app.add_flag("--bidirectional", config.bidirectional,
               "read each sentence both ways and classify both final states")
      ->disable_flag_override();
  app.add_option("--dropout", config.dropout,
                 "dropout on the word vectors and the final state, in training")
      ->check(cli::real_in(0.0, 1.0, cli::Open::max));
  program.add_epochs(config.epochs, "passes over the training split");
  app.add_option("--batch-size", config.batch_size, "sentences per mini-batch")
      ->check(cli::integer_in(1, 1'000'000));
  app.add_option("--max-length", config.max_length,
                 "tokens kept per sentence (padded or truncated to this)")
      ->check(cli::integer_in(1, 100'000));
  app.add_option("--min-freq", config.min_freq,
                 "training-split words seen fewer times become <unk>")
      ->check(cli::integer_in(1, 1'000'000'000));
  program.add_lr(config.lr);
  program.add_seed(config.seed, "seed of the split, the initialisation and the batch order");
  cli::add_list(app, "--predict", sentences, cli::non_empty(),
                "sentences to classify after training, separated by |", cli::Repeats::allow, '|');
  program.add_threads();

  return program.run(argc, argv, [&] {
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

    const std::vector<float> positive = result.predictor.predict(sentences);
    for (std::size_t i = 0; i < sentences.size(); ++i) {
      std::cout << (positive[i] > 0.5f ? "positive" : "negative") << " (P(positive) = "
                << positive[i] << ")  " << sentences[i] << "\n";
    }
    return 0;
  });
}
