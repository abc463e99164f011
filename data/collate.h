#pragma once
// Collate functions: how a DataLoader turns the samples of one batch into the batch's tensors
// (the collate_fn of torch.utils.data.DataLoader,
// https://pytorch.org/docs/stable/data.html#dataloader-collate-fn).
//
//   data::DataLoader loader(sentences, {.batch_size = 32, .collate_fn = data::pad_collate()});
//   for (const data::Batch& batch : loader) {
//     // batch[0] ids [b, longest in this batch], batch[1] lengths [b], batch[2] labels [b]
//   }
//
// Collating copies bytes: float32 and int64 fields (token ids, labels: data/text.h) keep their
// dtype and every bit, and one sample may mix them. The lengths pad_collate adds are int64.
// A field must have one dtype in every sample (TypeError naming the field and the sample).
#include <cstdint>
#include <functional>
#include <vector>

#include "data/dataset.h"

namespace tapegrad::data {

// Takes the batch's samples in loader order (at least one) and returns the batch. A DataLoader
// requires every returned tensor to hold the batch along its first dim: [b, ...].
using CollateFn = std::function<Batch(const std::vector<Sample>& samples)>;

// torch.utils.data.default_collate for samples of tensors: field k of the batch stacks field k of
// every sample along a new first dim, [b, ...shape of the field]. Copies; the result never
// requires grad. ValueError for no samples, a sample with another number of fields than sample 0
// or an undefined tensor; ShapeError naming the field, the sample and both shapes when a field's
// shape differs from sample 0's (pad such fields: pad_collate).
Batch default_collate(const std::vector<Sample>& samples);

// torch.nn.utils.rnn.pad_sequence: sequences [L_i, *] (same trailing dims *, any L_i >= 0, one
// dtype: else TypeError) padded at the end with padding_value to the longest, [T, B, *], or
// [B, T, *] with batch_first, in the sequences' dtype. For int64 sequences padding_value must be a
// whole number within int64, else ValueError (torch would truncate it silently).
// A data-path helper: it is not recorded for autograd, so an input that requires grad while grad
// mode is on is a ValueError. ValueError for no sequences or an undefined one, ShapeError for a
// 0-D sequence or other trailing dims (naming both shapes).
Tensor pad_sequence(const std::vector<Tensor>& sequences, bool batch_first = false,
                    float padding_value = 0.0f);

struct PadCollateOptions {
  // The sample fields that are variable-length sequences [L_i, *]; each must have L_i >= 1.
  std::vector<std::int64_t> fields = {0};
  // Vocabulary::pad_id (0) for token ids; a whole number for int64 fields.
  float padding_value = 0.0f;
};

// A collate_fn for variable-length sequences: each field in options.fields is padded, per batch,
// to the longest sequence of that batch (pad_sequence with batch_first, [b, T, *]) and is followed
// in the batch by its lengths [b] (int64); every other field is stacked as default_collate does.
// Samples {ids [L_i], label []} give {ids [b, T], lengths [b], labels [b]}, ready for
// RNN/LSTM/GRU::forward(x, state, lengths) (past its length a sequence's state is carried and its
// output is zero, PyTorch's packed-sequence semantics). Batch-first always, because a DataLoader
// requires the batch along the first dim. ValueError (naming pad_collate) for an empty, negative
// or repeated field list now, and, per batch, for a field beyond a sample's fields or an empty
// sequence (a recurrent layer's lengths must be >= 1).
CollateFn pad_collate(PadCollateOptions options = {});

}  // namespace tapegrad::data
