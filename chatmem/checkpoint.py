"""Saving and loading the trained model: safetensors weights, JSON config and vocabulary.

Every file is written atomically (temporary file, then rename). config.json records the
SHA-256 of the other files and of itself, and loading refuses a file whose checksum does not match.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from chatmem import ChatmemError
from chatmem.util import atomic_write_bytes, atomic_write_text

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
VOCAB = "vocab.json"


class AssetError(ChatmemError):
    pass


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# Parts trained after O and R, kept in the same weights file under their own prefix: (config key, module class).
PARTS = {"relevance": ("chatmem.relevance", "Relevance", "RelevanceConfig"),
         "span": ("chatmem.span", "SpanR", "SpanConfig"),
         "act": ("chatmem.dialogue_act", "ActClassifier", "ActConfig"),     # facts vs chit-chat (issue 16)
         "update": ("chatmem.update", "UpdateScorer", "UpdateConfig"),     # G's update links (issue 15)
         "budget": ("chatmem.budget", "SlotScorer", "BudgetConfig"),       # H's slot choice (issue 15)
         "hop2": ("chatmem.hop2", "SecondHop", "Hop2Config")}             # O's second hop in conversations
# Parts that read only MiniLM embeddings and words, not O's vocabulary: a save that does not pass them keeps
# the ones already in the directory, so re-running an earlier stage does not drop them.
CARRIED = ("act", "update", "budget", "hop2")


@dataclass
class Loaded:
    model: object       # MemNN
    vocab: object       # Vocab
    config: dict
    relevance: object = None   # chatmem.relevance.Relevance: O's first-hop relevance term, or None
    span: object = None        # chatmem.span.SpanR: R's span answers, or None
    span_vocab: object = None  # chatmem.span.SpanVocab
    act: object = None         # chatmem.dialogue_act.ActClassifier: fact, question, request, chit-chat, or None
    update: object = None      # chatmem.update.UpdateScorer: G's update links, or None
    budget: object = None      # chatmem.budget.SlotScorer: H, or None
    hop2: object = None        # chatmem.hop2.SecondHop: O's second hop where s_O does not know the words, or None


def _carried(directory: Path, names) -> tuple[dict, dict]:
    """The weights and configs of parts `names` already saved in `directory` (nothing if unreadable)."""
    try:
        from safetensors.torch import load_file

        cfg = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
        names = [n for n in names if isinstance(cfg.get(n), dict)]
        if not names:
            return {}, {}
        state = load_file(str(directory / WEIGHTS))
        # a part's config and the record of its training (the model card reads it) travel together
        records = {f"{n}_train": cfg[f"{n}_train"] for n in names if f"{n}_train" in cfg}
        return ({k: v for k, v in state.items() if k.split(".", 1)[0] in names}, {n: cfg[n] for n in names} | records)
    except (OSError, ValueError, KeyError):
        return {}, {}


def save(directory: Path, model, vocab, extra: dict, relevance=None, span=None, span_vocab=None,
         act=None, update=None, budget=None, hop2=None, drop: tuple[str, ...] = ()) -> None:
    """Write the weights (one safetensors file), the vocabularies and config.json with their checksums. Parts of
    CARRIED not given are carried over from `directory`, except those in `drop`; the relevance term and the span
    model (with its vocabulary) are written only when given: they read O's vocabulary and outputs, so a save
    without them (a retrained O) leaves none."""
    from safetensors.torch import save as st_save

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    extra = {k: v for k, v in extra.items() if k not in ("model", "sha256", *PARTS)}
    given = {"relevance": relevance, "span": span, "act": act, "update": update, "budget": budget, "hop2": hop2}
    kept_state, kept_cfg = _carried(directory, [n for n in CARRIED if given[n] is None and n not in drop])
    state.update(kept_state)
    extra.update(kept_cfg)
    for name, part in given.items():
        if part is not None:
            state.update({f"{name}.{k}": v.detach().contiguous() for k, v in part.state_dict().items()})
            extra[name] = part.cfg.to_json()
    atomic_write_bytes(directory / WEIGHTS, st_save(state))
    words = vocab.to_json() | ({"span_words": span_vocab.words} if span_vocab is not None else {})
    atomic_write_text(directory / VOCAB, json.dumps(words))
    cfg = {"model": model.cfg.to_json(), **extra,
           "sha256": {WEIGHTS: sha256(directory / WEIGHTS), VOCAB: sha256(directory / VOCAB)}}
    cfg[SELF_SUM] = _self_sum(cfg)
    atomic_write_text(directory / CONFIG, json.dumps(cfg, indent=2))


SELF_SUM = "config_sha256"


def _self_sum(cfg: dict) -> str:
    """config.json's own checksum: of its content without this key, in a canonical form."""
    body = {k: v for k, v in cfg.items() if k != SELF_SUM}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def _check_config(cfg) -> None:
    """Types first, so a hand-edited or damaged config.json is one clear error, not a traceback later."""
    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if not isinstance(cfg, dict):
        raise TypeError("not a JSON object")
    if not (isinstance(cfg.get("sha256"), dict) and all(isinstance(cfg["sha256"].get(k), str) for k in (WEIGHTS, VOCAB))):
        raise TypeError("sha256 must map the model files to their checksums")
    if not (isinstance(cfg.get("model"), dict) and all(number(v) and v >= 0 for v in cfg["model"].values())):
        raise TypeError("model must hold non-negative numbers")
    if "confidence_threshold" in cfg and not number(cfg["confidence_threshold"]):
        raise TypeError("confidence_threshold must be a number")
    if SELF_SUM in cfg and cfg[SELF_SUM] != _self_sum(cfg):      # older configs have none
        raise ValueError("it does not match its own checksum: it was changed or damaged")


def _fit(module, state: dict, name: str, directory: Path) -> None:
    """Load `state` into `module`; weights of another shape are a model made by another version of chatmem."""
    try:
        module.load_state_dict(state)
    except RuntimeError:
        raise AssetError(f"model files in {directory} were made by another version of chatmem (its {name} weights "
                         f"do not fit this one); use the model this version ships or train one with `chatmem train`") from None


def load(directory: Path, without: tuple[str, ...] = ()) -> Loaded:
    """Load and verify the model in `directory`; any problem is an AssetError naming the file. Parts named in
    `without` are not loaded (a training stage that replaces them, perhaps with another shape)."""
    import importlib

    from chatmem.features import Vocab
    from chatmem.model import MemNN, ModelConfig

    directory = Path(directory)
    cfg_path = directory / CONFIG
    for name in (CONFIG, WEIGHTS, VOCAB):
        if not (directory / name).is_file():
            raise AssetError(f"model file {directory / name} is missing; train one with `chatmem train` "
                             f"or point CHATMEM_ASSETS at a trained model")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        _check_config(cfg)
        sums = cfg["sha256"]
        mcfg = ModelConfig(**cfg["model"])
        part_cfgs = {}
        for name, (mod, _, conf) in PARTS.items():
            if name in cfg and name not in without:
                part_cfgs[name] = getattr(importlib.import_module(mod), conf)(**cfg[name])
    except (ValueError, KeyError, TypeError) as exc:
        raise AssetError(f"model file {cfg_path} is damaged ({exc.__class__.__name__}: {exc})") from None
    for name in (WEIGHTS, VOCAB):
        if sha256(directory / name) != sums.get(name):
            raise AssetError(f"model file {directory / name} does not match its checksum in {cfg_path}: "
                             f"it was changed or damaged; refusing to load it")
    try:
        from safetensors.torch import load_file

        words = json.loads((directory / VOCAB).read_text(encoding="utf-8"))
        vocab = Vocab.from_json(words)
        state = load_file(str(directory / WEIGHTS))
        model = MemNN(mcfg)
        _fit(model, {k: v for k, v in state.items() if k.split(".", 1)[0] not in PARTS}, "s_O and s_R", directory)
        parts = {}
        for name, pc in part_cfgs.items():
            mod, cls, _ = PARTS[name]
            part = getattr(importlib.import_module(mod), cls)(pc)
            _fit(part, {k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")}, name, directory)
            parts[name] = part.eval()
        span_vocab = None
        if "span_words" in words:
            from chatmem.span import SpanVocab

            span_vocab = SpanVocab(words["span_words"])
    except AssetError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file can fail in many ways
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise AssetError(f"model files in {directory} could not be loaded ({exc.__class__.__name__}: {first})") from None
    model.eval()
    return Loaded(model, vocab, cfg, parts.get("relevance"), parts.get("span"), span_vocab, parts.get("act"),
                  parts.get("update"), parts.get("budget"), parts.get("hop2"))
