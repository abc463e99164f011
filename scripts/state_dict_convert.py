#!/usr/bin/python3
"""Convert PyTorch state_dicts to and from safetensors files, tapegrad's checkpoint format.

  export  MODEL.pt OUT.safetensors   a .pt file from torch.save(model.state_dict()) -> safetensors
  import  IN.safetensors OUT.pt      safetensors -> a .pt state_dict for model.load_state_dict()
  info    FILE.safetensors           list the tensors and metadata of a file

tapegrad keeps every tensor in float32, so export converts floating-point tensors to F32 unless
--keep-dtype is given (tapegrad also reads F64, F16 and BF16, converting them on load). Integer and
bool tensors, such as BatchNorm's num_batches_tracked, have no tapegrad equivalent: export refuses
them unless --drop-non-float or --keep-dtype says what to do.

Needs only torch (Debian's python3-torch); the format is read and written by scripts/safetensors_io.py.
"""

import argparse
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def load_state_dict(path):
    # weights_only: a state_dict needs no arbitrary unpickling, so refuse code in the file.
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(loaded, dict):
        raise SystemExit(f"{path}: expected a state_dict (a mapping from names to tensors), "
                         f"got a {type(loaded).__name__}; save model.state_dict(), not the model")
    for name, value in loaded.items():
        if not isinstance(value, torch.Tensor):
            raise SystemExit(f"{path}: expected a state_dict, but {name!r} holds a "
                             f"{type(value).__name__}, not a tensor (a training checkpoint? "
                             f"save its model's state_dict on its own)")
    return loaded


def parse_metadata(pairs):
    metadata = OrderedDict()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--metadata expects KEY=VALUE, got {pair!r}")
        metadata[key] = value
    return metadata


def export(args):
    state_dict = load_state_dict(args.input)
    tensors = OrderedDict()
    refused = []
    for name, tensor in state_dict.items():
        if args.keep_dtype:
            tensors[name] = tensor
        elif tensor.is_floating_point():
            tensors[name] = tensor.to(torch.float32)
        elif args.drop_non_float:
            print(f"dropping {name!r} ({tensor.dtype})", file=sys.stderr)
        else:
            refused.append(f"{name} ({tensor.dtype})")
    if refused:
        raise SystemExit("tapegrad stores float32 only; these tensors are not floating point: " +
                         ", ".join(refused) + ". Pass --drop-non-float to leave them out or "
                         "--keep-dtype to write them unchanged.")
    metadata = OrderedDict([("format", "pt")])
    metadata.update(parse_metadata(args.metadata))
    safetensors_io.write(args.output, tensors, metadata)
    print(f"wrote {len(tensors)} tensors to {args.output}", file=sys.stderr)


def import_(args):
    tensors, metadata = safetensors_io.read(args.input)
    torch.save(tensors, args.output)
    print(f"wrote {len(tensors)} tensors to {args.output}"
          + (f" (metadata not kept: {metadata})" if metadata else ""), file=sys.stderr)


def info(args):
    tensors, metadata = safetensors_io.read(args.input)
    for key, value in metadata.items():
        print(f"metadata {key} = {value}")
    for name, tensor in tensors.items():
        print(f"{name}\t{safetensors_io.DTYPE_NAMES[tensor.dtype]}\t{list(tensor.shape)}")
    total = sum(t.numel() for t in tensors.values())
    print(f"{len(tensors)} tensors, {total} elements")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    export_parser = commands.add_parser("export", help="a .pt state_dict -> safetensors")
    export_parser.add_argument("input", help=".pt file written by torch.save(model.state_dict())")
    export_parser.add_argument("output", help="safetensors file to write (replaced atomically)")
    export_parser.add_argument("--keep-dtype", action="store_true",
                               help="write every tensor in its own dtype instead of float32")
    export_parser.add_argument("--drop-non-float", action="store_true",
                               help="leave out integer and bool tensors (e.g. num_batches_tracked)")
    export_parser.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE",
                               help="add a string to the file's __metadata__ (repeatable)")
    export_parser.set_defaults(run=export)

    import_parser = commands.add_parser("import", help="safetensors -> a .pt state_dict")
    import_parser.add_argument("input", help="safetensors file, e.g. written by tapegrad")
    import_parser.add_argument("output", help=".pt file for torch.load + model.load_state_dict")
    import_parser.set_defaults(run=import_)

    info_parser = commands.add_parser("info", help="list a safetensors file's tensors")
    info_parser.add_argument("input")
    info_parser.set_defaults(run=info)

    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (safetensors_io.SafetensorsError, OSError) as error:
        raise SystemExit(f"error: {error}")


if __name__ == "__main__":
    main()
