"""G: generalization, the memory and its writes.

G is the paper's basic model: `S(x)` returns the next empty slot and
`m_N = I(x); N = N + 1`. Slots are never rewritten; forgetting deletes a slot
and its id is never reused. Two stores share one interface: `SQLiteMemory`
(the user's durable memory) and `EphemeralMemory` (for stories that must start
empty). Both keep every embedding in one in-RAM float32 matrix for scoring.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import sqlite3
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from chatmem import ChatmemError
from chatmem.input import ENCODER_DIM, ENCODER_NAME, Utterance
from chatmem.paths import ensure_private_dir

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
    def created_iso(self) -> str:
        return _dt.datetime.fromtimestamp(self.created).astimezone().isoformat(timespec="seconds")

    def to_json(self) -> dict:
        # Microseconds, so an export -> import round trip keeps the write time.
        created = _dt.datetime.fromtimestamp(self.created).astimezone().isoformat(timespec="microseconds")
        return {"id": self.id, "text": self.text, "created": created, "session": self.session}


def new_session_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def _locked(fn):
    """One thread at a time per store (the app's UI thread and its worker share one), and a SQLite failure
    becomes a one-line StoreError instead of a traceback."""
    @functools.wraps(fn)
    def inner(self, *args, **kwargs):
        with self.lock:
            try:
                return fn(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise StoreError(f"{getattr(self, 'path', None) or 'memory'}: {exc}") from None
    return inner


class MemoryBase:
    """In-RAM view shared by both stores: parallel lists plus an (N, dim) matrix."""

    encoder_name = ENCODER_NAME
    dim = ENCODER_DIM

    def __init__(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.texts: list[str] = []
        self.tokens: list[tuple[str, ...]] = []
        self.created: list[float] = []
        self.sessions: list[str] = []
        self._emb = np.zeros((0, self.dim), dtype=np.float32)
        self._n = 0
        self.version = 0  # bumped on every change, so caches built on the memory know to refresh
        self.lock = threading.RLock()

    # -- reading -------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def embeddings(self) -> np.ndarray:
        return self._emb[: self._n]

    def memory_at(self, index: int) -> Memory:
        return Memory(int(self.ids[index]), self.texts[index], self.tokens[index], self.created[index], self.sessions[index])

    def index_of(self, memory_id: int) -> int | None:
        i = int(np.searchsorted(self.ids, memory_id))
        return i if i < self._n and self.ids[i] == memory_id else None

    def get(self, memory_id: int) -> Memory | None:
        i = self.index_of(memory_id)
        return None if i is None else self.memory_at(i)

    def all(self) -> list[Memory]:
        return [self.memory_at(i) for i in range(self._n)]

    # -- in-RAM bookkeeping ----------------------------------------------------
    def _append_rows(self, ids, texts, tokens, created, sessions, emb: np.ndarray) -> None:
        k = len(ids)
        if k == 0:
            return
        need = self._n + k
        if need > self._emb.shape[0]:
            cap = max(need, int(self._emb.shape[0] * 1.5) + 64)
            grown = np.empty((cap, self.dim), dtype=np.float32)   # rows past _n are never read
            grown[: self._n] = self._emb[: self._n]
            self._emb = grown
        self._emb[self._n : need] = emb
        self.ids = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)])
        self.texts.extend(texts)
        self.tokens.extend(tokens)
        self.created.extend(created)
        self.sessions.extend(sessions)
        self._n = need
        self.version += 1

    def _drop_index(self, i: int) -> None:
        self.ids = np.delete(self.ids, i)
        for lst in (self.texts, self.tokens, self.created, self.sessions):
            del lst[i]
        self._emb[i : self._n - 1] = self._emb[i + 1 : self._n]
        self._n -= 1
        self.version += 1

    def _reset(self) -> None:
        MemoryBase.__init__(self)

    @staticmethod
    def _check(utts: Sequence[Utterance], dim: int) -> np.ndarray:
        if any(u.embedding is None for u in utts):
            raise ValueError("utterances must be encoded before they are written")
        emb = np.stack([np.asarray(u.embedding, dtype=np.float32) for u in utts])
        if emb.shape[1] != dim:
            raise StoreError(f"embedding dimension {emb.shape[1]} does not match the memory's {dim}")
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

    # -- export ------------------------------------------------------------
    def export_jsonl(self, path: str | os.PathLike) -> int:
        """Write a header line saying what the file holds, then one memory per line."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        try:
            self._export_to(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return len(self)

    @_locked
    def _export_to(self, tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            header = {
                "format": EXPORT_FORMAT, "version": 1, "count": len(self),
                "contains": "chatmem memories: the text of each statement you told chatmem, "
                            "its write time and session. Private: it is your conversation.",
            }
            f.write(json.dumps(header, ensure_ascii=False) + "\n")
            for m in self.all():
                f.write(json.dumps(m.to_json(), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)


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
        emb = self._check(utts, self.dim)
        ids = list(range(self._next_id, self._next_id + len(utts)))
        self._next_id += len(utts)
        now = time.time()
        ts = list(created) if created is not None else [now] * len(utts)
        self._append_rows(ids, [u.text for u in utts], [u.tokens for u in utts], ts, [session] * len(utts), emb)
        return [self.memory_at(self._n - len(utts) + k) for k in range(len(utts))]

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


class SQLiteMemory(MemoryBase):
    """The user's memory: SQLite in WAL mode, one committed transaction per write."""

    def __init__(self, directory: str | os.PathLike, encoder_name: str = ENCODER_NAME, dim: int = ENCODER_DIM):
        self.encoder_name = encoder_name
        self.dim = dim
        super().__init__()
        self.directory = ensure_private_dir(Path(directory))
        self.path = self.directory / DB_NAME
        self._data_version = None
        self._conn = self._connect()
        self._load()

    # -- opening -----------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        fresh = not self.path.exists()
        if fresh:
            # Create the file 0600 ourselves: SQLite gives the -wal and -shm files the same mode.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(self.path, 0o600)
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            self._check_meta(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} is not a usable chatmem memory ({exc}); it was left untouched. "
                f"Run `chatmem memory recover` to move it aside and salvage what can be read."
            ) from None
        if mode.lower() != "wal":
            raise StoreError(f"{self.path}: could not switch SQLite to WAL mode (got {mode!r})")
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                os.chmod(side, 0o600)
        return conn

    def _check_meta(self, conn: sqlite3.Connection) -> None:
        want = {"schema_version": str(SCHEMA_VERSION), "encoder_name": self.encoder_name, "encoder_dim": str(self.dim)}
        have = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if not have:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                have = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                if not have:
                    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(want.items()))
                    have = want
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

    def _rows_to_ram(self, rows) -> None:
        if not rows:
            return
        ids, texts, toks, blobs, created, sessions = zip(*rows)
        emb = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(rows), self.dim)
        intern = sys.intern     # words and sessions repeat: one string object each, not one per memory
        self._append_rows(ids, list(texts), [tuple(map(intern, t.split(" "))) if t else () for t in toks],
                          list(created), [intern(x) for x in sessions], emb)

    def _load(self) -> None:
        """Read every row into RAM in chunks, straight into a matrix sized once: a million memories open
        in seconds without holding the rows and the matrix twice."""
        try:
            # Ids only grow, so max - min + 1 bounds the row count without reading the table. Room for a
            # quarter more is reserved so that new writes do not copy the matrix; np.empty, not np.zeros:
            # pages never filled are never touched (no RAM), and filling fresh zeroed pages is 10x slower.
            lo, hi = self._conn.execute("SELECT MIN(id), MAX(id) FROM memories").fetchone()
            rows = hi - lo + 1 if hi is not None else 0
            self._emb = np.empty((rows + rows // 4 + 64, self.dim), dtype=np.float32)
            cur = self._conn.execute("SELECT id, text, tokens, embedding, created, session FROM memories ORDER BY id")
            while True:
                rows = cur.fetchmany(50_000)
                if not rows:
                    break
                bad = [r[0] for r in rows if len(r[3]) != 4 * self.dim]
                if bad:
                    raise StoreError(f"{self.path}: memory {bad[0]} has a damaged embedding; "
                                     f"run `chatmem memory recover`.")
                self._rows_to_ram(rows)
            self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self._reset()
            raise StoreError(f"{self.path} could not be read ({exc}); run `chatmem memory recover`.") from None

    # -- writing -------------------------------------------------------------
    @_locked
    def write(self, utts, session, created=None):
        if not utts:
            return []
        emb = self._check(utts, self.dim)
        ids = []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                # The clock is read under the write lock, so wall-clock times follow id order across processes.
                now = time.time()
                ts = list(created) if created is not None else [now] * len(utts)
                rows = [(u.text, " ".join(u.tokens), emb[k].tobytes(), ts[k], session) for k, u in enumerate(utts)]
                for r in rows:
                    cur = self._conn.execute(
                        "INSERT INTO memories (text, tokens, embedding, created, session) VALUES (?, ?, ?, ?, ?)", r)
                    ids.append(cur.lastrowid)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise StoreError(f"could not write to {self.path}: {exc}") from None
        # Another process may have written in between: take its rows first, keeping id order.
        self.refresh()
        return [self.get(i) for i in ids]

    @_locked
    def forget(self, memory_id):
        with self._conn:
            cur = self._conn.execute("DELETE FROM memories WHERE id = ?", (int(memory_id),))
        i = self.index_of(memory_id)
        if i is not None:
            self._drop_index(i)
        return cur.rowcount > 0 or i is not None

    @_locked
    def clear(self):
        with self._conn:
            cur = self._conn.execute("DELETE FROM memories")
        n = max(cur.rowcount, len(self))
        self._reset()
        return n

    @_locked
    def refresh(self):
        """Load rows other processes wrote, and drop rows they forgot."""
        last = int(self.ids[-1]) if self._n else 0
        rows = self._conn.execute(
            "SELECT id, text, tokens, embedding, created, session FROM memories WHERE id > ? ORDER BY id", (last,)
        ).fetchall()
        changed = bool(rows)
        # Counting the rows reads the whole table (slow at a million memories): only another connection's
        # commit can have deleted any, and SQLite's data_version says whether one happened.
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        others, self._data_version = version != self._data_version, version
        count = self._conn.execute("SELECT COUNT(*) FROM memories WHERE id <= ?", (last,)).fetchone()[0] \
            if others else self._n
        if count != self._n:
            present = {r[0] for r in self._conn.execute("SELECT id FROM memories WHERE id <= ?", (last,))}
            for i in reversed(range(self._n)):
                if int(self.ids[i]) not in present:
                    self._drop_index(i)
            changed = True
        self._rows_to_ram(rows)
        return changed

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
    def close(self):
        try:
            self._conn.close()
        except sqlite3.Error:
            pass


def open_memory(directory: str | os.PathLike) -> SQLiteMemory:
    return SQLiteMemory(directory)


def _healthy(directory: Path) -> bool:
    try:
        m = SQLiteMemory(directory)
    except ChatmemError:
        return False
    try:
        return m._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    except sqlite3.Error:
        return False
    finally:
        m.close()


def recover(directory: str | os.PathLike, force: bool = False) -> tuple[Path | None, int]:
    """Move a damaged memory file aside (timestamped) and salvage its readable rows, with their ids and the
    conversation log, into a fresh one. A healthy file is left alone unless `force`."""
    directory = Path(directory)
    path = directory / DB_NAME
    if not path.exists():
        return None, 0
    if not force and _healthy(directory):
        raise StoreError(f"{path} is not damaged (it opens and passes the integrity check); nothing was changed. "
                         "`chatmem memory recover --force` rebuilds it anyway.")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = directory / f"{DB_NAME}.damaged-{stamp}"
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        side = Path(str(path) + suffix)
        if side.exists():
            os.replace(side, Path(str(aside) + suffix))
    salvaged, turns, seq = [], [], []
    try:
        conn = sqlite3.connect(f"file:{aside}?mode=ro", uri=True)
        for sql, out in (("SELECT id, text, tokens, embedding, created, session FROM memories ORDER BY id", salvaged),
                         ("SELECT created, session, role, text, data FROM turns ORDER BY id", turns),
                         ("SELECT seq FROM sqlite_sequence WHERE name = 'memories'", seq)):
            try:
                for row in conn.execute(sql):
                    out.append(row)
            except sqlite3.DatabaseError:
                pass
        conn.close()
    except sqlite3.DatabaseError:
        pass
    fresh = SQLiteMemory(directory)
    good = [r for r in salvaged if isinstance(r[0], int) and isinstance(r[3], bytes) and len(r[3]) == 4 * fresh.dim
            and isinstance(r[1], str)]
    with fresh._conn:        # ids are kept: a forgotten id must never come back as another memory
        fresh._conn.executemany(
            "INSERT INTO memories (id, text, tokens, embedding, created, session) VALUES (?, ?, ?, ?, ?, ?)",
            [(r[0], r[1], r[2] or "", r[3], float(r[4] or time.time()), str(r[5] or "recovered")) for r in good])
        fresh._conn.executemany("INSERT INTO turns (created, session, role, text, data) VALUES (?, ?, ?, ?, ?)", turns)
        top = max([r[0] for r in good] + [int(r[0]) for r in seq if isinstance(r[0], int)] + [0])
        fresh._conn.execute("INSERT OR IGNORE INTO sqlite_sequence (name, seq) VALUES ('memories', 0)")
        fresh._conn.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'memories'", (top,))
    fresh.close()
    return aside, len(good)


def read_export(path: str | os.PathLike) -> list[dict]:
    """Parse an export file: an optional header line, then {"text", "created", "session"} objects."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ChatmemError(f"cannot read {path}: {exc.strerror}") from None
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise ChatmemError(f"{path} is not a UTF-8 text file") from None
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
        out.append(obj)
    return out


def parse_created(value) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return _dt.datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None
