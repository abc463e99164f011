// require_finite_loss: silent on finite values, and a message naming the phase, value, epoch and
// step otherwise.
#include <cmath>
#include <limits>

#include "support/loss_guard.h"
#include "test_util.h"

using examples::LossSite;
using examples::NonFiniteLossError;
using examples::require_finite_loss;

TEST_CASE("require_finite_loss names the value and where it happened", "[examples][loss_guard]") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_NOTHROW(require_finite_loss(0.0, {.epoch = 1}));
  CHECK_NOTHROW(require_finite_loss(std::numeric_limits<double>::max(), {.epoch = 1}));
  CHECK_THROWS_AS(require_finite_loss(NAN, {.epoch = 1}), NonFiniteLossError);
  CHECK_THROWS_WITH(require_finite_loss(NAN, {.epoch = 3, .step = 7}),
                    Catch::StartsWith("non-finite training loss nan at epoch 3, step 7;"));
  CHECK_THROWS_WITH(require_finite_loss(inf, {.epoch = 12}),
                    Catch::StartsWith("non-finite training loss inf at epoch 12;"));
  CHECK_THROWS_WITH(require_finite_loss(-inf, {.step = 40}),
                    Catch::StartsWith("non-finite training loss -inf at step 40;"));
  CHECK_THROWS_WITH(require_finite_loss(NAN, {.phase = "evaluation"}),
                    Catch::StartsWith("non-finite evaluation loss nan;"));
}
