"""LoCoMo (Maharana et al., ACL 2024, arXiv:2402.17753): the reader and the authors' scoring.

The file is the authors' `locomo10.json` layout: a list of samples, each with a `conversation` (two
speakers, sessions `session_N` with a `session_N_date_time`) and `qa` (question, answer, evidence dialog
ids, category). Nothing here loads a model; `chatmem.locomo_eval` runs chatmem and the baselines.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from chatmem import ChatmemError

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
ANSWERED = (1, 2, 3, 4)          # categories scored by answer F1; 5 is scored by declining
MAX_FILE_BYTES = 200_000_000


class LocomoFormatError(ChatmemError):
    """A file that is not in the LoCoMo layout."""


@dataclass(frozen=True)
class Turn:
    dia_id: str                  # "D<session>:<turn>"
    speaker: str
    text: str
    created: float               # the session's date and time (UNIX seconds, UTC)
    session: int
    caption: str = ""            # BLIP caption of a shared photo

    @property
    def memory_text(self) -> str:
        """What chatmem stores: "Speaker: text", with a shared photo's caption."""
        photo = f" [shares a photo of {self.caption.strip().rstrip('.')}]" if self.caption.strip() else ""
        return f"{self.speaker}: {self.text.strip()}{photo}"


@dataclass(frozen=True)
class Question:
    question: str
    answer: str | None           # None for category 5 (adversarial): nothing in the conversation answers it
    evidence: tuple[str, ...]    # dialog ids of the supporting turns (only ids present in the conversation)
    category: int


@dataclass
class Conversation:
    sample_id: str
    speakers: tuple[str, str]
    turns: list[Turn]
    questions: list[Question]
    dropped_evidence: list[str] = field(default_factory=list)   # evidence ids naming no turn


_TIME_FORMATS = ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y", "%I:%M%p on %d %B, %Y")


def parse_session_time(text: str) -> float:
    """"1:56 pm on 8 May, 2023" -> UNIX seconds (read as UTC, so results do not depend on the machine)."""
    t = " ".join(str(text).split())
    for fmt in _TIME_FORMATS:
        try:
            return _dt.datetime.strptime(t, fmt).replace(tzinfo=_dt.timezone.utc).timestamp()
        except ValueError:
            continue
    raise LocomoFormatError(f"unreadable session date {text!r} (expected like '1:56 pm on 8 May, 2023')")


def _evidence_ids(raw) -> list[str]:
    """The authors' evidence lists hold a few odd entries ('D8:6; D9:17', 'D:11:26'): split and mend them."""
    out = []
    for item in raw if isinstance(raw, list) else [raw]:
        for part in re.split(r"[;,\s]+", str(item)):
            m = re.fullmatch(r"D:?(\d+):(\d+)", part.strip())
            if m:
                out.append(f"D{int(m.group(1))}:{int(m.group(2))}")
    return out


def _conversation(sample: dict) -> Conversation:
    if not isinstance(sample, dict) or not isinstance(sample.get("conversation"), dict):
        raise LocomoFormatError("each sample needs a 'conversation' object")
    conv = sample["conversation"]
    sid = str(sample.get("sample_id", "?"))
    speakers = (str(conv.get("speaker_a", "")), str(conv.get("speaker_b", "")))
    sessions = sorted(int(m.group(1)) for k in conv if (m := re.fullmatch(r"session_(\d+)", k)))
    turns: list[Turn] = []
    for s in sessions:
        rows = conv[f"session_{s}"]
        if not isinstance(rows, list):
            raise LocomoFormatError(f"{sid}: session_{s} is not a list of turns")
        when = parse_session_time(conv.get(f"session_{s}_date_time", ""))
        for r in rows:
            if not isinstance(r, dict) or not all(isinstance(r.get(k), str) for k in ("speaker", "dia_id", "text")):
                raise LocomoFormatError(f"{sid}: session_{s} has a turn without speaker, dia_id and text")
            turns.append(Turn(r["dia_id"], r["speaker"], r["text"], when, s, str(r.get("blip_caption") or "")))
    known = {t.dia_id for t in turns}
    questions, dropped = [], []
    for q in sample.get("qa", []):
        if not isinstance(q, dict) or "question" not in q:
            raise LocomoFormatError(f"{sid}: a qa entry has no question")
        cat = int(q.get("category", 0))
        ev = _evidence_ids(q.get("evidence", []))
        dropped += [e for e in ev if e not in known]
        ans = q.get("answer")
        questions.append(Question(str(q["question"]), None if cat == 5 or ans is None else str(ans),
                                  tuple(dict.fromkeys(e for e in ev if e in known)), cat))
    return Conversation(sid, speakers, turns, questions, dropped)


def load(path: str | Path) -> list[Conversation]:
    """Read a file in the authors' layout, with a one-line error for anything else."""
    p = Path(path)
    if not p.is_file():
        raise LocomoFormatError(f"{p}: no such file")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise LocomoFormatError(f"{p}: larger than {MAX_FILE_BYTES // 1_000_000} MB; not a LoCoMo file")
    try:
        data = json.loads(p.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LocomoFormatError(f"{p}: not a JSON file in the LoCoMo layout ({exc.__class__.__name__})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise LocomoFormatError(f"{p}: expected a list of LoCoMo samples")
    return [_conversation(s) for s in data]


# -- the authors' scoring (task_eval/evaluation.py) ------------------------------------------------

_PUNCT = set(string.punctuation)


@functools.lru_cache(maxsize=None)
def _porter():
    from nltk.stem import PorterStemmer     # the authors' stemmer

    return PorterStemmer()


@functools.lru_cache(maxsize=100_000)
def _stem(w: str) -> str:
    return _porter().stem(w)


def normalize_answer(s) -> str:
    """Lower case, commas and punctuation removed, a/an/the/and removed, whitespace collapsed."""
    s = str(s).replace(",", "").lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = re.sub(r"\b(a|an|the|and)\b", " ", s)
    return " ".join(s.split())


def answer_tokens(s) -> list[str]:
    return [_stem(w) for w in normalize_answer(s).split()]


def f1_tokens(pred: list[str], gold: list[str]) -> float:
    common = Counter(pred) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    p, r = same / len(pred), same / len(gold)
    return 2 * p * r / (p + r)


def f1_score(prediction, gold) -> float:
    """Porter-stemmed token F1 after normalisation."""
    return f1_tokens(answer_tokens(prediction), answer_tokens(gold))


def f1_multi(prediction, gold) -> float:
    """Category 1: each comma-separated gold part takes its best F1 against the prediction's parts; mean."""
    preds = [p.strip() for p in str(prediction).split(",")]
    golds = [g.strip() for g in str(gold).split(",")]
    return sum(max(f1_score(p, g) for p in preds) for g in golds) / len(golds)


def score_answer(q: Question, prediction: str, declined: bool) -> float:
    """The authors' rule for each category; a declined answer scores 0 except in category 5."""
    if q.category == 5:
        return 1.0 if declined else 0.0
    if declined or q.answer is None:
        return 0.0
    if q.category == 1:
        return f1_multi(prediction, q.answer)
    gold = q.answer.split(";")[0].strip() if q.category == 3 else q.answer
    return f1_score(prediction, gold)


def word_spans(text: str, max_len: int):
    """(start, end) character offsets of every run of 1 to `max_len` words of `text` (split on white space),
    by first word, then length."""
    words = [m.span() for m in re.finditer(r"\S+", text)]
    for i in range(len(words)):
        for j in range(i, min(len(words), i + max_len)):
            yield words[i][0], words[j][1]


def best_span(texts: list[str], q: Question, max_len: int = 8) -> tuple[float, str]:
    """The upper bound of an extractive answer: the best-scoring span of at most `max_len` words of the
    evidence turns (words split on white space, as a copied span would be)."""
    best, span = 0.0, ""
    if q.answer is None:
        return best, span
    for text in texts:
        for a, b in word_spans(text, max_len):
            cand = " ".join(text[a:b].split())
            s = score_answer(q, cand, False)
            if s > best:
                best, span = s, cand
    return best, span
