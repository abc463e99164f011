#include <cmath>
#include <limits>

#include "data/sequences.h"
#include "test_util.h"

using namespace tapegrad;
using tapegrad::data::MinMaxScaler;
using tapegrad::data::create_sequences;

TEST_CASE("create_sequences matches the tutorial's Python helper", "[sequences]") {
  // Python: create_sequences([1, 2, 3, 4, 5, 6], 3) loops i in range(6 - 3):
  //   xs = [[1,2,3], [2,3,4], [3,4,5]], ys = [4, 5, 6]
  auto [X, y] = create_sequences({1, 2, 3, 4, 5, 6}, 3);
  REQUIRE(X.shape() == Shape{3, 3, 1});
  REQUIRE(y.shape() == Shape{3, 1});
  REQUIRE(X.to_vector() == std::vector<float>{1, 2, 3, 2, 3, 4, 3, 4, 5});
  REQUIRE(y.to_vector() == std::vector<float>{4, 5, 6});
  REQUIRE_FALSE(X.requires_grad());

  // The longest window leaves exactly one sample.
  auto [X1, y1] = create_sequences({0.5f, -1.0f, 2.0f}, 2);
  REQUIRE(X1.shape() == Shape{1, 2, 1});
  REQUIRE(X1.to_vector() == std::vector<float>{0.5f, -1.0f});
  REQUIRE(y1.to_vector() == std::vector<float>{2.0f});
}

TEST_CASE("create_sequences horizon predicts further ahead", "[sequences]") {
  // horizon 2: y[i] = series[i + L + 1]; n = 6 - 2 - 2 + 1 = 3.
  auto [X, y] = create_sequences({1, 2, 3, 4, 5, 6}, 2, 2);
  REQUIRE(X.shape() == Shape{3, 2, 1});
  REQUIRE(X.to_vector() == std::vector<float>{1, 2, 2, 3, 3, 4});
  REQUIRE(y.to_vector() == std::vector<float>{4, 5, 6});
}

TEST_CASE("create_sequences on an N x F tensor windows every feature", "[sequences]") {
  Tensor series = Tensor::from_vector({1, 10, 2, 20, 3, 30, 4, 40}, {4, 2});
  auto [X, y] = create_sequences(series, 2);
  REQUIRE(X.shape() == Shape{2, 2, 2});
  REQUIRE(y.shape() == Shape{2, 2});
  REQUIRE(X.to_vector() == std::vector<float>{1, 10, 2, 20, 2, 20, 3, 30});
  REQUIRE(y.to_vector() == std::vector<float>{3, 30, 4, 40});

  // A 1-D tensor is one feature and agrees with the std::vector overload.
  const std::vector<float> values = {0.1f, 0.4f, 0.2f, 0.9f, 0.3f};
  auto [Xt, yt] = create_sequences(Tensor::from_vector(values, {5}), 2, 2);
  auto [Xv, yv] = create_sequences(values, 2, 2);
  REQUIRE(Xt.shape() == Shape{2, 2, 1});
  REQUIRE(Xt.to_vector() == Xv.to_vector());
  REQUIRE(yt.to_vector() == yv.to_vector());
  REQUIRE(yt.to_vector() == std::vector<float>{0.9f, 0.3f});
}

TEST_CASE("create_sequences rejects windows that do not fit", "[sequences][errors]") {
  const std::vector<float> series = {1, 2, 3, 4};
  REQUIRE_THROWS_AS(create_sequences(series, 4), ValueError);
  REQUIRE_THROWS_AS(create_sequences(series, 6), ValueError);
  REQUIRE_THROWS_WITH(create_sequences(series, 6), Catch::Contains("create_sequences") &&
                                                       Catch::Contains("seq_length 6") &&
                                                       Catch::Contains("length 4"));
  REQUIRE_THROWS_AS(create_sequences(series, 0), ValueError);
  REQUIRE_THROWS_WITH(create_sequences(series, -1), Catch::Contains("create_sequences") &&
                                                        Catch::Contains("-1") &&
                                                        Catch::Contains("4"));
  REQUIRE_THROWS_AS(create_sequences(series, 3, 2), ValueError);
  REQUIRE_THROWS_WITH(create_sequences(series, 3, 2), Catch::Contains("horizon 2"));
  REQUIRE_THROWS_AS(create_sequences(series, 2, 0), ValueError);
  REQUIRE_THROWS_AS(create_sequences(std::vector<float>{}, 1), ValueError);
  REQUIRE_THROWS_AS(create_sequences(Tensor::zeros({2, 3, 4}), 1), ShapeError);
  REQUIRE_THROWS_WITH(create_sequences(Tensor::zeros({2, 3, 4}), 1),
                      Catch::Contains("create_sequences") && Catch::Contains("[2, 3, 4]"));
}

TEST_CASE("MinMaxScaler maps to 0..1 like sklearn and inverts", "[scaler]") {
  MinMaxScaler scaler;
  const std::vector<float> series = {2, 4, 6, 10};
  const std::vector<float> scaled = scaler.fit_transform(series);
  REQUIRE(scaled == std::vector<float>{0.0f, 0.25f, 0.5f, 1.0f});
  REQUIRE(scaler.data_min() == std::vector<double>{2.0});
  REQUIRE(scaler.data_max() == std::vector<double>{10.0});
  REQUIRE(scaler.scale() == std::vector<double>{0.125});
  // Values outside the fitted range extrapolate (sklearn does not clip by default).
  REQUIRE(scaler.transform(std::vector<float>{14, 0}) == std::vector<float>{1.5f, -0.25f});

  const std::vector<float> restored = scaler.inverse_transform(scaled);
  for (std::size_t i = 0; i < series.size(); ++i) REQUIRE(restored[i] == Approx(series[i]));
}

TEST_CASE("MinMaxScaler uses the given feature_range", "[scaler]") {
  MinMaxScaler scaler(-1.0f, 1.0f);
  REQUIRE(scaler.fit_transform(std::vector<float>{2, 4, 6, 10}) ==
          std::vector<float>{-1.0f, -0.5f, 0.0f, 1.0f});
  Generator generator(5);
  std::vector<float> noisy;
  for (int i = 0; i < 50; ++i) noisy.push_back(generator.normal(3.0f, 7.0f));
  const std::vector<float> scaled = scaler.fit_transform(noisy);
  REQUIRE(*std::min_element(scaled.begin(), scaled.end()) == Approx(-1.0f));
  REQUIRE(*std::max_element(scaled.begin(), scaled.end()) == Approx(1.0f));
  const std::vector<float> restored = scaler.inverse_transform(scaled);
  for (std::size_t i = 0; i < noisy.size(); ++i) {
    REQUIRE(restored[i] == Approx(noisy[i]).margin(1e-5));
  }
}

TEST_CASE("MinMaxScaler on a constant series does not divide by zero", "[scaler]") {
  MinMaxScaler scaler;
  const std::vector<float> scaled = scaler.fit_transform(std::vector<float>{3, 3, 3});
  REQUIRE(scaled == std::vector<float>{0, 0, 0});
  REQUIRE(scaler.inverse_transform(scaled) == std::vector<float>{3, 3, 3});
  MinMaxScaler symmetric(-1.0f, 1.0f);
  REQUIRE(symmetric.fit_transform(std::vector<float>{-2, -2}) == std::vector<float>{-1, -1});
}

TEST_CASE("MinMaxScaler scales each column of an N x F tensor", "[scaler]") {
  Tensor table = Tensor::from_vector({0, 10, 7, 5, 20, 7, 10, 30, 7}, {3, 3});
  MinMaxScaler scaler;
  Tensor scaled = scaler.fit_transform(table);
  REQUIRE(scaler.num_features() == 3);
  REQUIRE(scaled.shape() == Shape{3, 3});
  REQUIRE(scaled.to_vector() == std::vector<float>{0, 0, 0, 0.5f, 0.5f, 0, 1, 1, 0});
  REQUIRE_ALL_CLOSE(scaler.inverse_transform(scaled), table);

  // A 1-D tensor is one feature, like a std::vector.
  MinMaxScaler single;
  Tensor column = single.fit_transform(Tensor::from_vector({2, 4, 6, 10}, {4}));
  REQUIRE(column.to_vector() == std::vector<float>{0.0f, 0.25f, 0.5f, 1.0f});
  REQUIRE(single.transform(Tensor::from_vector({6, 2}, {2, 1})).to_vector() ==
          std::vector<float>{0.5f, 0.0f});
}

TEST_CASE("MinMaxScaler rejects bad input with the function name", "[scaler][errors]") {
  REQUIRE_THROWS_AS(MinMaxScaler(1.0f, 1.0f), ValueError);
  REQUIRE_THROWS_WITH(MinMaxScaler(2.0f, 1.0f), Catch::Contains("MinMaxScaler"));

  MinMaxScaler scaler;
  REQUIRE_THROWS_AS(scaler.transform(std::vector<float>{1}), ValueError);
  REQUIRE_THROWS_WITH(scaler.transform(std::vector<float>{1}),
                      Catch::Contains("MinMaxScaler.transform") && Catch::Contains("not fitted"));
  REQUIRE_THROWS_AS(scaler.inverse_transform(Tensor::zeros({2})), ValueError);
  REQUIRE_THROWS_AS(scaler.fit(std::vector<float>{}), ValueError);
  REQUIRE_THROWS_WITH(scaler.fit(std::vector<float>{}),
                      Catch::Contains("MinMaxScaler.fit") && Catch::Contains("empty"));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(scaler.fit(std::vector<float>{1, nan}),
                      Catch::Contains("MinMaxScaler.fit") && Catch::Contains("index 1"));
  REQUIRE_FALSE(scaler.fitted());

  scaler.fit(Tensor::zeros({4, 2}));
  REQUIRE_THROWS_AS(scaler.transform(Tensor::zeros({4, 3})), ShapeError);
  REQUIRE_THROWS_WITH(scaler.transform(Tensor::zeros({4, 3})),
                      Catch::Contains("MinMaxScaler.transform") && Catch::Contains("2") &&
                          Catch::Contains("3"));
  REQUIRE_THROWS_AS(scaler.transform(std::vector<float>{1}), ShapeError);
  REQUIRE_THROWS_AS(scaler.fit(Tensor::zeros({2, 2, 2})), ShapeError);
}

TEST_CASE("create_sequences refuses sizes that overflow or make too large a tensor",
          "[sequences][shape]") {
  const std::vector<float> series(10, 1.0f);
  const std::int64_t huge = std::numeric_limits<std::int64_t>::max();
  // seq_length + horizon - 1 overflowed and let these through.
  REQUIRE_THROWS_AS(create_sequences(series, 2, huge), ValueError);
  REQUIRE_THROWS_WITH(create_sequences(series, 2, huge), Catch::StartsWith("create_sequences: "));
  REQUIRE_THROWS_AS(create_sequences(series, huge, 2), ValueError);
  // Windows of 2^23 rows over an empty-featured series of 2^24 rows: the series is empty but
  // its 2^23 windows of 2^23 rows would hold 2^46 elements.
  const Tensor wide = Tensor::zeros({std::int64_t{1} << 24, 0});
  REQUIRE_THROWS_AS(create_sequences(wide, std::int64_t{1} << 23, 1), ShapeError);
  REQUIRE_THROWS_WITH(create_sequences(wide, std::int64_t{1} << 23, 1),
                      Catch::StartsWith("create_sequences: shape [8388608, 8388608, 0]"));
}
