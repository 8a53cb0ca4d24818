"""Snapshot files: numpy arrays plus string metadata in the safetensors layout.

The layout is safetensors' (an 8-byte little-endian header size, a JSON header naming each array's dtype,
shape and byte range, then the raw bytes), so any safetensors reader can open one. It is written here
rather than with `safetensors.numpy.save_file` for two reasons:

- the big array (a million embeddings: 1.5 GB) is streamed to disk, not copied in RAM first;
- it is placed last, at a page-aligned offset, followed by a "reserve" array of the same row shape that is
  a sparse hole in the file. `read_snapshot` maps both copy-on-write: opening costs no copy, and new rows
  are written into the reserve without growing the matrix. Anonymous memory is slow to fault in (about
  4 s per 1.5 GB on our 2-core machines); pages of a file already in the page cache are not.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from chatmem import ChatmemError
from chatmem.paths import private_temp

_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}
ALIGN = 65536          # mmap offsets must be multiples of the allocation granularity (64 KiB on Windows)
MAX_HEADER = 256 * 1024 * 1024
RESERVE = "reserve"
BLOCK_BYTES = 16 << 20   # the mapped array is checksummed in blocks of this size (crc32 each)


class SnapshotError(ChatmemError):
    """The snapshot cannot be used (damaged, or made for another memory)."""


def write_snapshot(path: Path, metadata: dict[str, str], arrays: dict[str, np.ndarray], mapped: str,
                   reserve_rows: int) -> None:
    """Write atomically (a temporary file in the same directory, fsync, rename). `arrays[mapped]` goes last,
    page-aligned, followed by `reserve_rows` empty rows that take no disk space."""
    arrays = {k: np.ascontiguousarray(a) for k, a in arrays.items() if k != mapped} | \
        {mapped: np.ascontiguousarray(arrays[mapped])}
    big = arrays[mapped]
    reserve_bytes = reserve_rows * big.itemsize * int(np.prod(big.shape[1:]))
    header: dict = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    offset = 0
    for name, a in arrays.items():
        header[name] = {"dtype": _NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    header[RESERVE] = {"dtype": _NAMES[big.dtype], "shape": [reserve_rows, *big.shape[1:]],
                       "data_offsets": [offset, offset + reserve_bytes]}
    raw = json.dumps(header, ensure_ascii=False).encode("utf-8")
    before = header[mapped]["data_offsets"][0]
    raw += b" " * (-(8 + len(raw) + before) % ALIGN)      # JSON may end in spaces: they align the big array
    tmp, fd = private_temp(path)          # a data dir may be shared: nobody can plant the temp name
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(raw)))
            f.write(raw)
            for a in arrays.values():
                if a.nbytes:
                    f.write(memoryview(a).cast("B"))
            f.truncate(8 + len(raw) + offset + reserve_bytes)     # the reserve: a hole, zeros when read
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_snapshot(path: Path, expect: dict[str, str], mapped: str
                  ) -> tuple[dict[str, str], dict[str, np.ndarray], np.ndarray]:
    """Read a snapshot whose metadata has every key/value of `expect`. Returns the metadata, the arrays, and
    `arrays[mapped]` with the reserve rows after it as one writable copy-on-write matrix (the file itself
    is never written)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            (hlen,) = struct.unpack("<Q", f.read(8))
            if hlen > min(MAX_HEADER, size - 8):
                raise SnapshotError(f"{path}: bad header size")
            header = json.loads(f.read(hlen).decode("utf-8"))
            meta = header.pop("__metadata__", {})
            for k, v in expect.items():
                if meta.get(k) != v:
                    raise SnapshotError(f"{path}: made for another memory ({k})")
            base = 8 + hlen
            out, spans = {}, {}
            for name, spec in header.items():
                dtype = np.dtype(_DTYPES[spec["dtype"]])
                shape = tuple(int(x) for x in spec["shape"])
                begin, end = (int(x) for x in spec["data_offsets"])
                count = int(np.prod(shape)) if shape else 1
                if end - begin != count * dtype.itemsize or base + end > size:
                    raise SnapshotError(f"{path}: array {name} does not fit the file")
                spans[name] = (dtype, shape, begin, end)
                if name in (mapped, RESERVE):
                    continue
                f.seek(base + begin)
                a = np.fromfile(f, dtype=dtype, count=count)
                if a.size != count:
                    raise SnapshotError(f"{path}: array {name} is cut short")
                out[name] = a.reshape(shape)
            dtype, shape, begin, end = spans[mapped]
            rdtype, rshape, rbegin, rend = spans.get(RESERVE, (dtype, (0, *shape[1:]), end, end))
            if (base + begin) % ALIGN or rbegin != end or rdtype != dtype or rshape[1:] != shape[1:]:
                raise SnapshotError(f"{path}: array {mapped} is not laid out for mapping")
            rows = shape[0] + rshape[0]
            if rend == begin:
                matrix = np.zeros((rows, *shape[1:]), dtype=dtype)
            else:
                mm = mmap.mmap(f.fileno(), rend - begin, access=mmap.ACCESS_COPY, offset=base + begin)
                matrix = np.frombuffer(mm, dtype=dtype).reshape(rows, *shape[1:])
            out[mapped] = matrix[: shape[0]]
            return meta, out, matrix
    except SnapshotError:
        raise
    except Exception as exc:          # whatever damage does to the header (types, nesting, sizes): not usable
        raise SnapshotError(f"{path}: unreadable snapshot ({type(exc).__name__}: {exc})") from None


def block_crcs(a: np.ndarray, block: int = BLOCK_BYTES) -> list[int]:
    """crc32 of each `block` bytes of the array as stored (what `verify_mapped` compares)."""
    buf = memoryview(np.ascontiguousarray(a)).cast("B")
    return [zlib.crc32(buf[k: k + block]) for k in range(0, len(buf), block)]


def verify_mapped(path: Path, mapped: str, crcs: list[int], block: int = BLOCK_BYTES) -> bool:
    """Whether the bytes of array `mapped` in the file match `crcs` (block_crcs of it when it was written).
    Read block by block with pread, not through the mapping, so checking 1.5 GB adds nothing to RSS."""
    try:
        with open(path, "rb") as f:
            (hlen,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(hlen).decode("utf-8"))
            begin, end = (int(x) for x in header[mapped]["data_offsets"])
            base = 8 + hlen + begin
            size = end - begin
            if len(crcs) != -(-size // block):
                return False
            for k, want in enumerate(crcs):
                n = min(block, size - k * block)
                data = os.pread(f.fileno(), n, base + k * block)
                if len(data) != n or zlib.crc32(data) != want:
                    return False
        return True
    except Exception:                 # unreadable in any way: not verified
        return False
