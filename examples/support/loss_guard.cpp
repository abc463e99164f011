#include "loss_guard.h"

#include <cmath>
#include <string>

namespace examples {

void require_finite_loss(double loss, const LossSite& site) {
  if (std::isfinite(loss)) return;
  const std::string value = std::isnan(loss) ? "nan" : loss > 0 ? "inf" : "-inf";
  std::string where;
  if (site.epoch > 0) where += " at epoch " + std::to_string(site.epoch);
  if (site.step > 0) where += (where.empty() ? " at step " : ", step ") + std::to_string(site.step);
  throw NonFiniteLossError("non-finite " + std::string(site.phase) + " loss " + value + where +
                           "; training stopped (a learning rate too large for the model, or "
                           "non-finite input data, makes the loss overflow)");
}

}  // namespace examples
