"""Small helpers shared by training, evaluation and the app: progress bars, the MiniLM cache, atomic writes,
the training loop of the small scorers."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


def count(n: int, one: str, many: str | None = None) -> str:
    """"1 memory", "2 memories", "1,204 questions"."""
    return f"{n:,} {one if n == 1 else many or one + 's'}"


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


class TokenVectorCache:
    """An encoder's token vectors (chatmem.span.TokenVectors) of every text asked for, kept so the same memory read
    for several questions is encoded once (`dtype` float16 halves what training keeps of thousands of them);
    `fill` encodes many texts in big batches first, with a progress bar."""

    def __init__(self, encoder, dtype=np.float32):
        self.encoder = encoder
        self.dtype = dtype
        self.seen: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def fill(self, texts: Sequence[str], chunk: int = 2048) -> None:
        todo = list(dict.fromkeys(t for t in texts if t not in self.seen))
        bar = progress_bar(len(todo), "encoding words in context", "text") if len(todo) > chunk else None
        for i in range(0, len(todo), chunk):
            part = todo[i: i + chunk]
            for t, (at, v) in zip(part, self.encoder.token_vectors(part)):
                self.seen[t] = (at, v.astype(self.dtype, copy=False))
            if bar:
                bar.update(len(part))
        if bar:
            bar.close()

    def __call__(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        self.fill(texts)
        return [self.seen[t] for t in texts]


def fit_by_size(module, examples: Sequence, sizes: Sequence[int], loss_of: Callable, epochs: int, batch: int, lr: float,
                weight_decay: float, rng: np.random.Generator, what: str, log=print,
                progress: Callable[[int], None] | None = None):
    """AdamW over batches of examples of similar size (little padding), the batches in random order; logs
    each epoch's mean loss. `loss_of(list of examples)` gives a batch's loss."""
    import torch

    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    sizes = np.asarray(sizes)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        module.train()
        order = np.argsort(sizes + rng.random(len(sizes)) * 8, kind="stable")
        batches = [order[i: i + batch] for i in range(0, len(order), batch)]
        rng.shuffle(batches)
        total = 0.0
        for b in batches:
            loss = loss_of([examples[i] for i in b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        if progress:
            progress(1)
        log(f"{what} epoch {epoch + 1}/{epochs}: loss {total / max(len(examples), 1):.4f} "
            f"({time.perf_counter() - t0:.0f} s)")
    module.eval()
    return module
