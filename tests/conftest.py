import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

ROOT = Path(__file__).resolve().parent.parent


class HashEncoder:
    """A small deterministic stand-in for MiniLM: a normalised bag of hashed words."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                h = int(hashlib.md5(w.strip(".?!,").encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0
            n = np.linalg.norm(out[i])
            if n:
                out[i] /= n
        return out


@pytest.fixture
def hash_encoder():
    return HashEncoder()


@pytest.fixture(scope="session")
def real_encoder():
    from chatmem.input import MiniLMEncoder

    return MiniLMEncoder().load()


def babi_dir():
    from chatmem.paths import default_babi_dir

    d = default_babi_dir()
    return d if d is not None and d.is_dir() else None


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "home"
    monkeypatch.setenv("CHATMEM_HOME", str(d))
    return d


def run_cli(*args, env=None, input=None, timeout=300):
    import subprocess

    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "chatmem", *args], capture_output=True, text=True, env=e,
                          input=input, timeout=timeout, cwd=ROOT)
