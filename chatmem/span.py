"""R's span answers: a contiguous phrase copied from a supporting memory, with the memory's own casing.

Still the paper's R, `r = argmax_w s_R([x, m_o1, m_o2], w)`, over candidate answers that are spans:
every run of 1..MAX_SPAN words of the first SUPPORTS supporting memories, plus a learned "no answer"
option. Each memory is read behind a note of its dates (chatmem.when: "8 May 2023 | yesterday: 7 May 2023"),
so "When did I ...?" is answered by copying a date, and which support is newest is a feature (updates). A bidirectional GRU reads each supporting memory word by word; each word carries identity-match
flags (paper §3.6: it occurs in the question, in another support), its shape (capitalised, a number) and a
learned embedding of frequent words, so "behind the bread bin", "March 3 at 4pm", "Henrike Vos" and
"cobalt-19" come out whole, and unseen names work by their shape and their place in the sentence.
Each word also carries its contextual MiniLM vector (the mean of its word pieces' last-layer vectors) and how
near that is to the question's content words and to the question as a whole: a learned vocabulary of a few
hundred words cannot tell that "born" answers "birthday", "combo" is a "combination" or "reading" a subject.
Start and end scores are conditioned on the question (its words and its MiniLM embedding).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as Fn

from chatmem.features import STOP_WORDS
from chatmem.relevance import QWORDS
from chatmem.when import r_text

SUPPORTS = 3        # supporting memories R reads
MAX_WORDS = 96      # words per memory (a longer memory's tail is not read)
MAX_SPAN = 8
N_FLAGS = 15
N_GATE = 8
N_SIMS = 2          # per word: nearest question content word, the whole question (MiniLM cosines)
UNK = 1

# Texts -> per text, its word pieces' character offsets (n, 2) and contextual vectors (n, dim)
# (chatmem.input.MiniLMEncoder.token_vectors)
TokenVectors = Callable[[list[str]], list[tuple[np.ndarray, np.ndarray]]]

# A word: letters or digits, keeping inner hyphens, apostrophes, dots, colons and slashes ("cobalt-19", "4:30pm"),
# a currency sign before a number and a thousands comma ("£640", "$1,200"): the price said is the price told.
_WORD = re.compile(r"(?:[£$€¥](?=\d))?[^\W_](?:(?:[\w'’\-./:@+#]|(?<=\d),(?=\d{3}\b))*[^\W_])?")


# Markup a person may paste (HTML tags; Rich or BBCode tags such as "[red]", "[bold red]", "[/red]" and "[/]"): its
# words are no words of the memory, and no span runs across it ("My locker is [red]42[/red]." is answered "42",
# not "42[/red").
_STYLE = (r"(?:not |on )?(?:bold|dim|italic|underline|blink2?|reverse|strike|conceal|overline|[bius]"
          r"|(?:bright_)?(?:black|red|green|yellow|blue|magenta|cyan|white)|gr[ae]y\d*|#[0-9a-fA-F]{6})")
# Several words in brackets are markup only when each is a Rich style ("[bold red on white]"); LoCoMo's
# "[shares a photo of a dog]" is words of the memory.
_TAG = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>|\[/?[A-Za-z#@][\w#=.,:/-]*\]|\[/\]"
                  rf"|\[{_STYLE}(?: {_STYLE})*\]", re.IGNORECASE)


def tags(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _TAG.finditer(text)] if ("<" in text or "[" in text) else []


def words(text: str) -> list[tuple[int, int]]:
    """Character offsets of the words of a memory, markup left out. A possessive "'s" before another word is no
    part of its word, so a span may end before it ("Who lent me the bunting?" "Oisin Shah", from "I have Oisin
    Shah's bunting.")."""
    marks = tags(text)
    out = []
    for m in _WORD.finditer(text):
        a, b = m.span()
        if any(s <= a < e for s, e in marks):
            continue
        # only before another word: "Trader Joe's." and "The red one is Tom's." keep theirs, and so does a saint's
        # name before a function word ("St. Brendan's on Hill Street"); elsewhere "'s on", "'s at" is "is"
        # ("Mary's in Paris." -> "Mary")
        nxt = _NEXT_WORD.match(text, b) if b - a > 2 and text[b - 2:b].lower() in _POSSESSIVE else None
        owner = nxt is not None and not (nxt.group(1).lower() in STOP_WORDS and _SAINT.search(text, 0, a))
        out.append((a, b - 2) if owner else (a, b))
    return out[:MAX_WORDS]


_NEXT_WORD = re.compile(r"[ \t]+([^\W_][\w'’-]*)")
_SAINT = re.compile(r"\bSt\.[ \t]+$")


_POSSESSIVE = ("'s", "’s")
# Words after which ". " ends no sentence: titles and other short abbreviations ("Dr. Okafor", "St. Mary's").
_ABBREVIATIONS = frozenset("dr mr mrs ms mx st prof rev fr sr jr mt ft no vs etc approx ave rd apt dept".split())
_SENTENCE_END = re.compile(r"[.!?]+[\"'’”)\]]*\s")


def sentence_ends(text: str, offs: list[tuple[int, int]]) -> list[bool]:
    """Per word (offsets `offs` in `text`): whether a sentence ends after it. Not after an abbreviation, an
    initial or a word with dots inside ("U.S.")."""
    out = []
    for (a, b), (c, _) in zip(offs, offs[1:]):
        w = text[a:b]
        out.append(bool(_SENTENCE_END.match(text, b, c + 1)) and w.lower() not in _ABBREVIATIONS
                   and not (len(w) == 1 and w.isupper()) and "." not in w)
    return out + [True] if offs else []


def blocked(text: str, offs: list[tuple[int, int]], body: int = 0) -> np.ndarray:
    """(len(offs), MAX_SPAN) bool: the spans (first word, length - 1) that run across a sentence end
    (sentence_ends()), markup (tags()) or from the time note into the memory (`body`: where the memory's own text
    starts): no answer does ("above the fire station. Talk", "42[/red", "2023 | My")."""
    marks = tags(text)
    cut = np.array(sentence_ends(text, offs), bool)
    for j, ((a, b), (c, d)) in enumerate(zip(offs, offs[1:])):
        cut[j] |= any(a < m < d for m, _ in marks) or b <= body <= c
    cs = np.concatenate([[0], np.cumsum(cut[:-1])]) if len(cut) else np.zeros(1, int)
    w = np.arange(len(offs))[:, None]
    return cs[np.minimum(w + np.arange(MAX_SPAN)[None, :], len(offs) - 1)] - cs[w] > 0


@dataclass
class SpanConfig:
    vocab_size: int
    d: int = 32
    gru: int = 48
    minilm_dim: int = 384
    sem: int = 0        # contextual word vectors' size (MiniLM's 384); 0: a model from before R read them

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class SpanInput:
    """One question with its supporting memories, as arrays."""

    ids: np.ndarray        # (SUPPORTS, MAX_WORDS) word ids, 0 = padding
    flags: np.ndarray      # (SUPPORTS, MAX_WORDS, N_FLAGS)
    q_ids: np.ndarray      # (16,) question word ids
    q_type: int            # index into QWORDS, len(QWORDS) for none
    q_mini: np.ndarray     # (384,)
    offsets: list[list[tuple[int, int]]]   # per support, the words' character offsets in `texts`
    texts: list[str]       # per support, what R reads: the time note, then the memory's text
    body: list[int]        # per support, where the memory's own text starts in `texts`
    vecs: list[np.ndarray] | None = None   # per support, (words, dim) contextual word vectors (word_vectors)
    sims: np.ndarray | None = None         # (SUPPORTS, MAX_WORDS, N_SIMS)


def _flags(text: str, offs: list[tuple[int, int]], body: int, q_low: set[str], q_pre: set[str], others: set[str],
           k: int, age: float) -> np.ndarray:
    """Per word: identity with the question and the other supports (paper §3.6), shape, place in the memory,
    whether it is in the time note, and the support's age among the supports (0 the newest, 1 the oldest)."""
    f = np.zeros((MAX_WORDS, N_FLAGS), dtype=np.float32)
    j0 = next((j for j, (a, _) in enumerate(offs) if a >= body), len(offs))   # the memory's first word
    n = len(offs) - j0
    for j, (a, b) in enumerate(offs):
        w = text[a:b]
        lw = w.lower()
        jb = j - j0
        f[j] = (lw in q_low, lw[:5] in q_pre and lw not in STOP_WORDS, w[:1].isupper() and jb > 0, w.isupper() and len(w) > 1,
                any(c.isdigit() for c in w), lw in STOP_WORDS, jb == 0, text[b:b + 1] == ":" and 0 <= jb < 3,
                max(jb, 0) / max(n - 1, 1), min(len(w), 12) / 12, lw in others and lw not in STOP_WORDS, k / SUPPORTS,
                jb < 0, age == 0.0, age)
    return f


class SpanVocab:
    """Frequent lower-cased words (function words, prepositions, months...): 0 padding, 1 unknown."""

    def __init__(self, words_: Sequence[str]):
        self.words = list(words_)
        self.index = {w: i for i, w in enumerate(self.words)}

    def id(self, w: str) -> int:
        return self.index.get(w.lower(), UNK)

    @classmethod
    def build(cls, texts: Sequence[str], min_count: int = 5, size: int = 6000) -> "SpanVocab":
        from collections import Counter

        c = Counter(t[a:b].lower() for t in texts for a, b in words(t))
        # no numbers: a year, a code or a date R never saw must read like one it did (their shape is a flag)
        return cls(["<pad>", "<unk>"] + [w for w, k in c.most_common(size) if k >= min_count
                                         and not any(ch.isdigit() for ch in w)])

    def extended(self, texts: Sequence[str], min_count: int = 5, size: int = 6000) -> "SpanVocab":
        """This vocabulary, then the words of `texts` it lacks that `build` would keep: a model trained on it
        goes on reading its words by the same ids (chatmem.span_train, warm start)."""
        new = [w for w in SpanVocab.build(texts, min_count, size).words[2:] if w not in self.index]
        return SpanVocab(self.words + new)


def word_vectors(offs: Sequence[tuple[int, int]], pieces: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(len(offs), dim): each word's mean contextual vector over the word pieces it overlaps (zeros past the
    encoder's 256 pieces)."""
    at, vec = pieces
    out = np.zeros((len(offs), vec.shape[1] if vec.ndim == 2 else 0), dtype=np.float32)
    if not len(at) or not len(offs):
        return out
    a = np.array([o[0] for o in offs])[:, None]
    b = np.array([o[1] for o in offs])[:, None]
    hit = (at[None, :, 0] < b) & (at[None, :, 1] > a)
    n = hit.sum(1, keepdims=True)
    return np.where(n > 0, hit.astype(np.float32) @ vec / np.maximum(n, 1), 0.0).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-6)


def _semantics(question: str, q_mini: np.ndarray, read: Sequence[str], offsets, token_vectors: TokenVectors):
    """Each support's contextual word vectors, and per word its cosine with the nearest content word of the
    question and with the question's own embedding."""
    got = token_vectors([question, *read])
    q_at, q_vec = got[0]
    content = [i for i, (a, b) in enumerate(q_at)
               if question[a:b].isalnum() and question[a:b].lower() not in STOP_WORDS]
    qn = _unit(q_vec[content]) if content else np.zeros((0, q_vec.shape[1]), np.float32)
    vecs = [word_vectors(offs, p) for offs, p in zip(offsets, got[1:])]
    sims = np.zeros((SUPPORTS, MAX_WORDS, N_SIMS), dtype=np.float32)
    for k, v in enumerate(vecs):
        if len(v):
            u = _unit(v)
            sims[k, : len(v), 0] = (u @ qn.T).max(1) if len(qn) else 0.0
            sims[k, : len(v), 1] = u @ np.asarray(q_mini, np.float32)
    return vecs, sims


def span_input(vocab: SpanVocab, q_tokens: Sequence[str], q_mini: np.ndarray, supports: Sequence[str],
               created: Sequence[float | None] | None = None, question: str | None = None,
               token_vectors: TokenVectors | None = None) -> SpanInput:
    """R's input: the question, and each supporting memory (hop order) behind the note of its write time. With
    `token_vectors` (and the question's text), each word's contextual vector too."""
    q_low = {w.lower() for w in q_tokens}
    q_pre = {w[:5] for w in q_low if w not in STOP_WORDS}
    ids = np.zeros((SUPPORTS, MAX_WORDS), dtype=np.int64)
    flags = np.zeros((SUPPORTS, MAX_WORDS, N_FLAGS), dtype=np.float32)
    sup = list(supports)[:SUPPORTS]
    when = list(created)[:SUPPORTS] if created is not None else [None] * len(sup)
    read = [r_text(t, c) for t, c in zip(sup, when)]
    offsets = [words(t) for t, _ in read]
    bags = [{t[a:b].lower() for a, b in o if a >= body} for (t, body), o in zip(read, offsets)]
    times = [c if c is not None else -np.inf for c in when]
    rank = np.argsort(np.argsort([-t for t in times], kind="stable"), kind="stable")   # 0 = the newest
    for k, ((text, body), offs) in enumerate(zip(read, offsets)):
        others = set().union(*(bags[:k] + bags[k + 1:])) if len(bags) > 1 else set()
        ids[k, : len(offs)] = [vocab.id(text[a:b]) for a, b in offs]
        age = 0.0 if times[k] == max(times) else float(rank[k]) / max(len(sup) - 1, 1)
        flags[k] = _flags(text, offs, body, q_low, q_pre, others, k, age)
    q_ids = np.zeros(16, dtype=np.int64)
    qs = [vocab.id(w) for w in q_tokens][:16]
    q_ids[: len(qs)] = qs
    qw = next((w for w in q_tokens if w in QWORDS), None)
    texts = [t for t, _ in read]
    vecs, sims = _semantics(question, q_mini, texts, offsets, token_vectors) \
        if token_vectors is not None and question is not None else (None, None)
    return SpanInput(ids, flags, q_ids, QWORDS.index(qw) if qw else len(QWORDS), np.asarray(q_mini, np.float32),
                     offsets, texts, [b for _, b in read], vecs, sims)


class SpanR(nn.Module):
    def __init__(self, cfg: SpanConfig):
        super().__init__()
        self.cfg = cfg
        d, g = cfg.d, cfg.gru
        self.E = nn.Embedding(cfg.vocab_size, d, padding_idx=0)
        self.drop = nn.Dropout(0.2)          # word identity is a weak cue next to the match flags: use it lightly
        self.q_type = nn.Embedding(len(QWORDS) + 1, d)
        self.q_mini = nn.Linear(cfg.minilm_dim, d, bias=False)
        if cfg.sem:
            self.sem = nn.Linear(cfg.sem, d, bias=False)
        self.gru = nn.GRU(self.gru_inputs(cfg), g, batch_first=True, bidirectional=True)
        self.start = nn.Sequential(nn.Linear(2 * g + d, 64), nn.ReLU(), nn.Linear(64, 1))
        self.end = nn.Sequential(nn.Linear(2 * g + d, 64), nn.ReLU(), nn.Linear(64, 1))
        self.length = nn.Parameter(torch.zeros(MAX_SPAN))
        self.null = nn.Sequential(nn.Linear(2 * g + d + 1, 32), nn.ReLU(), nn.Linear(32, 1))
        self.gate = nn.Linear(N_GATE, 1)     # which R answers: > 0 the span, else R's dictionary and pointer words

    @staticmethod
    def gru_inputs(cfg: SpanConfig) -> int:
        """Per word: its embedding, flags and the question; then its projected contextual vector and sims."""
        return 2 * cfg.d + N_FLAGS + (cfg.d + N_SIMS if cfg.sem else 0)

    def forward(self, ids, flags, q_ids, q_type, q_mini, sem=None):
        """ids (B, K, W), flags (B, K, W, F), q_ids (B, 16), q_type (B,), q_mini (B, 384), sem (B, K, W', dim +
        N_SIMS) or None (zeros) -> span scores (B, K, W, MAX_SPAN) (start at w, length l+1; -inf where
        impossible) and null (B,)."""
        B, K, W_full = ids.shape
        W = max(int((ids > 0).any(1).any(0).nonzero().max()) + 1, 1) if bool((ids > 0).any()) else 1
        ids, flags = ids[:, :, :W], flags[:, :, :W]          # read only as far as the longest memory
        qm = (q_ids > 0).float()
        q = (self.E(q_ids) * qm[..., None]).sum(1) / qm.sum(1, keepdim=True).clamp(min=1)
        q = q + self.q_type(q_type) + self.q_mini(q_mini)                      # (B, d)
        parts = [self.drop(self.E(ids)), flags, q[:, None, None, :].expand(B, K, W, -1)]
        if self.cfg.sem:
            width = self.cfg.sem + N_SIMS
            # none given (an encoder without token vectors): zeros; R then reads words by identity alone, and
            # answers worse than with them
            sem = torch.zeros(B, K, W, width) if sem is None or sem.shape[-1] != width else \
                Fn.pad(sem[:, :, :W], (0, 0, 0, max(0, W - sem.shape[2])))
            parts += [self.sem(sem[..., : self.cfg.sem]), sem[..., self.cfg.sem:]]
        x = torch.cat(parts, -1).reshape(B * K, W, -1)
        h, _ = self.gru(x)
        h = torch.cat([h, q[:, None, :].repeat_interleave(K, 0).expand(-1, W, -1)], -1)
        st = self.start(h).squeeze(-1).reshape(B, K, W)
        en = self.end(h).squeeze(-1).reshape(B, K, W)
        valid = (ids > 0)
        scores = torch.full((B, K, W_full, MAX_SPAN), -1e4)
        for ln in range(MAX_SPAN):
            if ln >= W:
                break
            ok = valid[:, :, : W - ln] & valid[:, :, ln:]
            s = st[:, :, : W - ln] + en[:, :, ln:] + self.length[ln]
            scores[:, :, : W - ln, ln] = torch.where(ok, s, torch.full_like(s, -1e4))
        # "no answer" reads every support (max over supports and words), not only the first hop's
        pooled = torch.where(valid.reshape(B * K, W, 1), h, torch.full_like(h, -1e4)).max(1).values.reshape(B, K, -1).max(1).values
        null = self.null(torch.cat([pooled, scores.flatten(1).max(1).values[:, None] / 10], -1)).squeeze(-1)
        return scores, null


def _sem_tensor(inputs: Sequence[SpanInput]) -> torch.Tensor | None:
    """(B, SUPPORTS, longest memory, dim + N_SIMS): the words' contextual vectors and sims, or None where an
    input has none."""
    if not inputs or any(x.vecs is None or x.sims is None for x in inputs):
        return None
    dim = next((v.shape[1] for x in inputs for v in x.vecs if v.ndim == 2 and v.shape[1]), 0)
    W = max([len(v) for x in inputs for v in x.vecs] + [1])
    out = np.zeros((len(inputs), SUPPORTS, W, dim + N_SIMS), dtype=np.float32)
    for b, x in enumerate(inputs):
        for k, v in enumerate(x.vecs):
            if len(v) and v.shape[1] == dim:
                out[b, k, : len(v), :dim] = v
        out[b, :, :, dim:] = x.sims[:, :W]
    return torch.as_tensor(out)


def batch_tensors(inputs: Sequence[SpanInput]):
    return (torch.as_tensor(np.stack([x.ids for x in inputs])), torch.as_tensor(np.stack([x.flags for x in inputs])),
            torch.as_tensor(np.stack([x.q_ids for x in inputs])), torch.as_tensor([x.q_type for x in inputs]),
            torch.as_tensor(np.stack([x.q_mini for x in inputs])), _sem_tensor(inputs))


@dataclass
class Span:
    support: int       # which supporting memory (hop order)
    start: int         # character offsets in that memory's text (in its time note when `in_note`)
    end: int
    text: str
    prob: float        # of this span among all spans and "no answer"
    null_prob: float   # of "no answer"
    in_note: bool = False   # a date from the memory's time note, not words of the memory


def _unflat(i: int) -> tuple[int, int, int]:
    """A flat span index (as target_index makes them) as (support, first word, length - 1)."""
    k, rest = divmod(i, MAX_WORDS * MAX_SPAN)
    return (k, *divmod(rest, MAX_SPAN))


def predict(model: SpanR, inputs: Sequence[SpanInput]) -> list[Span | None]:
    """The best span of each question (None when it has no supporting memory)."""
    if not inputs:
        return []
    with torch.no_grad():
        scores, null = model(*batch_tensors(inputs))
    for b, x in enumerate(inputs):
        for k, (text, offs, body) in enumerate(zip(x.texts, x.offsets, x.body)):
            no = torch.as_tensor(blocked(text, offs, body))
            scores[b, k, : len(offs)] = scores[b, k, : len(offs)].masked_fill(no, -1e4)
    B = scores.shape[0]
    flat = torch.cat([scores.reshape(B, -1), null[:, None]], 1)
    p = torch.softmax(flat, -1)
    best = scores.reshape(B, -1).argmax(1)
    out = []
    for b, x in enumerate(inputs):
        k, w, ln = _unflat(int(best[b]))
        if k >= len(x.offsets) or w + ln >= len(x.offsets[k]):
            out.append(None)
            continue
        a, e = x.offsets[k][w][0], x.offsets[k][w + ln][1]
        body = x.body[k]
        note = a < body
        if note and e > body:          # a span across the note and the memory: not a phrase of either
            out.append(None)
            continue
        shift = 0 if note else body
        out.append(Span(k, a - shift, e - shift, x.texts[k][a:e], float(p[b, best[b]]), float(p[b, -1]), note))
    return out


def target_index(x: SpanInput, k: int, start: int, end: int, in_note: bool = False) -> int | None:
    """The flat span index of the words covering characters [start, end) of support k's text (of its time note
    when `in_note`), if it fits."""
    if k >= len(x.offsets):
        return None
    shift = 0 if in_note else x.body[k]
    offs = x.offsets[k]
    ws = [j for j, (a, b) in enumerate(offs) if a < end + shift and b > start + shift and (a < x.body[k]) == in_note]
    if not ws or ws[-1] - ws[0] >= MAX_SPAN:
        return None
    return (k * MAX_WORDS + ws[0]) * MAX_SPAN + (ws[-1] - ws[0])


def note_target(x: SpanInput, k: int, answer: str) -> tuple[int, int] | None:
    """Where `answer` (a date) stands in support k's time note, as (start, end), if it does."""
    at = x.texts[k].find(answer, 0, x.body[k]) if k < len(x.texts) else -1
    return None if at < 0 else (at, at + len(answer))


def gate_features(dict_score: float, dict_confident: bool, span: Span, q_tokens: Sequence[str],
                  support_tokens: Sequence[Sequence[str]], known: dict, dict_words: Sequence[str]) -> np.ndarray:
    """What the gate between R's two kinds of answer sees: both answers' confidence, how much of the question
    and the supports the word-level R knows (`known`: its vocabulary), the supports' length, and agreement."""
    q = [w for w in q_tokens if w not in STOP_WORDS]
    sup = [w for t in support_tokens for w in t]
    return np.array([np.tanh(dict_score / 5), float(dict_confident), span.prob, span.null_prob,
                     np.mean([w in known for w in q]) if q else 1.0, np.mean([w in known for w in sup]) if sup else 1.0,
                     min(len(sup) / max(len(support_tokens), 1), 60) / 20,
                     float(" ".join(dict_words).lower() == span.text.lower())], dtype=np.float32)


def use_span(model: SpanR, feats: np.ndarray) -> bool:
    with torch.no_grad():
        return bool(model.gate(torch.as_tensor(feats)[None])[0, 0] > 0)


@dataclass
class Choice:
    """What R says: its dictionary answer or its span, and whether it is sure."""

    words: list[str]
    score: float
    confident: bool
    related: bool
    span: Span | None = None      # set when the span was chosen


def _plain(answer: str) -> str:
    """An answer as both of R's kinds can say it: the dictionary's "640" is the span's "£640", "1200" its "$1,200"
    (chatmem.input splits a currency sign off, the span's words keep it)."""
    return re.sub(r"(?<=\d),(?=\d{3}\b)|^[£$€¥](?=\d)", "", answer.lower())


def no_answer(sp: Span, cut: float | None = None) -> bool:
    """Whether R's "no answer" wins: its probability is at least `cut` (fitted with the threshold,
    chatmem.span_train.choose_threshold), or, for a model without one, above the best span's. The best span's
    probability is shared with the spans around it ("the 15th at 4pm", "Friday the 15th at 4pm"), so the plain
    comparison declined answers people wrote ("What colour is my car?" from "My car is a green Skoda Fabia.")."""
    return sp.null_prob >= cut if cut is not None else not sp.prob > sp.null_prob


def choose(words_: list[str], score: float, confident: bool, related: bool, sp: Span | None, gate: bool,
           threshold: float, null_cut: float | None = None) -> Choice:
    """The gate picks the span (`gate`: it reads the word answer's confidence too), the threshold says if it is
    sure, and "no answer" winning (`no_answer`) means saying so rather than guessing. (Keeping a confident word
    answer over an unsure span gave "dr." for "Who is my dentist?" and "nephew" for "Who plays the cello?".) A
    span from memories that share no content word with the question (`related` False) is never sure: it cannot
    be about it ("What is the capital of France?" -> "kitchen")."""
    if sp is None:
        return Choice(list(words_), score, confident, related)
    none = no_answer(sp, null_cut)
    sure = sp.prob >= threshold and not none and related
    # Both answers say the same words: either one's doubt (the dictionary's, at a request shape it never saw:
    # "Remind me where Mary is.") does not outweigh the other's certainty. Said as the span: its casing, its place.
    agree = bool(words_) and _plain(" ".join(words_)) == _plain(sp.text)
    if not gate and not (agree and sure):
        # an unsure word answer where R's "no answer" wins: nothing cited answers it ("What is my cat's name?"
        # said "I'm not sure" from "The kids' school is St. Brendan's."), as when the gate takes the span
        return Choice(list(words_), score, confident, related and (confident or not none))
    both = agree and confident and not none     # never over the span's "no answer"
    return Choice([sp.text], sp.prob, sure or both, related and not none, sp)
