"""A small reader and writer for the safetensors format, written by hand (the `safetensors` package
is not installed here) so the format is documented in one place. Shared by
scripts/state_dict_convert.py and tests/fixtures/make_safetensors_fixture.py.

The format (https://huggingface.co/docs/safetensors), as tapegrad's nn/serialize.cpp reads it:

    bytes 0..8      N, the header length, an unsigned 64-bit little-endian integer
    bytes 8..8+N    the header: UTF-8 JSON, one object
                        {"__metadata__": {"format": "pt", ...},          optional, string -> string
                         "name": {"dtype": "F32", "shape": [2, 3],
                                  "data_offsets": [begin, end]}, ...}
                    padded with spaces so that 8 + N is a multiple of 8
    bytes 8+N..     the data buffer: each tensor's elements, row-major, little-endian;
                    data_offsets count from the start of this buffer, end exclusive

The tensors tile the data buffer exactly: sorted by offset, each begins where the previous one
ended, the last ends at the end of the file, and end - begin = numel * dtype size.
"""

import json
import os
import struct
import sys
import tempfile
from collections import OrderedDict

import torch

# safetensors dtype name -> (torch dtype, bytes per element)
DTYPES = OrderedDict([
    ("F64", (torch.float64, 8)),
    ("F32", (torch.float32, 4)),
    ("F16", (torch.float16, 2)),
    ("BF16", (torch.bfloat16, 2)),
    ("I64", (torch.int64, 8)),
    ("I32", (torch.int32, 4)),
    ("I16", (torch.int16, 2)),
    ("I8", (torch.int8, 1)),
    ("U8", (torch.uint8, 1)),
    ("BOOL", (torch.bool, 1)),
])
DTYPE_NAMES = {torch_dtype: name for name, (torch_dtype, _) in DTYPES.items()}
METADATA_KEY = "__metadata__"
MAX_HEADER_BYTES = 100_000_000  # the reference reader's limit

if sys.byteorder != "little":
    raise ImportError("safetensors_io copies tensor memory as is, which needs a little-endian host")


class SafetensorsError(ValueError):
    """A malformed file, or tensors that cannot be written."""


def _tensor_bytes(tensor):
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16; the bits are what we want
        tensor = tensor.view(torch.int16)
    return tensor.numpy().tobytes()


def encode(tensors, metadata=None):
    """The file's bytes for an ordered mapping name -> tensor, written in that order."""
    header = OrderedDict()
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise SafetensorsError(f"metadata must map strings to strings, got {key!r}: {value!r}")
        header[METADATA_KEY] = dict(metadata)
    blobs = []
    offset = 0
    for name, tensor in tensors.items():
        if not isinstance(name, str) or not name or name == METADATA_KEY:
            raise SafetensorsError(f"invalid tensor name {name!r}")
        if not isinstance(tensor, torch.Tensor):
            raise SafetensorsError(f"{name!r} is a {type(tensor).__name__}, not a tensor")
        if tensor.dtype not in DTYPE_NAMES:
            raise SafetensorsError(f"{name!r} has dtype {tensor.dtype}, which has no safetensors name here")
        data = _tensor_bytes(tensor)
        header[name] = {"dtype": DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return b"".join([struct.pack("<Q", len(text)), text] + blobs)


def write(path, tensors, metadata=None):
    """Writes atomically: a temporary file in the same directory, synced, then renamed over path."""
    blob = encode(tensors, metadata)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".tmp.")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        with os.fdopen(fd, "wb") as out:
            out.write(blob)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _unique_keys(pairs):
    result = OrderedDict()
    for key, value in pairs:
        if key in result:
            raise SafetensorsError(f"header has the key {key!r} twice")
        result[key] = value
    return result


def _index(value, where):
    if type(value) is not int or value < 0:  # bool is an int subclass; refuse it too
        raise SafetensorsError(f"{where} must be a non-negative integer, got {value!r}")
    return value


def decode(blob, source="<bytes>"):
    """(OrderedDict name -> tensor in data order, metadata dict) from a file's bytes."""
    def fail(problem):
        raise SafetensorsError(f"{source}: {problem}")

    if len(blob) < 8:
        fail(f"{len(blob)} bytes is too short to hold the 8-byte header length")
    (header_size,) = struct.unpack("<Q", blob[:8])
    if header_size > MAX_HEADER_BYTES or header_size > len(blob) - 8:
        fail(f"header length {header_size} does not fit the {len(blob)}-byte file")
    try:
        header = json.loads(blob[8:8 + header_size].decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        fail(f"header is not valid UTF-8 JSON: {error}")
    if not isinstance(header, dict):
        fail("header must be a JSON object")
    metadata = header.pop(METADATA_KEY, None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        fail(f"{METADATA_KEY} must map strings to strings")

    buffer = memoryview(blob)[8 + header_size:]
    entries = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            fail(f"tensor {name!r}: expected exactly the fields dtype, shape, data_offsets")
        if entry["dtype"] not in DTYPES:
            fail(f"tensor {name!r}: unknown dtype {entry['dtype']!r}")
        torch_dtype, size = DTYPES[entry["dtype"]]
        if not isinstance(entry["shape"], list):
            fail(f"tensor {name!r}: shape must be a list")
        shape = [_index(extent, f"{source}: tensor {name!r}: shape entry") for extent in entry["shape"]]
        offsets = entry["data_offsets"]
        if not isinstance(offsets, list) or len(offsets) != 2:
            fail(f"tensor {name!r}: data_offsets must be [begin, end]")
        begin, end = (_index(o, f"{source}: tensor {name!r}: data_offsets") for o in offsets)
        numel = 1
        for extent in shape:
            numel *= extent
        if end < begin or end > len(buffer) or end - begin != numel * size:
            fail(f"tensor {name!r}: data_offsets {offsets} do not hold shape {shape} of "
                 f"{entry['dtype']} inside the {len(buffer)}-byte data buffer")
        entries.append((begin, end, name, torch_dtype, shape))

    entries.sort(key=lambda e: (e[0], e[1]))  # stable: equal (empty) spans keep header order
    covered = 0
    for begin, end, name, _, _ in entries:
        if begin != covered:
            fail(f"tensor {name!r} starts at byte {begin}, expected {covered}: "
                 "tensors must tile the data buffer without gaps or overlaps")
        covered = end
    if covered != len(buffer):
        fail(f"{len(buffer) - covered} trailing bytes after the last tensor")

    tensors = OrderedDict()
    for begin, end, name, torch_dtype, shape in entries:
        if begin == end:
            tensors[name] = torch.empty(shape, dtype=torch_dtype)
        else:  # bytearray: a writable copy that the tensor owns
            tensors[name] = torch.frombuffer(bytearray(buffer[begin:end]), dtype=torch_dtype).reshape(shape)
    return tensors, dict(metadata)


def read(path):
    with open(path, "rb") as source:
        return decode(source.read(), path)
