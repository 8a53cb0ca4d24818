"""Snapshot files: numpy arrays plus string metadata in the safetensors layout.

The layout is safetensors' (an 8-byte little-endian header size, a JSON header naming each array's dtype,
shape and byte range, then the raw bytes), so any safetensors reader can open one. It is written here
rather than with `safetensors.numpy.save_file` for three reasons:

- the big array (a million embeddings: 1.5 GB) is streamed to disk in chunks, never held in RAM whole;
- it is placed last, at a page-aligned offset, and is read row by row with pread (`RowFile`): the rows a
  question needs come from the page cache, not from a copy in the process;
- the JSON header is padded with spare spaces, so that forgetting a memory can scrub its embedding, its id
  and its words in place and rewrite the header at the same length (`scrub`), instead of rewriting 1.5 GB.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from collections.abc import Iterable

import numpy as np

from chatmem import ChatmemError
from chatmem.paths import private_temp

_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}
ALIGN = 65536          # the big array starts page-aligned (64 KiB: any page size)
SLACK = 16384          # spare header bytes for in-place updates (a scrub may lengthen a number or two)
MAX_HEADER = 256 * 1024 * 1024
BLOCK_ROWS = 512       # the big array is checksummed in blocks of this many rows (crc32 each): a scrub re-sums one


class SnapshotError(ChatmemError):
    """The snapshot cannot be used (damaged, or made for another memory)."""


def _crc(a: np.ndarray) -> int:
    return zlib.crc32(memoryview(np.ascontiguousarray(a)).cast("B"))


_POLY = 0xEDB88320      # crc32's polynomial, bit-reflected


def _multmodp(a: int, b: int) -> int:
    """a(x) b(x) modulo crc32's polynomial (bit-reflected, as zlib's multmodp)."""
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


_X2N: list[int] = []      # x^(2^k) modulo the polynomial


def _after_zeros(reg: int, n: int) -> int:
    """The raw crc32 register `reg` after n more zero bytes (zlib's crc32_combine), in O(log n)."""
    if not _X2N:
        p = 1 << 30
        for _ in range(64):
            _X2N.append(p)
            p = _multmodp(p, p)
    p, k = 1 << 31, 3                # x^0; n bytes are 8n bits = n 2^3
    while n:
        if n & 1:
            p = _multmodp(_X2N[k], p)
        n >>= 1
        k += 1
    return _multmodp(p, reg)


def patched_crc(crc: int, old: bytes, new: bytes, after: int) -> int:
    """crc32 of a byte string whose bytes `old` became `new` (same length), with `after` bytes after them, from
    its crc32 before: crc32 is affine, so only the change is summed, not the whole string."""
    delta = (int.from_bytes(old, "little") ^ int.from_bytes(new, "little")).to_bytes(len(old), "little")
    return crc ^ _after_zeros(zlib.crc32(delta) ^ zlib.crc32(bytes(len(delta))), after)


def write_snapshot(path: Path, metadata: dict[str, str], arrays: dict[str, np.ndarray], mapped: str,
                   rows: int, row_shape: tuple[int, ...], chunks: Iterable[np.ndarray]) -> list[int]:
    """Write atomically (a temporary file in the same directory, fsync, rename). The big array `mapped`
    (float32, `rows` x `row_shape`) comes in `chunks` and goes last, page-aligned; its block checksums go in
    the metadata as `<mapped>_crc32` and are returned."""
    arrays = {k: np.ascontiguousarray(a) for k, a in arrays.items()}
    row_bytes = 4 * int(np.prod(row_shape))
    header: dict = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    offset = 0
    for name, a in arrays.items():
        header[name] = {"dtype": _NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    header[mapped] = {"dtype": "F32", "shape": [rows, *row_shape], "data_offsets": [offset, offset + rows * row_bytes]}
    blocks = -(-rows // BLOCK_ROWS)
    # the checksums are known only once the rows are written: room for them is kept in the header now
    header["__metadata__"][f"{mapped}_crc32"] = json.dumps([4294967295] * blocks)
    raw = json.dumps(header, ensure_ascii=False).encode("utf-8")
    hlen = len(raw) + SLACK
    hlen += -(8 + hlen + offset) % ALIGN
    tmp, fd = private_temp(path)          # a data dir may be shared: nobody can plant the temp name
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b" " * (8 + hlen))
            for a in arrays.values():
                if a.nbytes:
                    f.write(memoryview(a).cast("B"))
            crcs, done, pending = [], 0, b""
            for chunk in chunks:
                c = np.ascontiguousarray(chunk, dtype=np.float32)
                f.write(memoryview(c).cast("B"))
                done += len(c)
                buf = pending + c.tobytes() if pending else memoryview(c).cast("B")
                whole = len(buf) // (BLOCK_ROWS * row_bytes) * BLOCK_ROWS * row_bytes
                crcs += [zlib.crc32(buf[k: k + BLOCK_ROWS * row_bytes]) for k in range(0, whole, BLOCK_ROWS * row_bytes)]
                pending = bytes(buf[whole:])
            if pending:
                crcs.append(zlib.crc32(pending))
            if done != rows:
                raise ValueError(f"snapshot: {done} rows written, {rows} announced")
            header["__metadata__"][f"{mapped}_crc32"] = json.dumps(crcs)
            f.seek(0)
            f.write(_header_bytes(header, hlen))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return crcs


def _header_bytes(header: dict, hlen: int) -> bytes:
    raw = json.dumps(header, ensure_ascii=False).encode("utf-8")
    if len(raw) > hlen:
        raise SnapshotError("snapshot header outgrew its room")
    return struct.pack("<Q", hlen) + raw + b" " * (hlen - len(raw))     # JSON may end in spaces


def _read_header(f) -> tuple[dict, int, int]:
    size = os.fstat(f.fileno()).st_size
    f.seek(0)
    (hlen,) = struct.unpack("<Q", f.read(8))
    if hlen > min(MAX_HEADER, size - 8):
        raise SnapshotError("bad header size")
    return json.loads(f.read(hlen).decode("utf-8")), hlen, size


class RowFile:
    """The big array of a snapshot, read with pread: rows never enter the process unless asked for."""

    def __init__(self, path: Path, begin: int, rows: int, row_shape: tuple[int, ...]):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)
        self.begin, self.rows, self.row_shape = begin, rows, row_shape
        self.row_bytes = 4 * int(np.prod(row_shape))

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Rows (any order, repeats allowed) as one new float32 array; runs of consecutive rows in one read."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), *self.row_shape), dtype=np.float32)
        if not len(rows):
            return out
        order = np.argsort(rows, kind="stable")
        srt = rows[order]
        breaks = np.flatnonzero(np.diff(srt) != 1) + 1
        starts = np.concatenate([[0], breaks])
        ends = np.concatenate([breaks, [len(srt)]])
        tmp = out if np.array_equal(order, np.arange(len(rows))) else np.empty_like(out)
        view = memoryview(tmp).cast("B")
        rb = self.row_bytes
        for a, b in zip(starts.tolist(), ends.tolist()):
            if srt[b - 1] != srt[a] + (b - 1 - a):         # a repeated row: read it once per copy
                for k in range(a, b):
                    self._pread(view[k * rb: (k + 1) * rb], int(srt[k]))
            else:
                self._pread(view[a * rb: b * rb], int(srt[a]))
        if tmp is not out:
            out[order] = tmp
        return out

    def read_range(self, lo: int, hi: int) -> np.ndarray:
        out = np.empty((hi - lo, *self.row_shape), dtype=np.float32)
        if hi > lo:
            self._pread(memoryview(out).cast("B"), lo)
        return out

    def _pread(self, into: memoryview, row: int) -> None:
        pos, got = self.begin + row * self.row_bytes, 0
        while got < len(into):
            n = os.preadv(self.fd, [into[got:]], pos + got)
            if n <= 0:
                raise OSError(f"{self.path}: snapshot cut short")
            got += n

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def read_snapshot(path: Path, expect: dict[str, str], mapped: str
                  ) -> tuple[dict[str, str], dict[str, np.ndarray], RowFile]:
    """Read a snapshot whose metadata has every key/value of `expect`. Returns the metadata, the small arrays,
    and the big array `mapped` as a RowFile (read on demand, never copied whole)."""
    try:
        with open(path, "rb") as f:
            header, hlen, size = _read_header(f)
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
                spans[name] = (dtype, shape, begin)
                if name == mapped:
                    continue
                f.seek(base + begin)
                a = np.fromfile(f, dtype=dtype, count=count)
                if a.size != count:
                    raise SnapshotError(f"{path}: array {name} is cut short")
                out[name] = a.reshape(shape)
            dtype, shape, begin = spans[mapped]
            if dtype != np.float32 or len(shape) < 1:
                raise SnapshotError(f"{path}: array {mapped} is not float32 rows")
            return meta, out, RowFile(path, base + begin, shape[0], tuple(shape[1:]))
    except SnapshotError:
        raise
    except Exception as exc:          # whatever damage does to the header (types, nesting, sizes): not usable
        raise SnapshotError(f"{path}: unreadable snapshot ({type(exc).__name__}: {exc})") from None


def verify_rows(path: Path, mapped: str, crcs: list[int]) -> bool:
    """Whether the bytes of array `mapped` in the file match `crcs` (its block checksums). Read block by block
    with pread, so checking 1.5 GB adds nothing to RSS."""
    try:
        with open(path, "rb") as f:
            header, hlen, _ = _read_header(f)
            spec = header[mapped]
            begin, end = (int(x) for x in spec["data_offsets"])
            block = BLOCK_ROWS * 4 * int(np.prod(spec["shape"][1:]))
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


def _find_id(fd: int, at: int, count: int, memory_id: int) -> int | None:
    """Where `memory_id` is among `count` int64 ids at byte `at` (ascending by absolute value), by pread."""
    lo, hi = 0, count
    while lo < hi:
        mid = (lo + hi) // 2
        v = struct.unpack("<q", os.pread(fd, 8, at + 8 * mid))[0]
        if abs(v) < memory_id:
            lo = mid + 1
        else:
            hi = mid
    if lo < count and struct.unpack("<q", os.pread(fd, 8, at + 8 * lo))[0] == memory_id:
        return lo
    return None


def scrub(path: Path, expect: dict[str, str], ids: list[int], drop_words: Iterable[str], meta_updates: dict[str, str],
          mapped: str = "embeddings") -> bool:
    """Forget in place: the rows of `ids` get a zero embedding and a negated id, each word in `drop_words` is
    blanked in the word list, the metadata takes `meta_updates`, and every checksum follows; then fsync.
    False (nothing trustworthy done: the caller deletes the file) if the file is not the one `expect` names or
    the header cannot take the change."""
    try:
        with open(path, "r+b") as f:
            header, hlen, size = _read_header(f)
            meta = header["__metadata__"]
            if any(meta.get(k) != v for k, v in expect.items()):
                return False
            base = 8 + hlen
            b0, b1 = (int(x) for x in header["ids"]["data_offsets"])
            spec = header[mapped]
            row_bytes = 4 * int(np.prod(spec["shape"][1:]))
            ebegin = base + int(spec["data_offsets"][0])
            rows = int(spec["shape"][0])
            crcs = json.loads(meta[f"{mapped}_crc32"])
            small = json.loads(meta["crc32"])
            fd = f.fileno()
            # Only the bytes that change are read and written, and their checksums patched: a whole pass over a
            # million ids (read, sum, write, fsync 8 MB) took most of a forget.
            touched = False
            for i in ids:
                j = _find_id(fd, base + b0, (b1 - b0) // 8, i)
                if j is None:
                    continue
                touched = True
                at = base + b0 + 8 * j
                old, new = struct.pack("<q", i), struct.pack("<q", -i)
                os.pwrite(fd, new, at)
                small["ids"] = patched_crc(small["ids"], old, new, b1 - b0 - 8 * (j + 1))
                blk = j // BLOCK_ROWS
                row_at = ebegin + j * row_bytes
                old_row = os.pread(fd, row_bytes, row_at)
                os.pwrite(fd, bytes(row_bytes), row_at)
                block_end = min(BLOCK_ROWS * (blk + 1), rows) * row_bytes
                crcs[blk] = patched_crc(crcs[blk], old_row, bytes(row_bytes), block_end - (j + 1) * row_bytes)
            if touched:
                meta[f"{mapped}_crc32"] = json.dumps(crcs)
                meta["crc32"] = json.dumps(small)
            drop = set(drop_words)
            if drop:
                meta["words"] = json.dumps(["" if w in drop else w for w in json.loads(meta["words"])], ensure_ascii=False)
            meta.update(meta_updates)
            os.pwrite(f.fileno(), _header_bytes(header, hlen), 0)
            os.fsync(f.fileno())
        return True
    except Exception:
        return False
