"""Where chatmem keeps its files: the data directory and the shipped model assets."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from chatmem import ChatmemError

APP_NAME = "chatmem"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """`--data-dir` wins, then CHATMEM_HOME, then platformdirs' user data directory."""
    if override is not None:
        if not str(override).strip():       # an empty --data-dir is a mistake, not "the default store"
            raise ChatmemError("--data-dir is empty: name a directory")
        return Path(override).expanduser()
    env = os.environ.get("CHATMEM_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def cache_dir(data_override: str | os.PathLike | None = None) -> Path:
    """Where sentence embeddings are cached (they hold the text of replayed files): CHATMEM_CACHE, else
    `cache/` inside a data dir the user chose (--data-dir or CHATMEM_HOME), else the user cache dir."""
    env = os.environ.get("CHATMEM_CACHE")
    if env:
        return Path(env).expanduser()
    if data_override or os.environ.get("CHATMEM_HOME"):
        return data_dir(data_override) / "cache"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME, appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents), readable by its owner only. A directory that already exists is used as it
    is: it may not be ours (a shared 1777 directory, /tmp), so its mode is never changed; the files we create
    in it are 0600."""
    try:
        path.mkdir(parents=True, mode=0o700)
    except FileExistsError:
        if path.is_dir():
            return path
        raise
    os.chmod(path, 0o700)         # ours: the umask may have narrowed the mode, never widened it
    return path


def create_private(path: Path) -> int:
    """Create a new file, 0600, open for writing: never an existing file or a link someone planted."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)


def private_temp(path: Path) -> tuple[Path, int]:
    """A new temporary file beside `path`, with a random name nobody can plant ahead: write it, then rename it
    over `path` (the caller unlinks it on failure)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    return tmp, create_private(tmp)


def assets_dir() -> Path:
    """The trained model. CHATMEM_ASSETS overrides the repository's `assets/`."""
    env = os.environ.get("CHATMEM_ASSETS")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "assets"


def default_babi_dir() -> Path | None:
    """CHATMEM_BABI_DIR, else ../shared/babi/tasks_1-20_v1-2/en beside the repository."""
    env = os.environ.get("CHATMEM_BABI_DIR")
    if env:
        return Path(env).expanduser()
    guess = Path(__file__).resolve().parent.parent.parent / "shared" / "babi" / "tasks_1-20_v1-2" / "en"
    return guess if guess.is_dir() else None


def default_locomo_file() -> Path | None:
    """CHATMEM_LOCOMO, else ../shared/locomo/locomo_dev.json beside the repository, if it is there."""
    env = os.environ.get("CHATMEM_LOCOMO")
    if env:
        return Path(env).expanduser()
    guess = Path(__file__).resolve().parent.parent.parent / "shared" / "locomo" / "locomo_dev.json"
    return guess if guess.is_file() else None
