#include "autograd/generator.h"

#include <sstream>

#include "autograd/errors.h"

namespace tapegrad {

float Generator::normal(float mean, float stddev) {
  // Box-Muller; u1 in (0, 1] so log(u1) is finite.
  const double u1 = (static_cast<double>(next_u64() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  const double u2 = static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);
  const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  return mean + stddev * static_cast<float>(z);
}

namespace {

constexpr const char* kOwnStream = "tapegrad-mt19937_64";
constexpr const char* kTorchStream = "torch-mt19937";

// Reads an engine's text state and requires that nothing but whitespace follows it: a state cut
// short or padded with garbage is an error, not a silently different stream.
template <typename Engine>
Engine read_engine(std::istringstream& in, const char* stream) {
  Engine engine;
  in >> engine;
  if (in.fail()) {
    throw ValueError(std::string("Generator::load_state: the ") + stream +
                     " engine state is truncated or malformed");
  }
  in >> std::ws;
  if (!in.eof()) {
    throw ValueError(std::string("Generator::load_state: unexpected text after the ") + stream +
                     " engine state");
  }
  return engine;
}

}  // namespace

std::string Generator::state() const {
  std::ostringstream out;
  out << (is_torch_stream() ? kTorchStream : kOwnStream) << ' ' << children_ << ' ';
  std::visit([&](const auto& engine) { out << engine; }, engine_);
  return out.str();
}

void Generator::load_state(const std::string& state) {
  std::istringstream in(state);
  std::string stream;
  std::uint64_t children = 0;
  in >> stream;
  if (stream != kOwnStream && stream != kTorchStream) {
    throw ValueError("Generator::load_state: expected a state starting with \"" +
                     std::string(kOwnStream) + "\" or \"" + kTorchStream + "\", got \"" +
                     stream.substr(0, 40) + "\"");
  }
  if (!(in >> children)) {
    throw ValueError("Generator::load_state: expected the child-seed count after \"" + stream +
                     "\"");
  }
  // Parse fully before assigning, so a bad state leaves this generator as it was.
  std::variant<std::mt19937_64, TorchEngine> engine;
  if (stream == kOwnStream) {
    engine = read_engine<std::mt19937_64>(in, kOwnStream);
  } else {
    engine = read_engine<TorchEngine>(in, kTorchStream);
  }
  engine_ = std::move(engine);
  children_ = children;
}

}  // namespace tapegrad
