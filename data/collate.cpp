#include "data/collate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <utility>

#include "autograd/grad_mode.h"
#include "data/tensor_bytes.h"

namespace tapegrad::data {

namespace {

using detail::bytes_of;  // rows move as bytes: every dtype, every bit

std::string field_of(std::size_t field, std::size_t sample) {
  return "field " + std::to_string(field) + " of sample " + std::to_string(sample);
}

// Every sample has sample 0's number of fields (at least one) and only defined tensors.
void check_samples(const char* function, const std::vector<Sample>& samples) {
  if (samples.empty()) throw ValueError(std::string(function) + ": no samples to collate");
  const std::size_t fields = samples[0].size();
  if (fields == 0) throw ValueError(std::string(function) + ": sample 0 has no fields");
  for (std::size_t s = 0; s < samples.size(); ++s) {
    if (samples[s].size() != fields) {
      throw ValueError(std::string(function) + ": sample " + std::to_string(s) + " has " +
                       std::to_string(samples[s].size()) + " fields, expected " +
                       std::to_string(fields) + " (as sample 0)");
    }
    for (std::size_t f = 0; f < fields; ++f) {
      if (!samples[s][f].defined()) {
        throw ValueError(std::string(function) + ": " + field_of(f, s) + " is undefined");
      }
    }
  }
}

// Field `field` of every sample stacked along a new first dim: [b, ...].
Tensor stack_field(const char* function, const std::vector<Sample>& samples, std::size_t field) {
  const Shape& row_shape = samples[0][field].shape();
  const Dtype dtype = samples[0][field].dtype();
  for (std::size_t s = 1; s < samples.size(); ++s) {
    if (samples[s][field].dtype() != dtype) {
      throw TypeError(std::string(function) + ": " + field_of(field, s) + " is " +
                      dtype_name(samples[s][field].dtype()) + ", expected " + dtype_name(dtype) +
                      " (the dtype of sample 0)");
    }
    if (samples[s][field].shape() != row_shape) {
      throw ShapeError(std::string(function) + ": " + field_of(field, s) + " has shape " +
                       format_shape(samples[s][field].shape()) + ", expected " +
                       format_shape(row_shape) +
                       " (the shape of sample 0); pad variable-length fields (pad_collate)");
    }
  }
  Shape shape{static_cast<std::int64_t>(samples.size())};
  shape.insert(shape.end(), row_shape.begin(), row_shape.end());
  checked_numel(function, shape);
  Tensor out = Tensor::empty(shape, dtype);
  const auto row_bytes =
      static_cast<std::size_t>(samples[0][field].numel()) * element_size(dtype);
  if (row_bytes > 0) {
    unsigned char* destination = bytes_of(out);
    for (std::size_t s = 0; s < samples.size(); ++s) {
      std::memcpy(destination + s * row_bytes, bytes_of(samples[s][field]), row_bytes);
    }
  }
  return out;
}

// pad_sequence's body; `function` names the caller in errors.
Tensor pad(const char* function, const std::vector<const Tensor*>& sequences, bool batch_first,
           float padding_value) {
  if (sequences.empty()) throw ValueError(std::string(function) + ": no sequences to pad");
  std::int64_t longest = 0;
  for (std::size_t s = 0; s < sequences.size(); ++s) {
    const Tensor& sequence = *sequences[s];
    if (!sequence.defined()) {
      throw ValueError(std::string(function) + ": sequence " + std::to_string(s) +
                       " is undefined");
    }
    if (sequence.dim() == 0) {
      throw ShapeError(std::string(function) + ": sequence " + std::to_string(s) +
                       " is 0-D, expected [length, ...]");
    }
    const Shape& first = sequences[0]->shape();
    if (sequence.dtype() != sequences[0]->dtype()) {
      throw TypeError(std::string(function) + ": sequence " + std::to_string(s) + " is " +
                      dtype_name(sequence.dtype()) + ", expected " +
                      dtype_name(sequences[0]->dtype()) + " (the dtype of sequence 0)");
    }
    if (!std::equal(sequence.shape().begin() + 1, sequence.shape().end(), first.begin() + 1,
                    first.end())) {
      throw ShapeError(std::string(function) + ": sequence " + std::to_string(s) +
                       " has shape " + format_shape(sequence.shape()) +
                       ", expected the trailing dims of sequence 0's shape " +
                       format_shape(first));
    }
    if (sequence.requires_grad() && is_grad_enabled()) {
      throw ValueError(std::string(function) + ": sequence " + std::to_string(s) +
                       " requires grad, but padding is not recorded for autograd (pad under "
                       "NoGradGuard or detach() it)");
    }
    longest = std::max(longest, sequence.shape()[0]);
  }
  const Shape& first = sequences[0]->shape();
  const auto count = static_cast<std::int64_t>(sequences.size());
  Shape shape = batch_first ? Shape{count, longest} : Shape{longest, count};
  shape.insert(shape.end(), first.begin() + 1, first.end());
  checked_numel(function, shape);
  const Dtype dtype = sequences[0]->dtype();
  Tensor out;
  if (dtype == Dtype::int64) {
    // torch.nn.utils.rnn.pad_sequence converts padding_value to the sequences' dtype; we take only
    // a value that converts exactly, so a pad id is never silently truncated.
    if (!(std::trunc(padding_value) == padding_value && padding_value >= -9223372036854775808.0f &&
          padding_value < 9223372036854775808.0f)) {  // whole, within int64; NaN and inf fail
      throw ValueError(std::string(function) + ": padding_value " +
                       std::to_string(padding_value) +
                       " is not a whole number within int64, so it cannot pad int64 sequences");
    }
    out = Tensor::empty(shape, dtype);
    std::fill_n(out.data_i64(), out.numel(), static_cast<std::int64_t>(padding_value));
  } else {
    out = Tensor::full(shape, padding_value);
  }
  std::int64_t row_numel = 1;  // the elements of one time step of one sequence
  for (std::size_t d = 1; d < first.size(); ++d) row_numel *= first[d];
  if (row_numel == 0) return out;
  const std::size_t step_bytes = static_cast<std::size_t>(row_numel) * element_size(dtype);
  unsigned char* destination = bytes_of(out);
  for (std::int64_t s = 0; s < count; ++s) {
    const Tensor& sequence = *sequences[static_cast<std::size_t>(s)];
    const std::int64_t length = sequence.shape()[0];
    if (length == 0) continue;
    const unsigned char* source = bytes_of(sequence);
    if (batch_first) {  // sequence s is one contiguous block of out[s]
      std::memcpy(destination + static_cast<std::size_t>(s * longest) * step_bytes, source,
                  static_cast<std::size_t>(length) * step_bytes);
    } else {  // step t of sequence s is out[t, s]
      for (std::int64_t t = 0; t < length; ++t) {
        std::memcpy(destination + static_cast<std::size_t>(t * count + s) * step_bytes,
                    source + static_cast<std::size_t>(t) * step_bytes, step_bytes);
      }
    }
  }
  return out;
}

}  // namespace

Batch default_collate(const std::vector<Sample>& samples) {
  check_samples("default_collate", samples);
  Batch batch;
  batch.reserve(samples[0].size());
  for (std::size_t f = 0; f < samples[0].size(); ++f) {
    batch.push_back(stack_field("default_collate", samples, f));
  }
  return batch;
}

Tensor pad_sequence(const std::vector<Tensor>& sequences, bool batch_first, float padding_value) {
  std::vector<const Tensor*> pointers;
  pointers.reserve(sequences.size());
  for (const Tensor& sequence : sequences) pointers.push_back(&sequence);
  return pad("pad_sequence", pointers, batch_first, padding_value);
}

CollateFn pad_collate(PadCollateOptions options) {
  if (options.fields.empty()) throw ValueError("pad_collate: no fields to pad (fields is empty)");
  std::set<std::int64_t> seen;
  for (std::int64_t field : options.fields) {
    if (field < 0) {
      throw ValueError("pad_collate: field indices must be >= 0, got " + std::to_string(field));
    }
    if (!seen.insert(field).second) {
      throw ValueError("pad_collate: field " + std::to_string(field) + " is listed twice");
    }
  }
  return [padded_fields = std::move(seen),
          padding_value = options.padding_value](const std::vector<Sample>& samples) {
    check_samples("pad_collate", samples);
    const std::size_t fields = samples[0].size();
    const std::int64_t last_padded = *padded_fields.rbegin();
    if (static_cast<std::size_t>(last_padded) >= fields) {
      throw ValueError("pad_collate: field " + std::to_string(last_padded) +
                       " is not in the samples, which have " + std::to_string(fields) +
                       " fields");
    }
    Batch batch;
    for (std::size_t f = 0; f < fields; ++f) {
      if (padded_fields.count(static_cast<std::int64_t>(f)) == 0) {
        batch.push_back(stack_field("pad_collate", samples, f));
        continue;
      }
      std::vector<const Tensor*> sequences;
      std::vector<std::int64_t> lengths;
      sequences.reserve(samples.size());
      lengths.reserve(samples.size());
      for (std::size_t s = 0; s < samples.size(); ++s) {
        const Tensor& sequence = samples[s][f];
        // An empty sequence has no last step: a recurrent layer would read padding as its state.
        if (sequence.dim() >= 1 && sequence.shape()[0] == 0) {
          throw ValueError("pad_collate: " + field_of(f, s) + " is an empty sequence (shape " +
                           format_shape(sequence.shape()) +
                           "); recurrent layers need lengths >= 1");
        }
        sequences.push_back(&sequence);
        lengths.push_back(sequence.dim() >= 1 ? sequence.shape()[0] : 0);
      }
      batch.push_back(pad("pad_collate", sequences, /*batch_first=*/true, padding_value));
      // int64, as the lengths of torch.nn.utils.rnn.pack_padded_sequence: exact at any length.
      batch.push_back(
          Tensor::from_vector_i64(lengths, {static_cast<std::int64_t>(samples.size())}));
    }
    return batch;
  };
}

}  // namespace tapegrad::data
