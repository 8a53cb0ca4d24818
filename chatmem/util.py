"""Small helpers shared by training, evaluation and the app: progress bars, the MiniLM cache, atomic writes."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def progress_bar(total: int, desc: str, unit: str = "it"):
    """tqdm on a terminal, nothing otherwise."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not sys.stderr.isatty(), leave=False, dynamic_ncols=True)


def minilm_cached(texts: Sequence[str], encoder=None, cache: Path | None = None) -> np.ndarray:
    """MiniLM embeddings of many sentences, cached on disk as .npy (no pickle), private like the data dir:
    the directory 0700, each file 0600 (embeddings reveal the text they encode)."""
    from chatmem.paths import cache_dir, ensure_private_dir, private_temp

    name = type(encoder).__name__ if encoder is not None else "MiniLMEncoder"
    key = hashlib.sha256((name + "\n" + "\n".join(texts)).encode()).hexdigest()[:20]
    cache = cache or cache_dir()
    path = cache / f"minilm-{key}.npy"
    if path.is_file():
        try:
            if os.stat(path).st_mode & 0o077:
                os.chmod(path, 0o600)       # written by an older chatmem, readable by others
            arr = np.load(path, allow_pickle=False)
            if arr.shape == (len(texts), 384):
                return arr
        except (OSError, ValueError):
            pass
    if encoder is None:
        from chatmem.input import MiniLMEncoder

        encoder = MiniLMEncoder()
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    bar = progress_bar(len(texts), "encoding sentences", "sent")
    for i in range(0, len(texts), 1024):
        out[i: i + 1024] = encoder.encode(texts[i: i + 1024])
        bar.update(len(texts[i: i + 1024]))
    bar.close()
    ensure_private_dir(cache)
    tmp, fd = private_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, out, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
