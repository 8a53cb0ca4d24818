"""G: generalization, the memory and its writes.

G is the paper's basic model: `S(x)` returns the next empty slot and
`m_N = I(x); N = N + 1`. Slots are never rewritten; forgetting deletes a slot
and its id is never reused. Two stores share one interface: `SQLiteMemory`
(the user's durable memory) and `EphemeralMemory` (for stories that must start
empty). Both keep every embedding in one in-RAM float32 matrix for scoring.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import errno
import functools
import json
import math
import os
import secrets
import sqlite3
import stat
import sys
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from chatmem import ChatmemError
from chatmem.input import ENCODER_DIM, ENCODER_NAME, Utterance, json_line, read_lines, squash
from chatmem.paths import create_private, ensure_private_dir, private_temp

SCHEMA_VERSION = 1
DB_NAME = "memory.sqlite3"
EXPORT_FORMAT = "chatmem-memories"
BUSY_TIMEOUT_MS = 10_000


class StoreError(ChatmemError):
    """The memory file cannot be used as it is."""


@dataclass(frozen=True)
class Memory:
    """One memory slot. Write time is the pair (id, created): id is a monotonic
    sequence number, created a wall-clock timestamp."""

    id: int
    text: str
    tokens: tuple[str, ...]
    created: float
    session: str

    @property
    def time_ok(self) -> bool:
        """False for a write time no date can show (another client wrote 1e20, inf or -1e12)."""
        return valid_time(self.created)

    @property
    def created_iso(self) -> str:
        if not self.time_ok:
            return "(bad time)".ljust(25)
        return _dt.datetime.fromtimestamp(self.created).astimezone().isoformat(timespec="seconds")

    def to_json(self) -> dict:
        # Microseconds, so an export -> import round trip keeps the write time; a bad one is exported as null.
        created = _dt.datetime.fromtimestamp(self.created).astimezone().isoformat(timespec="microseconds") \
            if self.time_ok else None
        return {"id": self.id, "text": self.text, "created": created, "session": self.session}


def archived_json(a: dict) -> dict:
    """An archived memory as `memory list --archived --json` and `memory export --archived` write it."""
    def iso(t):
        return _dt.datetime.fromtimestamp(t).astimezone().isoformat(timespec="microseconds") if valid_time(t) else None
    return {"id": a["id"], "text": a["text"], "created": iso(a["created"]), "session": a["session"],
            "archived": iso(a["archived"]), "replaced_by": a["replaced_by"], "superseded_by": a["superseded_by"]}


def new_session_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def _shown(ids) -> str:
    ids = sorted(ids)
    return f"{len(ids)} memories (ids " + ", ".join(map(str, ids[:10])) + (", …)" if len(ids) > 10 else ")")


def bad_time_warning(ids) -> str:
    return f"warning: {_shown(ids)} have a write time no date can show; they are listed and exported without one"


def damaged_warning(ids) -> str:
    return (f"warning: {_shown(ids)} have a damaged embedding and cannot be recalled; "
            "`chatmem memory recover` removes them (keeping a copy of the file)")


def _locked(fn):
    """One thread at a time per store (the app's UI thread and its worker share one), and a SQLite failure
    becomes a one-line StoreError instead of a traceback."""
    @functools.wraps(fn)
    def inner(self, *args, **kwargs):
        with self.lock:
            try:
                return fn(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise _store_error(getattr(self, 'path', None) or 'memory', exc, getattr(self, "directory", None)) from None
    return inner


ROW_CACHE = 20_000    # rows (text, tokens, time, session) kept in RAM; the rest are read from disk when needed
HOT_ROWS = 65_536     # newest embeddings a store on disk keeps in RAM (O scans the newest 50,000 for every question)
COLD_MEMO = 4096      # older embeddings kept from the last read (up to 6 MB): a question reads its candidates' again


def _crc32(a: np.ndarray) -> int:
    return zlib.crc32(memoryview(np.ascontiguousarray(a)).cast("B"))


class _Column(Sequence):
    """One field of every memory (text, tokens, time or session), read through the store's row cache."""

    def __init__(self, memory: "MemoryBase", field: int):
        self._memory, self._field = memory, field

    def __len__(self) -> int:
        return len(self._memory)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [r[self._field] for r in self._memory._rows_at(range(*i.indices(len(self))))]
        if isinstance(i, (list, np.ndarray)):
            return [r[self._field] for r in self._memory._rows_at(i)]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(i)
        return self._memory._rows_at([i % n])[0][self._field]

    def __iter__(self):
        for start in range(0, len(self), 10_000):
            yield from self[start: start + 10_000]


class _Embeddings:
    """The (N, dim) embedding matrix of a store whose older rows stay in its snapshot file: indexing reads only
    the rows asked for (the newest from RAM, older ones with pread), so a million memories are not copied into
    the process. np.asarray() of it reads every row (small stores, the brute-force reference)."""

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, memory: "MemoryBase"):
        self._m = memory

    def __len__(self) -> int:
        return self._m._n

    @property
    def shape(self) -> tuple[int, int]:
        return (self._m._n, self._m.dim)

    def __getitem__(self, i):
        rest = ()
        if isinstance(i, tuple):
            i, rest = i[0], i[1:]
        n = self._m._n
        if isinstance(i, slice):
            lo, hi, step = i.indices(n)
            out = self._m._emb_range(lo, hi) if step == 1 else self._m._emb_rows(np.arange(lo, hi, step))
        elif isinstance(i, (int, np.integer)):
            if not -n <= i < n:
                raise IndexError(i)
            out = self._m._emb_rows(np.array([i % n]))[0]
        else:
            i = np.asarray(i)
            if i.dtype == bool:
                i = np.flatnonzero(i)
            out = self._m._emb_rows(np.where(i < 0, i + n, i))
        return out[rest] if rest else out

    def __array__(self, dtype=None, copy=None):
        a = self._m._emb_range(0, self._m._n)
        return a if dtype is None else a.astype(dtype)

    def __iter__(self):
        for start in range(0, len(self), 10_000):
            yield from self[start: start + 10_000]

    def copy(self) -> np.ndarray:
        return np.array(self._m._emb_range(0, self._m._n))


def _remove_row(a: np.ndarray, i: int, n: int) -> np.ndarray:
    """Remove row i of a[:n] by moving the shorter side; returns the array to keep (a view of the same buffer)."""
    if i < n // 2:
        # Move the older rows up one and start the array a row later (a view): forgetting an early row moves a
        # few rows, not all of them.
        _shift(a, 0, 1, i)
        return a[1:]
    _shift(a, i + 1, i, n - 1 - i)
    return a


def _shift(a: np.ndarray, src: int, dst: int, rows: int) -> None:
    """a[dst: dst + rows] = a[src: src + rows], overlapping, in place: one memmove (numpy copies an overlapping
    source to a temporary first: 30 MB of embeddings took 15-30 ms, a memmove 4)."""
    if rows <= 0:
        return
    if a.flags.c_contiguous:
        rb = a.strides[0]
        ctypes.memmove(a.ctypes.data + dst * rb, a.ctypes.data + src * rb, rows * rb)
    else:
        a[dst: dst + rows] = a[src: src + rows].copy()


class MemoryBase:
    """In-RAM view shared by both stores: the ids and the (N, dim) embeddings, which O and the retriever read
    for every question, and a cache of the rows' text, tokens, time and session, which only the memories a
    question touches need. Embeddings of rows before `_hot_at` are in the store's snapshot file (`_cold`),
    read on demand; rows from `_hot_at` on are in RAM (`_emb`, row k = memory k + _hot_at)."""

    encoder_name = ENCODER_NAME
    dim = ENCODER_DIM

    def __init__(self) -> None:
        self._idbuf = np.zeros(0, dtype=np.int64)
        self._emb = np.zeros((0, self.dim), dtype=np.float32)
        self._hot_at = 0                       # rows before it: embeddings in the snapshot file only
        self._cold = None                      # (chatmem.snapshot.RowFile, its ids ascending by abs value)
        self._memo = None                      # (that _cold, ids, rows): the cold rows read last (_cold_rows)
        self._rows: dict[int, tuple] = {}      # id -> (text, tokens, created, session)
        self._n = 0
        self.version = 0  # bumped on every change, so caches built on the memory know to refresh
        self.lock = threading.RLock()
        self.word_index = None                 # the retriever kept in sync with this memory, if any
        self._verifying = None                 # a snapshot's embeddings checksum still being checked (a thread)
        self.texts, self.tokens, self.created, self.sessions = (_Column(self, k) for k in range(4))

    # -- reading -------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def ids(self) -> np.ndarray:
        return self._idbuf[: self._n]

    @property
    def embeddings(self) -> np.ndarray:
        if self._verifying is not None:
            self._settle()
        if self._hot_at == 0:
            return self._emb[: self._n]
        return _Embeddings(self)

    def _emb_rows(self, pos: np.ndarray) -> np.ndarray:
        """Embeddings of rows `pos` (a new array)."""
        pos = np.asarray(pos, dtype=np.int64)
        with self.lock:
            h = self._hot_at
            hot = pos >= h
            if hot.all():
                return self._emb[pos - h]
            out = np.empty((len(pos), self.dim), dtype=np.float32)
            out[hot] = self._emb[pos[hot] - h]
            out[~hot] = self._cold_rows(self.ids[pos[~hot]])
            return out

    def _cold_rows(self, ids: np.ndarray) -> np.ndarray:
        """Embeddings of `ids` from the snapshot file. The rows of the last read (up to COLD_MEMO) are kept by id:
        a question reads its candidates' rows two or three times (the relevance term's pool, then s_O's and the
        second hop's candidates among them). An id's row in a file never changes (a forgotten id never comes back)."""
        rows, key = self._cold
        memo = self._memo if self._memo is not None and self._memo[0] is self._cold else None
        if memo is None or not len(memo[1]):
            out = rows.read(np.searchsorted(key, ids))
        else:
            m_ids, m_rows = memo[1], memo[2]
            at = np.searchsorted(m_ids, ids).clip(max=len(m_ids) - 1)
            found = m_ids[at] == ids
            if found.all():
                return m_rows[at]
            out = np.empty((len(ids), self.dim), dtype=np.float32)
            out[found] = m_rows[at[found]]
            out[~found] = rows.read(np.searchsorted(key, ids[~found]))
        if len(ids) <= COLD_MEMO:
            keep, first = np.unique(ids, return_index=True)
            self._memo = (self._cold, keep, out[first])
        return out

    def _emb_range(self, lo: int, hi: int) -> np.ndarray:
        """Embeddings of rows lo..hi-1: a view when they are all in RAM."""
        if lo >= self._hot_at:
            return self._emb[lo - self._hot_at: hi - self._hot_at]
        return self._emb_rows(np.arange(lo, hi))

    def _settle(self) -> None:
        """Wait for a snapshot's checksum (only a store on disk has one)."""

    def _rows_at(self, indices) -> list[tuple]:
        with self.lock:           # the app's UI thread reads while its worker may evict the cache
            ids = self.ids[np.asarray(indices, dtype=np.int64)].tolist() if len(indices) else []
            found = {i: self._rows[i] for i in ids if i in self._rows}
            if len(found) < len(set(ids)):
                found.update(self._fetch([i for i in ids if i not in found]))
        # A row another process deleted since the last refresh reads as empty until the next refresh drops it.
        return [found.get(i) or ("", (), 0.0, "") for i in ids]

    def _fetch(self, ids: list[int]) -> dict[int, tuple]:
        """Read rows that are not in the cache (only a store on disk has any)."""
        return {}

    def _cache(self, rows: dict[int, tuple]) -> None:
        """Keep rows; a store on disk drops the whole cache when it would grow past ROW_CACHE (it can read
        them again), a store in RAM keeps everything (the cache is all it has)."""
        if len(self._rows) + len(rows) > ROW_CACHE and getattr(self, "path", None) is not None:
            self._rows.clear()
        self._rows.update(rows)

    def memory_at(self, index: int) -> Memory:
        return self.memories_at([index])[0]

    def memories_at(self, indices) -> list[Memory]:
        rows = self._rows_at(indices)
        return [Memory(int(self._idbuf[i]), *r) for i, r in zip(indices, rows)]

    def index_of(self, memory_id: int) -> int | None:
        i = int(np.searchsorted(self.ids, memory_id))
        return i if i < self._n and self._idbuf[i] == memory_id else None

    def get(self, memory_id: int) -> Memory | None:
        i = self.index_of(memory_id)
        return None if i is None else self.memory_at(i)

    def all(self) -> list[Memory]:
        out = []
        for start in range(0, self._n, 10_000):
            out += self.memories_at(range(start, min(self._n, start + 10_000)))
        return out

    # -- in-RAM bookkeeping ----------------------------------------------------
    def _grow(self, need: int) -> None:
        # Capacity grows by half, so a write copies nothing in the common case (a million rows: 1.5 GB).
        hot_need, hot_n = need - self._hot_at, self._n - self._hot_at
        if hot_need > self._emb.shape[0]:
            cap = max(hot_need, int(self._emb.shape[0] * 1.5) + 64)
            grown = np.empty((cap, self.dim), dtype=np.float32)   # rows past _n are never read
            grown[: hot_n] = self._emb[: hot_n]
            self._emb = grown
        if need > self._idbuf.shape[0]:
            ids = np.empty(max(need, int(self._idbuf.shape[0] * 1.5) + 64), dtype=np.int64)
            ids[: self._n] = self._idbuf[: self._n]
            self._idbuf = ids

    def reserve(self, rows: int) -> None:
        """Make room for `rows` memories in one allocation (a bulk import then never copies the matrix to grow
        it; pages not yet written take no RAM)."""
        with self.lock:
            self._grow(rows)

    def _append_rows(self, ids, rows, emb: np.ndarray) -> None:
        """ids ascending; rows: (text, tokens, created, session) per id, or None to read them when needed."""
        k = len(ids)
        if k == 0:
            return
        need = self._n + k
        self._grow(need)
        self._emb[self._n - self._hot_at: need - self._hot_at] = emb
        self._idbuf[self._n: need] = ids
        if rows is not None:
            self._cache(dict(zip(np.asarray(ids).tolist(), rows)))
        self._n = need
        self.version += 1

    def _drop_index(self, i: int) -> None:
        self._rows.pop(int(self._idbuf[i]), None)
        self._idbuf = _remove_row(self._idbuf, i, self._n)
        if i >= self._hot_at:
            self._emb = _remove_row(self._emb, i - self._hot_at, self._n - self._hot_at)
        else:                     # its embedding was in the snapshot file only (scrubbed there by forget)
            self._hot_at -= 1
            self._memo = None     # nor kept here
        self._n -= 1
        self.version += 1

    def _reset(self) -> None:
        # Keep the lock (a Bot shares it) and keep the version growing (caches compare it).
        lock, version, index = self.lock, self.version, self.word_index
        if self._cold is not None:
            self._cold[0].close()
        MemoryBase.__init__(self)
        self.lock, self.version, self.word_index = lock, version + 1, index

    @staticmethod
    def _check(utts: Sequence[Utterance], dim: int, created=None) -> np.ndarray:
        if any(u.embedding is None for u in utts):
            raise ValueError("utterances must be encoded before they are written")
        emb = np.stack([np.asarray(u.embedding, dtype=np.float32) for u in utts])
        if emb.shape[1] != dim:
            raise StoreError(f"embedding dimension {emb.shape[1]} does not match the memory's {dim}")
        if not np.isfinite(emb).all():        # one NaN would make every answer fail
            raise StoreError("an embedding holds NaN or infinity; nothing was written")
        if created is not None and not all(valid_time(t) for t in created):
            raise StoreError("a write time is not a date between 1970 and 9999; nothing was written")
        return emb

    # -- interface both stores implement -----------------------------------------
    def write(self, utts: Sequence[Utterance], session: str, created: Sequence[float] | None = None) -> list[Memory]:
        raise NotImplementedError

    def forget(self, memory_id: int) -> bool:
        raise NotImplementedError

    def clear(self) -> int:
        raise NotImplementedError

    def refresh(self) -> bool:
        """Pick up writes made by other processes; True if anything changed."""
        return False

    def close(self) -> None:
        pass

    # -- G's update links, citations and H's archive (issue 15); kept in RAM here, in tables on disk ---------
    def _g(self) -> dict:
        g = self.__dict__.get("_g_state")
        if g is None:
            g = self.__dict__["_g_state"] = {"links": {}, "cited": {}, "archive": []}
        return g

    def links(self) -> dict[int, int]:
        """Superseded memory id -> the id of the newer memory that supersedes it."""
        with self.lock:
            live = self._g()["links"]
            return {o: n for o, (n, _) in live.items() if self.index_of(o) is not None and self.index_of(n) is not None}

    def link(self, links) -> None:
        """Mark each link's old memory superseded by its new one (chatmem.update.Link values)."""
        with self.lock:
            self._g()["links"].update({lk.old: (lk.new, lk.score) for lk in links})

    def unlink(self, memory_id: int) -> bool:
        """Undo a wrong link: the memory is no longer marked superseded."""
        with self.lock:
            return self._g()["links"].pop(int(memory_id), None) is not None

    def note_cited(self, ids) -> None:
        """O cited these memories: count it, and note the newest memory id at the time (H reads both)."""
        with self.lock:
            last = int(self.ids[-1]) if self._n else 0
            cited = self._g()["cited"]
            for i in set(map(int, ids)):
                cited[i] = (cited.get(i, (0, 0))[0] + 1, last)

    def citations(self) -> dict[int, tuple[int, int]]:
        """Memory id -> (times cited, the newest memory id when last cited)."""
        with self.lock:
            return dict(self._g()["cited"])

    def archive_out(self, memory_id: int, replaced_by: int | None) -> bool:
        """Move a memory out of working memory into the archive (the budget's eviction): nothing is lost."""
        with self.lock:
            m = self.get(memory_id)
            if m is None:
                return False
            g = self._g()
            sup = g["links"].get(m.id, (None,))[0]
            g["archive"].append({"id": m.id, "text": m.text, "created": m.created, "session": m.session,
                                 "archived": time.time(), "replaced_by": replaced_by, "superseded_by": sup})
            g["cited"].pop(m.id, None)
            return self.forget(memory_id)

    def archived(self) -> list[dict]:
        """The archive, oldest memory first: id, text, created, session, archived, replaced_by, superseded_by."""
        with self.lock:
            return sorted((dict(a) for a in self._g()["archive"]), key=lambda a: a["id"])

    def empty_archive(self) -> int:
        with self.lock:
            n = len(self._g()["archive"])
            self._g()["archive"].clear()
            return n

    # -- export ------------------------------------------------------------
    def _own_files(self) -> list[Path]:
        """Files of the store itself, which an export must never replace."""
        return []

    def export_jsonl(self, path: str | os.PathLike, warn=None, archived: bool = False) -> int:
        """Write a header line saying what the file holds, then one memory per line. A new or regular file is
        replaced atomically through a temporary file of our own; a character device or FIFO (/dev/stdout, a
        pipe) is written directly; anything else (a symlink, a directory, a block device) is refused."""
        path = Path(path)
        real = os.path.realpath(path)
        if any(real == os.path.realpath(f) for f in self._own_files()):
            raise StoreError(f"{path} is one of the memory's own files; export to another file")
        try:
            link = os.lstat(path)
        except FileNotFoundError:
            link = None
        if link is not None and not stat.S_ISREG(link.st_mode):
            try:
                target = os.stat(path)
            except OSError:
                target = link
            stream = str(path).startswith(("/dev/", "/proc/self/fd/")) and stat.S_ISREG(target.st_mode)
            if stat.S_ISCHR(target.st_mode) or stat.S_ISFIFO(target.st_mode) or stream:
                # The user named a special file (/dev/stdout may lead to a terminal, a pipe or the file the shell
                # redirected it to): write into it, never rename over it.
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY)
                self._export_to(fd, sync=False, warn=warn, archived=archived)
                return len(self.archived()) if archived else len(self)
            if stat.S_ISDIR(target.st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(path))
            kind = "a symbolic link" if stat.S_ISLNK(link.st_mode) else "not a regular file"
            raise StoreError(f"{path} is {kind}; refusing to replace it (export to a new or regular file)")
        tmp, fd = private_temp(path)
        try:
            self._export_to(fd, sync=True, warn=warn, archived=archived)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return len(self.archived()) if archived else len(self)

    @_locked
    def _export_to(self, fd: int, sync: bool, warn=None, archived: bool = False) -> None:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            header = {
                "format": EXPORT_FORMAT, "version": 1, "count": len(self.archived()) if archived else len(self),
                "contains": "chatmem memories: the text of each statement you told chatmem, "
                            "its write time and session. Private: it is your conversation.",
            }
            f.write(json_line(header) + "\n")
            bad = []
            links = self.links()
            for m in ([] if archived else self.all()):
                f.write(json_line(m.to_json() | {"superseded_by": links.get(m.id)}) + "\n")
                if not m.time_ok:
                    bad.append(m.id)
            for a in (self.archived() if archived else []):
                f.write(json_line(archived_json(a)) + "\n")
            f.flush()
            if sync:
                os.fsync(f.fileno())
        if bad and warn:
            warn(bad_time_warning(bad))


class EphemeralMemory(MemoryBase):
    """Same interface, nothing on disk: for bAbI stories and `replay --fresh`."""

    def __init__(self) -> None:
        super().__init__()
        self._next_id = 1
        self.path = None

    @_locked
    def write(self, utts, session, created=None):
        if not utts:
            return []
        emb = self._check(utts, self.dim, created)
        ids = list(range(self._next_id, self._next_id + len(utts)))
        self._next_id += len(utts)
        now = time.time()
        ts = list(created) if created is not None else [now] * len(utts)
        self._append_rows(ids, [(u.text, tuple(u.tokens), t, session) for u, t in zip(utts, ts)], emb)
        return self.memories_at(range(self._n - len(utts), self._n))

    @_locked
    def forget(self, memory_id):
        i = self.index_of(memory_id)
        if i is None:
            return False
        self._drop_index(i)
        return True

    @_locked
    def clear(self):
        n = len(self)
        nid = self._next_id
        self._reset()
        self._next_id = nid
        return n


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text TEXT NOT NULL,
    tokens TEXT NOT NULL,
    embedding BLOB NOT NULL,
    created REAL NOT NULL,
    session TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    session TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    data TEXT
);
"""
# Any client that deletes, changes or back-fills a memory bumps `rewrites` (triggers live in the file), so a
# snapshot taken before can tell it no longer matches. Plain appends leave it alone.
_BUMP = ("BEGIN INSERT INTO meta (key, value) VALUES ('rewrites', '1') "
         "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1; END;")
_TRIGGERS = f"""
CREATE TRIGGER IF NOT EXISTS memories_deleted AFTER DELETE ON memories {_BUMP}
CREATE TRIGGER IF NOT EXISTS memories_updated AFTER UPDATE ON memories {_BUMP}
CREATE TRIGGER IF NOT EXISTS memories_backfilled AFTER INSERT ON memories
    WHEN EXISTS (SELECT 1 FROM memories WHERE id > NEW.id) {_BUMP}
"""
# G's update and H's archive (issue 15): added to existing stores when they are opened (CREATE ... IF NOT
# EXISTS in the open transaction), so the schema version stays 1 and an older chatmem still reads the file.
# links: old memory id -> the newer memory that supersedes it; cited: how often and when (the newest id at the
# time) O cited a memory; archive: memories the budget moved out of working memory (text only, no embedding).
_G_SCHEMA = """
CREATE TABLE IF NOT EXISTS links (old INTEGER PRIMARY KEY, new INTEGER NOT NULL, score REAL NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cited (id INTEGER PRIMARY KEY, count INTEGER NOT NULL, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS archive (id INTEGER PRIMARY KEY, text TEXT NOT NULL, created REAL NOT NULL,
    session TEXT NOT NULL, archived REAL NOT NULL, replaced_by INTEGER, superseded_by INTEGER);
"""
# A memory that goes (forgotten, cleared, archived) takes its links and citation counts with it, whichever
# client deletes it.
_G_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS memories_unlinked AFTER DELETE ON memories
    BEGIN DELETE FROM links WHERE old = OLD.id OR new = OLD.id; DELETE FROM cited WHERE id = OLD.id; END;
"""
_SCHEMA += _G_SCHEMA
_TRIGGERS += _G_TRIGGERS
MIN_TIME, MAX_TIME = 0.0, 253402128000.0       # 1970 to 9999-12-30 (a day short, for any time zone): what a date can show


def valid_time(t) -> bool:
    return isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and MIN_TIME <= t <= MAX_TIME


def _low_space(directory: Path) -> bool:
    try:
        st = os.statvfs(directory)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < (1 << 20)


def _disk_full(exc: BaseException, directory: Path | None = None) -> bool:
    """SQLITE_FULL or ENOSPC: the disk, not the file. `recover` would only make it worse. SQLite reports a
    full disk while it opens a file as an I/O error, so for those the free space decides."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or getattr(exc, "errno", None) == errno.ENOSPC or "disk is full" in str(exc) \
            or "No space left" in str(exc):
        return True
    return (directory is not None and code is not None and code & 0xFF in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN)
            and _low_space(directory))


def _store_error(where, exc: BaseException, directory: Path | None = None) -> StoreError:
    if _disk_full(exc, directory):
        return StoreError(f"{where}: the disk is full; free some space and try again (the memory is not damaged, "
                          "nothing was written)")
    return StoreError(f"{where}: {exc}")


def _readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the file (not even its journal mode). Without a -wal file, `immutable`
    also keeps SQLite from creating -wal and -shm files beside a WAL-mode file."""
    from urllib.parse import quote

    flags = "mode=ro" + ("" if os.path.exists(f"{path}-wal") else "&immutable=1")
    return contextlib.closing(sqlite3.connect(f"file:{quote(str(path))}?{flags}", uri=True))


SNAPSHOT_NAME = "memory.snapshot"
SNAPSHOT_FORMAT = "chatmem-snapshot-2"     # 2: embeddings read on demand, scrubbed in place
SNAPSHOT_MIN = 50_000     # smaller stores open in well under a second without one
SPILL_ROWS = 4 * HOT_ROWS  # more embeddings than this in RAM: a write moves them to the snapshot file


class SQLiteMemory(MemoryBase):
    """The user's memory: SQLite in WAL mode, one committed transaction per write."""

    def __init__(self, directory: str | os.PathLike, encoder_name: str = ENCODER_NAME, dim: int = ENCODER_DIM):
        self.encoder_name = encoder_name
        self.dim = dim
        super().__init__()
        self.directory = ensure_private_dir(Path(directory))
        self.path = self.directory / DB_NAME
        self._data_version = None
        self._snap_last = None        # the last id the snapshot matching the file covers (None: no snapshot)
        self._rewrites = "0"          # the rewrite count RAM agrees with (deletes and updates this process saw)
        self.postings_seed = None
        self.snapshot_min = SNAPSHOT_MIN
        self.damaged: set[int] = set()      # ids whose embedding was cut or not finite (zero in RAM)
        self.warnings: list[str] = []       # for the user: e.g. a snapshot that failed its checksum
        self._conn = self._connect()
        self._load()

    def _own_files(self) -> list[Path]:
        return [self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"), self.snapshot_path]

    # -- opening -----------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            # Create the file 0600 ourselves: SQLite gives the -wal and -shm files the same mode.
            os.close(create_private(self.path))
        except FileExistsError:
            self._inspect()            # read-only: nothing is changed in a file that is not ours
        os.chmod(self.path, 0o600)
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA secure_delete=ON")     # a forgotten memory's text is overwritten, not left in free pages
            conn.create_function("chatmem_squash", 1, squash, deterministic=True)
            # One transaction: a file is never left with our tables but no meta saying whose they are.
            try:
                conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + _TRIGGERS)     # left open: meta goes in with it
                conn.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                                 list(self._want_meta().items()))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._check_meta(dict(conn.execute("SELECT key, value FROM meta").fetchall()))
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from None
        if mode.lower() != "wal":
            raise StoreError(f"{self.path}: could not switch SQLite to WAL mode (got {mode!r})")
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                os.chmod(side, 0o600)
        return conn

    def _unusable(self, exc: BaseException) -> StoreError:
        if _disk_full(exc, self.directory):
            return _store_error(self.path, exc, self.directory)
        return StoreError(f"{self.path} is not a usable chatmem memory ({exc}); it was left untouched. "
                          f"Run `chatmem memory recover` to move it aside and salvage what can be read.")

    def _inspect(self) -> None:
        """Before anything is written: the file must be a chatmem memory of our schema and encoder (an empty
        file is one we created and did not fill yet). Read-only, so another application's file is left as
        it was."""
        if not stat.S_ISREG(os.stat(self.path).st_mode):
            raise StoreError(f"{self.path} is not a regular file; it was left untouched")
        if os.path.getsize(self.path) == 0:
            return
        try:
            with _readonly(self.path) as ro:
                tables = {r[0] for r in ro.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                have = dict(ro.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from None
        if have or (tables and "memories" not in tables):
            self._check_meta(have)
        # else: no tables yet, or our tables without meta (a file an older chatmem began): ours to finish

    def _want_meta(self) -> dict:
        return {"schema_version": str(SCHEMA_VERSION), "encoder_name": self.encoder_name, "encoder_dim": str(self.dim)}

    def _check_meta(self, have: dict) -> None:
        want = self._want_meta()
        if "schema_version" not in have:
            raise StoreError(f"{self.path} is not a chatmem memory (it has no chatmem metadata); it was left "
                             "untouched. Choose another --data-dir.")
        if have.get("schema_version") != want["schema_version"]:
            raise StoreError(
                f"{self.path} has memory schema version {have.get('schema_version')}, but this chatmem "
                f"reads version {SCHEMA_VERSION}; nothing was changed. Use a matching chatmem, or export and re-import."
            )
        if (have.get("encoder_name"), have.get("encoder_dim")) != (want["encoder_name"], want["encoder_dim"]):
            raise StoreError(
                f"{self.path} was written with encoder {have.get('encoder_name')} ({have.get('encoder_dim')}-d), "
                f"but this chatmem uses {self.encoder_name} ({self.dim}-d); nothing was re-encoded or dropped. "
                f"Export it with the matching chatmem and import it here."
            )

    # -- loading ------------------------------------------------------------------
    def _fetch(self, ids: list[int]) -> dict[int, tuple]:
        got: dict[int, tuple] = {}
        with self.lock:
            intern = sys.intern     # words and sessions repeat: one string object each, not one per memory
            ids = sorted(ids)
            step = 500 if len(ids) < 5000 else 20_000
            for k in range(0, len(ids), step):
                part = ids[k: k + step]
                cols = "SELECT id, text, tokens, created, session FROM memories WHERE "
                try:
                    if part[-1] - part[0] < 2 * len(part):     # (nearly) consecutive: one range scan
                        rows = self._conn.execute(cols + "id BETWEEN ? AND ?", (part[0], part[-1])).fetchall()
                    else:
                        rows = []
                        for j in range(0, len(part), 500):
                            few = part[j: j + 500]
                            rows += self._conn.execute(cols + f"id IN ({','.join('?' * len(few))})", few).fetchall()
                except sqlite3.Error as exc:
                    raise StoreError(f"{self.path}: {exc}") from None
                for i, text, toks, created, session in rows:
                    got[i] = (text, tuple(map(intern, toks.split(" "))) if toks else (), created, intern(session))
            self._cache(got)
        return got

    def _rows_to_ram(self, rows) -> None:
        """Append (id, embedding) rows read from the file; their text is read when first needed."""
        if not rows:
            return
        size = 4 * self.dim
        bad = [r[0] for r in rows if not isinstance(r[1], bytes) or len(r[1]) != size]
        ids, blobs = zip(*rows)
        emb = np.frombuffer(b"".join(b if isinstance(b, bytes) and len(b) == size else bytes(size) for b in blobs),
                            dtype=np.float32).reshape(len(rows), self.dim)
        if not np.isfinite(emb.sum()):        # one pass; rows are looked at only when something is off
            # Another client's damaged row must not break the others: it is kept as a zero vector (it matches
            # nothing) and reported; `recover` removes it.
            nan = ~np.isfinite(emb).all(axis=1)
            emb = emb.copy()
            emb[nan] = 0.0
            bad += np.asarray(ids)[nan].tolist()
        self.damaged.update(bad)
        self._append_rows(ids, None, emb)

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _rewrite_count(self) -> str:
        """How many deletes, updates and back-fills the file has seen (the triggers count them)."""
        return self._meta("rewrites") or "0"

    def _load(self) -> None:
        """Read ids and embeddings, from the snapshot where one matches the file (its older rows stay in the file,
        read on demand), then the rows written after it, in chunks straight into a matrix sized once."""
        try:
            self._conn.execute("BEGIN")         # one read transaction: the snapshot check and the rows agree
            try:
                hi = self._conn.execute("SELECT MAX(id) FROM memories").fetchone()[0]
                lo = self._conn.execute("SELECT MIN(id) FROM memories").fetchone()[0]
                # Ids only grow, so max - min + 1 bounds the row count without reading the table. Room for a
                # quarter more is reserved so that new writes do not copy the matrix; np.empty, not np.zeros:
                # pages never filled are never touched (no RAM).
                rows = hi - lo + 1 if hi is not None else 0
                self._idbuf = np.empty(rows + rows // 4 + 64, dtype=np.int64)
                seq = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'memories'").fetchone()
                # the snapshot may cover ids forgotten since (scrubbed in it): the id sequence bounds it, not MAX(id)
                last = self._read_snapshot(max(hi or 0, seq[0] if seq and isinstance(seq[0], int) else 0))
                if not last:
                    self._emb = np.empty((rows + rows // 4 + 64, self.dim), dtype=np.float32)
                cur = self._conn.execute("SELECT id, embedding FROM memories WHERE id > ? ORDER BY id", (last,))
                while True:
                    rows = cur.fetchmany(50_000)
                    if not rows:
                        break
                    self._rows_to_ram(rows)
                self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
                self._rewrites = self._rewrite_count()
            finally:
                self._conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._reset()
            if _disk_full(exc, self.directory):
                raise _store_error(self.path, exc, self.directory) from None
            raise StoreError(f"{self.path} could not be read ({exc}); run `chatmem memory recover`.") from None

    # -- the snapshot: ids, embeddings and the word index in one file, so a million memories open in seconds --
    @property
    def snapshot_path(self) -> Path:
        return self.directory / SNAPSHOT_NAME

    def _snapshot_expect(self) -> dict:
        return {"format": SNAPSHOT_FORMAT, "store": self._meta("store_uid"), "rewrites": self._rewrite_count(),
                "encoder": self.encoder_name, "dim": str(self.dim)}

    def _read_snapshot(self, max_id: int) -> int:
        """Take the snapshot if it matches this file (same store, no rewrites since, its last row present): its ids
        and word index, and the newest HOT_ROWS embeddings into RAM (the rest are read from it when asked for).
        Returns the last id it covers (0: none). A snapshot that does not match, or is damaged in any way, is a
        stale cache: it is deleted, never trusted."""
        from chatmem.snapshot import SnapshotError, read_snapshot

        self._snap_last = None
        self.postings_seed = None
        path = self.snapshot_path
        if not path.is_file():
            return 0
        rowfile = None
        try:
            meta, arrays, rowfile = read_snapshot(path, self._snapshot_expect(), mapped="embeddings")
            snap, last = arrays["ids"], int(meta["last_id"])
            crc = json.loads(meta["crc32"])       # the small arrays here; the embeddings' blocks in the background
            emb_crcs = json.loads(meta["embeddings_crc32"])
            if any(_crc32(arrays[k]) != crc[k] for k in ("ids", "post_off", "post_ids")) or \
                    not (isinstance(emb_crcs, list) and all(isinstance(c, int) for c in emb_crcs)):
                raise SnapshotError(f"{path}: checksum mismatch")
            # Forgotten rows are scrubbed in place: their id negated, their embedding zero.
            key = np.abs(snap) if snap.dtype == np.int64 else snap
            live = snap > 0
            ids = snap[live]
            n = len(ids)
            # A database older than the snapshot (a restored backup) has lost its last rows.
            if (snap.ndim != 1 or snap.dtype != np.int64 or len(snap) != rowfile.rows or rowfile.row_shape != (self.dim,)
                    or (len(key) and (key[-1] != last or np.any(np.diff(key) <= 0))) or last > max_id
                    or (n and not self._conn.execute("SELECT 1 FROM memories WHERE id = ?", (int(ids[-1]),)).fetchone())):
                raise SnapshotError(f"{path}: does not match the memory file")
            words, off, post = json.loads(meta["words"]), arrays["post_off"], arrays["post_ids"]
            if (not isinstance(words, list) or not all(isinstance(w, str) for w in words) or off.ndim != 1
                    or off.dtype != np.int64 or post.dtype != np.int64
                    or post.ndim != 1 or len(off) != len(words) + 1 or (len(off) and (off[0] != 0 or off[-1] != len(post)
                                                                                      or np.any(np.diff(off) < 0)))
                    or (len(post) and (post.min() < 1 or post.max() > last))):
                raise SnapshotError(f"{path}: its word index does not match its memories")
            # the newest rows in RAM: O reads the newest tens of thousands for every question
            first = int(np.searchsorted(live.cumsum(), n - HOT_ROWS, side="right")) if n > HOT_ROWS else 0
            window = rowfile.read_range(first, len(snap))[live[first:]]
        except Exception:                     # any damage at all: a cache is rebuilt, never trusted
            if rowfile is not None:
                rowfile.close()
            self._drop_snapshot()
            return 0
        if n < len(snap):                     # the word index without the forgotten rows
            dead = np.isin(post, key[~live])
            kept = np.concatenate([[0], np.cumsum(~dead)])
            off, post = kept[off], post[~dead]
        self._idbuf = np.empty(max(n + n // 4 + 64, len(self._idbuf)), dtype=np.int64)
        self._idbuf[:n] = ids
        self._n = n
        self._hot_at = n - len(window)
        self._emb = np.empty((len(window) + max(len(window) // 2, self._idbuf.shape[0] - n), self.dim), dtype=np.float32)
        self._emb[: len(window)] = window
        self._cold = (rowfile, key)
        self.version += 1
        self._snap_last = last
        self.postings_seed = (last, n, words, off, post)
        self._verify_embeddings(path, emb_crcs)
        return last

    def _verify_embeddings(self, path: Path, crcs: list[int]) -> None:
        """Check the snapshot's embeddings against their checksums in a thread (1.5 GB at a million memories
        would take the open past a second); anything that reads them first waits for it (`_settle`)."""
        from chatmem.snapshot import verify_rows

        result: list[bool] = []
        t = threading.Thread(target=lambda: result.append(verify_rows(path, "embeddings", crcs)), daemon=True,
                             name="chatmem-snapshot-check")
        t.result = result
        self._verifying = t
        t.start()

    def _settle(self) -> None:
        """Wait for the snapshot's checksum; on a mismatch, warn and read every row from the database instead:
        a damaged cache must never give wrong answers."""
        t = self._verifying
        if t is None:
            return
        t.join()
        with self.lock:
            if self._verifying is not t:
                return
            self._verifying = None
            if t.result == [True]:
                return
            self.warnings.append(f"warning: {self.snapshot_path} failed its checksum; it was deleted and the "
                                 "memories were read from the database (nothing is lost)")
            self._reset()             # first: RAM then holds nothing that the file must be read for
            self._drop_snapshot()
            self.postings_seed = None
            if self.word_index is not None:
                self.word_index._reset(self)       # its postings came with the snapshot: rebuilt from the rows
            self._load()

    def snapshot_stale(self) -> bool:
        if self._n < self.snapshot_min:
            return False
        if self._snap_last is None or not self.snapshot_path.exists():     # another process may have deleted it
            return True
        after = self._n - int(np.searchsorted(self.ids, self._snap_last, side="right"))
        return after > max(1000, self._n // 20) or self._n - self._hot_at > 2 * HOT_ROWS

    @_locked
    def save_snapshot(self) -> Path | None:
        """Write the snapshot atomically (temporary file, then rename), the embeddings streamed in chunks; then
        keep only the newest HOT_ROWS embeddings in RAM (the rest are read from the new file)."""
        from chatmem.snapshot import read_snapshot, write_snapshot

        self._settle()
        if self._meta("store_uid") is None:
            with self._conn:
                self._conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('store_uid', ?)", (uuid.uuid4().hex,))
        self._conn.execute("BEGIN")
        try:
            self.refresh(check=True)          # what RAM holds is what the file holds at this `rewrites` count
            if self._rewrite_count() != self._rewrites:
                # Another client deleted, changed or back-filled rows: RAM may be stale. No snapshot; the next
                # open reads the rows.
                return None
            meta = self._snapshot_expect() | {"last_id": str(int(self.ids[-1]) if self._n else 0)}
        finally:
            self._conn.execute("COMMIT")
        index = self._word_index()
        index.sync(self)
        words, off, flat = index.export_postings()
        ids = self.ids.copy()
        meta["words"] = json.dumps(words, ensure_ascii=False)
        meta["crc32"] = json.dumps({k: _crc32(a) for k, a in (("ids", ids), ("post_off", off), ("post_ids", flat))})
        n, step = self._n, 16_384
        write_snapshot(self.snapshot_path, meta, {"ids": ids, "post_off": off, "post_ids": flat}, mapped="embeddings",
                       rows=n, row_shape=(self.dim,),
                       chunks=(self._emb_range(k, min(n, k + step)) for k in range(0, n, step)))
        if self._rewrite_count() != meta["rewrites"]:    # a forget committed meanwhile: not valid
            self._drop_snapshot()
            return None
        # Older rows now come from the new file; the newest stay in RAM.
        _, _, rowfile = read_snapshot(self.snapshot_path, {"format": SNAPSHOT_FORMAT}, mapped="embeddings")
        keep = min(n, HOT_ROWS)
        window = np.array(self._emb_range(n - keep, n))
        if self._cold is not None:
            self._cold[0].close()
        self._cold = (rowfile, ids)
        self._hot_at = n - keep
        self._emb = np.empty((keep + max(keep // 2, 1024), self.dim), dtype=np.float32)
        self._emb[:keep] = window
        self._snap_last = int(meta["last_id"])
        return self.snapshot_path

    def _drop_snapshot(self) -> None:
        """A snapshot that cannot be kept in step (damaged, stale, or a scrub that failed) is deleted. RAM keeps
        working: rows read from it until now are read from the database instead."""
        try:
            self.snapshot_path.unlink(missing_ok=True)
        except IsADirectoryError:
            pass                      # not ours: something else by that name, left alone (and never read)
        self._snap_last = None
        if self._cold is not None and self._hot_at:
            self._hot_from_db()

    def _hot_from_db(self) -> None:
        """Bring every embedding into RAM from the database (the snapshot file is going away)."""
        n, h = self._n, self._hot_at
        emb = np.empty((n + n // 4 + 64, self.dim), dtype=np.float32)
        emb[h:n] = self._emb[: n - h]
        ids = self.ids[:h]
        at = 0
        for k in range(0, h, 20_000):
            part = ids[k: k + 20_000].tolist()
            got = dict(self._conn.execute(
                "SELECT id, embedding FROM memories WHERE id BETWEEN ? AND ?", (part[0], part[-1])).fetchall())
            for i in part:
                blob = got.get(i)
                emb[at] = np.frombuffer(blob, np.float32) if isinstance(blob, bytes) and len(blob) == 4 * self.dim else 0
                at += 1
        self._emb, self._hot_at = emb, 0
        self._cold[0].close()
        self._cold = None

    def _word_index(self):
        """The word index a retriever keeps on this memory; else one made here from the rows (seeded by the
        snapshot), which its sync keeps on the memory for the next snapshot or forget."""
        from chatmem.retrieval import WordHashRetriever

        if self.word_index is not None:
            return self.word_index
        index = WordHashRetriever()
        index.sync(self)
        return index

    def _scrub_snapshot(self, memory_id: int, tokens: Sequence[str], before: str) -> None:
        """Forgetting must not leave the memory's embedding or words in the snapshot: scrub them there in place
        (its embedding zeroed, its id negated, each of its words no other memory of the snapshot has blanked,
        the rewrite count moved on), or delete the file if that cannot be done."""
        from chatmem.retrieval import _present, content_words
        from chatmem.snapshot import scrub

        path = self.snapshot_path
        if not path.is_file():
            return
        idx = self._word_index()          # which words other memories still have
        drop = []
        for w in content_words(tokens):
            p = idx.postings.get(w, ())
            a = p if isinstance(p, np.ndarray) else np.frombuffer(p, np.int64) if len(p) else np.zeros(0, np.int64)
            # another memory still holds the word: its newest ids say so at once for a common word ("went" is in
            # a third of a million memories: checking them all took most of a forget's 60 ms)
            if not len(a) or not (_present(self, a[-64:]).any() or _present(self, a[:-64]).any()):
                drop.append(w)
        expect = self._snapshot_expect() | {"rewrites": before}
        if not scrub(path, expect, [int(memory_id)], drop, {"rewrites": self._rewrite_count()}):
            self._drop_snapshot()

    # -- writing -------------------------------------------------------------
    @_locked
    def write(self, utts, session, created=None):
        if not utts:
            return []
        emb = self._check(utts, self.dim, created)
        self._settle()
        ids = []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                # The clock is read under the write lock, so wall-clock times follow id order across processes.
                now = time.time()
                ts = list(created) if created is not None else [now] * len(utts)
                rows = [(u.text, " ".join(u.tokens), emb[k].tobytes(), ts[k], session) for k, u in enumerate(utts)]
                # One statement for the batch: under the write lock AUTOINCREMENT hands out consecutive ids.
                before = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'memories'").fetchone()
                top = self._conn.execute("SELECT MAX(id) FROM memories").fetchone()[0]
                first = max(before[0] if before else 0, top or 0) + 1
                self._conn.executemany(
                    "INSERT INTO memories (text, tokens, embedding, created, session) VALUES (?, ?, ?, ?, ?)", rows)
                ids = list(range(first, first + len(rows)))
                if self._conn.execute("SELECT MAX(id) FROM memories").fetchone()[0] != ids[-1]:
                    raise StoreError(f"{self.path}: ids were not given out in order; nothing was written")
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:     # a failed COMMIT (disk full) has already rolled back
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise _store_error(f"could not write to {self.path}", exc, self.directory) from None
        # Another process may have written in between: take its rows first, keeping id order.
        self.refresh(known={i: (u.text, tuple(u.tokens), ts[k], session) for k, (i, u) in enumerate(zip(ids, utts))})
        if self._n - self._hot_at > SPILL_ROWS and self._n >= self.snapshot_min:
            # A big import: the older rows go to the snapshot file, so RAM holds a bounded number of embeddings.
            try:
                self.save_snapshot()
            except (OSError, ChatmemError):
                pass
        return [self.get(i) for i in ids]

    @_locked
    def forget(self, memory_id):
        self._settle()
        with self._conn:
            before = self._rewrite_count()
            known = before == self._rewrites
            row = self._conn.execute("SELECT text, tokens FROM memories WHERE id = ?", (int(memory_id),)).fetchone()
            cur = self._conn.execute("DELETE FROM memories WHERE id = ?", (int(memory_id),))
            if row and isinstance(row[0], str) and squash(row[0]):
                # The log must not keep what was forgotten: drop every turn that quotes it (the statement, and
                # answers citing it). Compared in the stored form, since the log keeps the text as typed.
                self._conn.execute("DELETE FROM turns WHERE instr(chatmem_squash(text), ?) > 0", (squash(row[0]),))
            if known:                 # RAM still matches the file after this delete
                self._rewrites = self._rewrite_count()
        held = self._forgotten(memory_id, row, before)
        self._scrub()
        return cur.rowcount > 0 or held

    def _forgotten(self, memory_id: int, row, before: str) -> bool:
        """After a row left the table (forget, archive): RAM, the word index and the snapshot follow. Returns
        whether RAM held it."""
        tokens = row[1].split(" ") if row and isinstance(row[1], str) and row[1] else ()
        i = self.index_of(memory_id)
        if i is not None:
            self._drop_index(i)
            if self.word_index is not None:
                self.word_index.discard(int(memory_id), tokens)
        self._scrub_snapshot(memory_id, tokens, before)
        return i is not None

    @_locked
    def clear(self):
        self._settle()
        self._drop_snapshot()
        with self._conn:
            cur = self._conn.execute("DELETE FROM memories")
            self._conn.execute("DELETE FROM turns")         # the log quotes the memories
            self._rewrites = self._rewrite_count()      # an empty memory matches any file state
        self._scrub()
        n = max(cur.rowcount, len(self))
        self._reset()
        self.postings_seed = None
        self.damaged.clear()
        return n

    def _scrub(self, tries: int = 40) -> None:
        """After a forget: no copy of the text may stay on disk. secure_delete zeroes it in the pages written
        to the WAL; until they are checkpointed the database file keeps the old pages, and the WAL old images.
        A reader elsewhere (another process, a connection not yet collected) can keep the checkpoint from
        finishing: it is retried for up to `tries` x 25 ms (CI saw "clear" leave text in the database file
        once), and after that finished by a later one."""
        import gc
        import time

        for k in range(tries):
            try:
                busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError:
                busy = None
            if busy is not None and not busy[0]:
                return
            if k == 0:           # a cursor of ours not yet collected still holds its read
                gc.collect()
            time.sleep(0.025)

    @_locked
    def refresh(self, known: dict | None = None, check: bool = False):
        """Load rows other processes wrote, and drop rows they forgot. `known`: rows this process just wrote
        (id -> text, tokens, time, session), cached without reading them back. `check`: count the rows even if
        no other connection seems to have committed (the snapshot relies on it)."""
        self._settle()
        # Counting the rows reads the whole table (slow at a million memories): only another connection's
        # commit can have deleted any, and SQLite's data_version says whether one happened. It is read first,
        # so a commit between it and the reads below shows up at the next refresh.
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        others, self._data_version = version != self._data_version, version
        last = int(self.ids[-1]) if self._n else 0
        rows = self._conn.execute("SELECT id, embedding FROM memories WHERE id > ? ORDER BY id", (last,)).fetchall()
        changed = bool(rows)
        count = self._conn.execute("SELECT COUNT(*) FROM memories WHERE id <= ?", (last,)).fetchone()[0] \
            if others or check else self._n
        if count != self._n:
            present = np.fromiter((r[0] for r in self._conn.execute("SELECT id FROM memories WHERE id <= ?", (last,))),
                                  dtype=np.int64)
            for i in np.flatnonzero(~np.isin(self.ids, present))[::-1].tolist():
                self._drop_index(i)
            changed = True
        self._rows_to_ram(rows)
        if known:
            self._cache({i: r for i, r in known.items() if self.index_of(i) is not None})
        return changed

    # -- G's update links, citations and H's archive (issue 15), in their own tables -------------------------
    @_locked
    def links(self):
        return dict(self._conn.execute("SELECT old, new FROM links").fetchall())

    @_locked
    def link(self, links):
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO links (old, new, score, created) "
                                   "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM memories WHERE id = ?) "
                                   "AND EXISTS (SELECT 1 FROM memories WHERE id = ?)",
                                   [(lk.old, lk.new, lk.score, time.time(), lk.old, lk.new) for lk in links])

    @_locked
    def unlink(self, memory_id):
        with self._conn:
            cur = self._conn.execute("DELETE FROM links WHERE old = ?", (int(memory_id),))
        return cur.rowcount > 0

    @_locked
    def note_cited(self, ids):
        last = int(self.ids[-1]) if self._n else 0
        # Counts for H, written after every answer: no fsync of their own (WAL, synchronous=NORMAL: a crash may
        # lose the last few counts, never the database's consistency); the next write's commit syncs them.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with self._conn:
                self._conn.executemany("INSERT INTO cited (id, count, last) SELECT ?, 1, ? "
                                       "WHERE EXISTS (SELECT 1 FROM memories WHERE id = ?) "
                                       "ON CONFLICT(id) DO UPDATE SET count = count + 1, last = excluded.last",
                                       [(i, last, i) for i in set(map(int, ids))])
        finally:
            self._conn.execute("PRAGMA synchronous=FULL")

    @_locked
    def citations(self):
        return {i: (c, last) for i, c, last in self._conn.execute("SELECT id, count, last FROM cited")}

    @_locked
    def archive_out(self, memory_id, replaced_by):
        """One transaction: the row is copied into the archive and deleted from memories (its link and
        citation rows go with it, by trigger). Unlike forget, the conversation log keeps quoting it."""
        with self._conn:
            before = self._rewrite_count()
            known = before == self._rewrites
            row = self._conn.execute("SELECT text, tokens FROM memories WHERE id = ?", (int(memory_id),)).fetchone()
            sup = self._conn.execute("SELECT new FROM links WHERE old = ?", (int(memory_id),)).fetchone()
            cur = self._conn.execute(
                "INSERT INTO archive (id, text, created, session, archived, replaced_by, superseded_by) "
                "SELECT id, text, created, session, ?, ?, ? FROM memories WHERE id = ?",
                (time.time(), replaced_by, sup[0] if sup else None, int(memory_id)))
            self._conn.execute("DELETE FROM memories WHERE id = ?", (int(memory_id),))
            if known:
                self._rewrites = self._rewrite_count()
        self._forgotten(memory_id, row, before)
        return cur.rowcount > 0

    @_locked
    def archived(self):
        cols = ("id", "text", "created", "session", "archived", "replaced_by", "superseded_by")
        return [dict(zip(cols, r)) for r in self._conn.execute(f"SELECT {', '.join(cols)} FROM archive ORDER BY id")]

    @_locked
    def max_memories(self) -> int | None:
        """The memory budget set in the app (None: off)."""
        v = self._meta("max_memories")
        return int(v) if v and v.isdigit() and int(v) > 0 else None

    @_locked
    def set_max_memories(self, n: int | None) -> None:
        with self._conn:
            self._conn.execute("INSERT INTO meta (key, value) VALUES ('max_memories', ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(n or 0),))

    @_locked
    def empty_archive(self):
        """Erase the archive as forget erases a memory: the text is overwritten (secure_delete), the log's
        turns quoting it go too, and the WAL is checkpointed and truncated."""
        with self._conn:
            for (text,) in self._conn.execute("SELECT text FROM archive").fetchall():
                if isinstance(text, str) and squash(text):
                    self._conn.execute("DELETE FROM turns WHERE instr(chatmem_squash(text), ?) > 0", (squash(text),))
            cur = self._conn.execute("DELETE FROM archive")
        self._scrub()
        return cur.rowcount

    # -- the conversation log (the app shows it again on the next start) --------
    @_locked
    def log_turn(self, role: str, text: str, session: str, data: dict | None = None) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT INTO turns (created, session, role, text, data) VALUES (?, ?, ?, ?, ?)",
                (time.time(), session, role, text, json.dumps(data) if data is not None else None))

    @_locked
    def recent_turns(self, limit: int = 200) -> list[dict]:
        rows = self._conn.execute(
            "SELECT created, session, role, text, data FROM turns ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [{"created": c, "session": s, "role": r, "text": t, "data": json.loads(d) if d else None}
                for c, s, r, t, d in reversed(rows)]

    @_locked
    def close(self, snapshot: bool = True):
        """Close the file; `snapshot`: write the snapshot first if it is missing or stale."""
        try:
            if snapshot and self.snapshot_stale():
                self.save_snapshot()
        except (OSError, ChatmemError):
            pass                      # a snapshot is only a cache: the memory itself is already on disk
        try:
            self._conn.close()
        except sqlite3.Error:
            pass


def open_memory(directory: str | os.PathLike) -> SQLiteMemory:
    return SQLiteMemory(directory)


class Recovered(NamedTuple):
    aside: Path | None        # where the damaged file was kept (None: there was no file)
    salvaged: int             # memories in the new file
    skipped: int              # damaged rows left behind (still in the aside file)


def _emb_ok(blob, dim: int) -> bool:
    return isinstance(blob, bytes) and len(blob) == 4 * dim and bool(np.isfinite(np.frombuffer(blob, np.float32)).all())


def _rows_by_id(conn, table: str, cols: str, hi: int, step: int = 2000):
    """Every readable row of `table` (ids 1..hi and on while rows keep coming), asked for by id range and, where
    a range hits a damaged page, by halves down to single ids: one bad page costs only its own rows."""
    def grab(a, b):
        try:
            return conn.execute(f"SELECT {cols} FROM {table} WHERE id BETWEEN ? AND ? ORDER BY id", (a, b)).fetchall()
        except sqlite3.DatabaseError:
            if a == b:
                return []
            mid = (a + b) // 2
            return grab(a, mid) + grab(mid + 1, b)
    start, got = 1, True
    while start <= hi or got:
        rows = grab(start, start + step - 1)
        got = bool(rows)
        yield from rows
        start += step


def _top_id(conn, table: str) -> int:
    """The highest id the damaged file still knows of, from the table or its AUTOINCREMENT sequence."""
    top = 0
    for sql in (f"SELECT max(id) FROM {table}", "SELECT seq FROM sqlite_sequence WHERE name = ?"):
        try:
            row = conn.execute(sql, (table,) if "?" in sql else ()).fetchone()
            top = max(top, int(row[0])) if row and isinstance(row[0], int) else top
        except sqlite3.DatabaseError:
            pass
    return top


def _inspect_for_recover(conn, path: Path, want: dict) -> bool:
    """Refuse what recover does not understand; True if the file is healthy (integrity check passes and every
    embedding is whole and finite; a NaN makes every answer fail, yet SQLite sees nothing wrong)."""
    try:
        have = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError:
        have = None                   # damaged (or no meta): it is in our file's place, salvage what is ours
    if have and {k: have.get(k) for k in want} != want:
        raise StoreError(f"{path} holds schema {have.get('schema_version')} / encoder {have.get('encoder_name')} "
                         f"({have.get('encoder_dim')}-d), not this chatmem's; recover only rebuilds its own kind. "
                         "Nothing was changed.")
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            return False
        dim = int(want["encoder_dim"])
        return all(_emb_ok(b, dim) and valid_time(t) for b, t in conn.execute("SELECT embedding, created FROM memories"))
    except sqlite3.DatabaseError:
        return False


def recover(directory: str | os.PathLike, force: bool = False) -> Recovered:
    """Rebuild a damaged memory: salvage every readable, sound row (keeping ids, the id sequence and the
    conversation) into a new file built beside it in one transaction, keep the damaged file (timestamped)
    and swap the new one in with one rename. A healthy file is left alone unless `force`; a file of another
    schema or encoder, or a full disk, is refused with nothing changed."""
    directory = Path(directory)
    path = directory / DB_NAME
    if not path.exists():
        return Recovered(None, 0, 0)
    if _low_space(directory):
        raise _store_error(path, OSError(errno.ENOSPC, "No space left on device"))
    want = {"schema_version": str(SCHEMA_VERSION), "encoder_name": ENCODER_NAME, "encoder_dim": str(ENCODER_DIM)}
    for stale in directory.glob(f".{DB_NAME}.*.tmp"):     # left by a recover that was killed
        stale.unlink(missing_ok=True)
    tmp, fd = private_temp(path)
    os.close(fd)
    try:
        with _readonly(path) as old:
            if _inspect_for_recover(old, path, want) and not force:
                raise StoreError(f"{path} is not damaged (it opens and passes the integrity check); nothing was "
                                 "changed. `chatmem memory recover --force` rebuilds it anyway.")
            salvaged, skipped = _build_recovered(old, tmp, want)
    except sqlite3.DatabaseError as exc:
        tmp.unlink(missing_ok=True)
        if _disk_full(exc, directory):
            raise _store_error(path, exc) from None
        raise StoreError(f"{path}: could not rebuild it ({exc}); nothing was changed") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    aside = directory / f"{DB_NAME}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    # Keep the damaged file (and its WAL) under the new name first: the old name still works meanwhile.
    for suffix in ("", "-wal"):
        if os.path.exists(f"{path}{suffix}"):
            os.link(f"{path}{suffix}", f"{aside}{suffix}")
    (directory / SNAPSHOT_NAME).unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):              # the old WAL must never be replayed into the new file
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, path)
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return Recovered(aside, salvaged, skipped)


def _build_recovered(old: sqlite3.Connection, tmp: Path, want: dict) -> tuple[int, int]:
    new = sqlite3.connect(tmp, isolation_level=None)
    try:
        new.execute("PRAGMA synchronous=FULL")
        new.executescript("BEGIN IMMEDIATE;" + _SCHEMA + _TRIGGERS)
        new.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(want.items()))
        salvaged = skipped = 0
        dim = int(want["encoder_dim"])
        top = _top_id(old, "memories")
        for i, text, tokens, emb, created, session in _rows_by_id(
                old, "memories", "id, text, tokens, embedding, created, session", top):
            if not (isinstance(i, int) and isinstance(text, str) and _emb_ok(emb, dim)):
                skipped += 1          # a NaN or cut embedding: the row stays in the aside file only
                continue
            new.execute("INSERT INTO memories (id, text, tokens, embedding, created, session) VALUES (?, ?, ?, ?, ?, ?)",
                        (i, text, tokens if isinstance(tokens, str) else "", emb,
                         created if valid_time(created) else time.time(), session if isinstance(session, str) else "recovered"))
            salvaged += 1
        turns_top = _top_id(old, "turns")
        for row in _rows_by_id(old, "turns", "id, created, session, role, text, data", turns_top):
            if isinstance(row[0], int) and all(isinstance(v, str) for v in row[2:5]):
                new.execute("INSERT INTO turns (id, created, session, role, text, data) VALUES (?, ?, ?, ?, ?, ?)",
                            (*row[:1], row[1] if valid_time(row[1]) else time.time(), *row[2:]))
        for table, seq in (("memories", top), ("turns", turns_top)):    # ids are never reused
            new.execute("INSERT OR IGNORE INTO sqlite_sequence (name, seq) VALUES (?, 0)", (table,))
            new.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (seq, table))
        new.execute("COMMIT")
    finally:
        new.close()
    return salvaged, skipped


def read_export(path: str | os.PathLike) -> list[dict]:
    """Parse an export file: an optional header line, then {"text", "created", "session"} objects."""
    path = Path(path)
    lines = read_lines(path, 64 * 1024)      # a 2,000-character memory, escaped, fits many times over
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ChatmemError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        if isinstance(obj, dict) and obj.get("format") == EXPORT_FORMAT:
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise ChatmemError(f"{path}:{n}: expected an object with a \"text\" field")
        if obj.get("created") is not None and not valid_time(parse_created(obj["created"])):
            raise ChatmemError(f"{path}:{n}: \"created\" must be a time between 1970 and 9999, "
                               f"got {str(obj['created'])[:40]!r}; nothing was imported")
        out.append(obj)
    return out


def already_stored(memory: MemoryBase, records: Sequence[dict]) -> list[bool]:
    """For an import: whether each export record is a memory already present (the same text, written at the same
    time to the millisecond; a repeat within the file counts too), so a second import of one export adds nothing."""
    have = {(m.text, round(m.created, 3)) for m in memory.all()}
    out = []
    for r in records:
        t = parse_created(r.get("created"))
        key = (squash(r["text"]), None if t is None else round(t, 3))
        out.append(t is not None and key in have)
        have.add(key)
    return out


def parse_created(value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return _dt.datetime.fromisoformat(value).timestamp()
        except (ValueError, OverflowError, OSError):
            return None
    return None
