#include "support/sine_forecast.h"
#include "test_util.h"

TEST_CASE("the sine forecaster learns: the loss falls far below the start and the variance", "[examples]") {
  // A reduced tutorial run (hidden 32, 40 epochs) that takes a fraction of a second.
  examples::SineConfig config;
  config.points = 300;
  config.hidden = 32;
  config.epochs = 40;
  config.lr = 0.02f;
  examples::SineResult result = examples::train_sine(config);
  REQUIRE(result.losses.size() == 40);
  // sin has variance 0.5: predicting a constant scores ~0.5; the model must do 50x better.
  REQUIRE(result.losses.back() < 1e-2);
  REQUIRE(result.losses.back() < result.losses.front() / 20);
  REQUIRE(result.eval_mse < 1e-2);
  REQUIRE(result.predictions.size() == result.truth.size());
  for (const char* cell : {"gru", "rnn"}) {
    config.cell = cell;
    REQUIRE(examples::train_sine(config).eval_mse < 5e-2);
  }
  config.cell = "lstmx";
  REQUIRE_THROWS_WITH(examples::train_sine(config), Catch::Contains("lstm, gru or rnn"));
}
