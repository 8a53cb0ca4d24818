"""O's first hop for long, conversational memories: a trained relevance term added to s_O.

The bAbI-trained scorer reads 12 word positions of a memory; a conversation turn runs to 28 tokens on
average and often past 100, so on LoCoMo its first hop ranks evidence no better than chance. This term
reads the whole memory and is added to s_O at the first hop:

    s_O1(x, m) = α(x) s_O(x, m) + (1 - α(x)) [Φx(x)ᵀ UᵀU Φy(m) + MLP(match(x, m))]

Φ is the MiniLM embedding (the paper's form, with one U for both sides), and `match` holds features
that compare words by identity over the whole memory (paper §3.6): BM25 and idf-weighted overlap with
document frequencies from the memory itself, coverage of the question's words, the question word, the
memory's length and place in time, and whether it holds the names the question asks about. α(x) in (0, 1) weighs s_O against the term by how much of the question
and the memories s_O's vocabulary knows and how long the memories are. It is trained with s_O frozen, on bAbI and on
conversations, so it learns to leave s_O alone where s_O already knows (bAbI) and to lead where it does not.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Callable, Container, Sequence

import numpy as np
import torch
import torch.nn as nn

from chatmem.features import STOP_WORDS

QWORDS = ("who", "what", "when", "where", "which", "how", "why")
N_MATCH = 15
N_RANK = 2      # 1/rank of a memory by BM25 and by cosine among the candidates
NF = N_MATCH + len(QWORDS) + 1 + N_RANK
NQ = 4          # per-question features of the weight on s_O
K1, B = 1.2, 0.75      # BM25's usual constants


@dataclass
class RelevanceConfig:
    minilm_dim: int = 384
    d: int = 64
    hidden: int = 32

    def to_json(self) -> dict:
        return asdict(self)


class Relevance(nn.Module):
    def __init__(self, cfg: RelevanceConfig):
        super().__init__()
        self.cfg = cfg
        self.U = nn.Linear(cfg.minilm_dim, cfg.d, bias=False)
        self.mlp = nn.Sequential(nn.Linear(NF, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(),
                                 nn.Linear(cfg.hidden, 1))
        self.alpha = nn.Linear(NQ, 1)
        nn.init.normal_(self.U.weight, std=0.02)
        nn.init.constant_(self.alpha.bias, 2.0)

    def forward(self, q_mini: torch.Tensor, m_mini: torch.Tensor, feats: torch.Tensor, qfeats: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """q_mini (Q, 384), m_mini (Q, C, 384), feats (Q, C, NF), qfeats (Q, NQ) -> (1 - α) r (Q, C) and α (Q,):
        the first hop scores α s_O + (1 - α) r, so where α is 1 the term changes nothing."""
        u = self.U(q_mini)
        v = self.U(m_mini)
        r = (v * u[:, None, :]).sum(-1) + self.mlp(feats).squeeze(-1)
        alpha = torch.sigmoid(self.alpha(qfeats).squeeze(-1))
        return (1 - alpha)[:, None] * r, alpha


def question_names(text: str) -> tuple[str, ...]:
    """The names a question asks about, as memory tokens spell them: its capitalised words other than function
    and question words ("What is Teliqui's degree in?" -> ("teliqui",)). Among a million memories a person one
    talks about is named a thousand times: to BM25 her name is then a commoner word than "degree", and another
    person's look-alike fact ("Guneis's degree is in journalism.") outranked hers."""
    words: dict[str, None] = {}
    for m in _WORD.finditer(text):
        head, tail = m.groups()         # "O'Brien" keeps its tail, "Teliqui's" does not
        if head[0].isupper():
            words.setdefault((head + tail if tail[1:2].isupper() else head).lower(), None)
    return tuple(w for w in words if w not in STOP_WORDS and w not in QWORDS)


_WORD = re.compile(r"(?<![\w'’])([^\W\d_][^\W_]*)((?:['’][^\W\d_][^\W_]*)?)")   # letters first, any script


def _content(tokens: Sequence[str]) -> list[str]:
    return [w for w in tokens if w not in STOP_WORDS and any(c.isalnum() for c in w)]


class _Lexicon:
    """Words the match features have read, numbered once, with what they ask of each: whether it is a function
    word, whether it holds a digit, and the number of its 5-letter prefix; and the numbers of the newest
    memories' tokens. (Numbering a few hundred long memories anew for every question took a tenth of its time.)
    Past MAX_WORDS a new one starts (`lexicon()`); a table keeps the one it was made with."""

    MAX_WORDS = 100_000
    MAX_MEMO = 32_768

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.prefixes: dict[str, int] = {}
        self.flags = np.zeros((1024, 3), dtype=np.int64)   # per word: function word, digit, prefix number
        self.memo: dict[tuple[str, ...], np.ndarray] = {}
        self.lock = threading.Lock()

    def numbered(self, tokens: tuple[str, ...]) -> np.ndarray:
        a = self.memo.get(tokens)
        if a is None:
            a = self._number(tokens)
            if len(self.memo) >= self.MAX_MEMO:
                self.memo = {}
            self.memo[tokens] = a
        return a

    def _number(self, tokens: Sequence[str]) -> np.ndarray:
        out = []
        for w in tokens:
            k = self.ids.get(w)
            if k is None:
                with self.lock:
                    k = self.ids.get(w)
                    if k is None:
                        k = len(self.ids)
                        if k == len(self.flags):        # grown by a copy: a reader keeps the array it took
                            self.flags = np.concatenate([self.flags, np.zeros_like(self.flags)])
                        self.flags[k] = (w in STOP_WORDS, any(c.isdigit() for c in w),
                                         self.prefixes.setdefault(w[:5], len(self.prefixes)))
                        self.ids[w] = k                  # published once its flags are set
            out.append(k)
        a = np.array(out, dtype=np.int64)
        a.flags.writeable = False
        return a


_LEXICON = _Lexicon()


def lexicon() -> _Lexicon:
    global _LEXICON
    if len(_LEXICON.ids) > _Lexicon.MAX_WORDS:
        _LEXICON = _Lexicon()
    return _LEXICON


class WordTable:
    """Which of C memories hold a word or a content-word prefix, and how often: match_features reads them word
    by word. The tokens are numbered (_Lexicon) and sorted by number, so a word's memories are one slice: a
    question's relevance term and its second hop (once per o1, with every new word o1 brings) read one table."""

    def __init__(self, mem_tokens: Sequence[Sequence[str]]):
        C = len(mem_tokens)
        self.lens = np.array([len(t) for t in mem_tokens], dtype=np.float32)
        self.firsts = [t[0] if t else None for t in mem_tokens]       # None: an empty memory names nobody
        self._lex = lex = lexicon()
        parts = [lex.numbered(tuple(t)) for t in mem_tokens]
        tok = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        rows = np.repeat(np.arange(C), [len(p) for p in parts])
        flags = lex.flags[tok]
        self.digits = np.zeros(C, dtype=np.float32)
        self.digits[rows[flags[:, 1] > 0]] = 1.0
        self._tok, self._rows = _by_number(tok, rows)
        content = flags[:, 0] == 0
        self._pre, self._pre_rows = _by_number(flags[content, 2], rows[content])

    @staticmethod
    def _slice(keys: np.ndarray, rows: np.ndarray, k: int | None) -> tuple[np.ndarray, np.ndarray]:
        if k is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        lo, hi = np.searchsorted(keys, (k, k + 1))
        r = rows[lo:hi]                     # ascending (a stable sort of rows written in order)
        starts = np.flatnonzero(np.concatenate([[True], r[1:] != r[:-1]])) if len(r) else np.zeros(0, np.int64)
        return r[starts], np.diff(np.append(starts, len(r)))

    def holding(self, w: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows holding w (ascending) and its count in each."""
        return self._slice(self._tok, self._rows, self._lex.ids.get(w))

    def with_prefix(self, p: str) -> np.ndarray:
        """Rows with a content word starting with p (ascending)."""
        return self._slice(self._pre, self._pre_rows, self._lex.prefixes.get(p))[0]

    def subset(self, keep: np.ndarray) -> "WordTable":
        """The table of the memories at `keep` (ascending), cut out of this one: the same arrays as
        WordTable([mem_tokens[k] for k in keep]) builds, without numbering and sorting their tokens again."""
        keep = np.asarray(keep, dtype=np.int64)
        renumber = np.full(len(self.lens), -1, dtype=np.int64)
        renumber[keep] = np.arange(len(keep))
        t = object.__new__(WordTable)
        t.lens, t.digits, t._lex = self.lens[keep], self.digits[keep], self._lex
        t.firsts = [self.firsts[k] for k in keep.tolist()]
        t._tok, t._rows = _kept(self._tok, self._rows, renumber)
        t._pre, t._pre_rows = _kept(self._pre, self._pre_rows, renumber)
        return t


def _kept(keys: np.ndarray, rows: np.ndarray, renumber: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries of kept rows, in the same order (a stable sort's order survives dropping entries), renumbered."""
    new = renumber[rows]
    ok = new >= 0
    return keys[ok], new[ok]


def _by_number(keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    return keys[order], rows[order]


def match_features(q_tokens: Sequence[str], mem_tokens: Sequence[Sequence[str]], df: Callable[[str], int], n: int,
                   positions: np.ndarray, cos: np.ndarray, table: WordTable | None = None,
                   names: Sequence[str] = ()) -> np.ndarray:
    """(C, NF) features of C memories for one question. df(w): memories holding w; n: memories in all;
    positions: each memory's place in write order (0 oldest .. 1 newest); cos: MiniLM cosine; table:
    WordTable(mem_tokens), if already at hand; names: the question's (question_names)."""
    C = len(mem_tokens)
    F = np.zeros((C, NF), dtype=np.float32)
    qc = list(dict.fromkeys(_content(q_tokens)))
    idf = {w: math.log(1 + (n - df(w) + 0.5) / (df(w) + 0.5)) for w in qc}
    pre: dict[str, float] = {}
    for w in qc:
        pre[w[:5]] = pre.get(w[:5], 0.0) + idf[w]
    q_idf = sum(idf.values()) or 1.0
    q_all = set(q_tokens)
    table = WordTable(mem_tokens) if table is None else table
    lens = table.lens
    norm = K1 * (1 - B + B * lens / max(float(lens.mean()) if C else 1.0, 1.0))
    # Word by word over all memories (a question has a few content words), summing in the question's word
    # order and in the same precision as a sum per memory would: the same numbers, without a loop per memory.
    bm25 = np.zeros(C, dtype=np.float32)
    idf_sum = np.zeros(C)
    n_shared = np.zeros(C, dtype=np.int64)
    best = np.full(C, -np.inf)
    for w in qc:
        at, c = table.holding(w)
        if not at.size:
            continue
        bm25[at] += (idf[w] * c * (K1 + 1)).astype(np.float32) / (c.astype(np.float32) + norm[at])
        idf_sum[at] += idf[w]
        n_shared[at] += 1
        best[at] = np.maximum(best[at], idf[w])
    has = n_shared > 0
    F[has, 1] = bm25[has]
    F[has, 3] = idf_sum[has] / q_idf
    F[has, 4] = n_shared[has] / len(qc) if qc else 0.0
    F[has, 6] = best[has] / math.log(n + 2)
    pre_sum = np.zeros(C)
    for p, v in pre.items():
        pre_sum[table.with_prefix(p)] += v
    F[:, 5] = pre_sum / q_idf
    F[:, 9] = [f in q_all for f in table.firsts]      # the speaker or subject is named in the question
    F[:, 10] = table.digits
    F[:, 0] = cos
    F[:, 2] = F[:, 1] / max(float(F[:, 1].max()) if C else 0.0, 1e-6)
    F[:, 1] = np.minimum(F[:, 1] / 10.0, 3.0)
    F[:, 7] = np.log1p(lens) / 5.0
    F[:, 8] = positions
    F[:, 11] = (cos - cos.mean()) / (cos.std() + 1e-6) if C > 1 else 0.0
    if names:                                          # the share of the question's names each memory holds
        for w in names:
            F[table.holding(w)[0], 12] += 1.0 / len(names)
        F[:, 13] = 1.0
    F[:, 14] = _newer_lookalikes(F[:, 3], positions)
    qw = next((w for w in q_tokens if w in QWORDS), None)
    F[:, N_MATCH + (QWORDS.index(qw) if qw else len(QWORDS))] = 1.0
    return with_ranks(F[:, : NF - N_RANK])


def _newer_lookalikes(share: np.ndarray, positions: np.ndarray, slack: float = 0.1, bins: int = 20) -> np.ndarray:
    """1 / (1 + how many newer memories hold about as much of the question's words, `share` (column 3), or more):
    0.5 for an update's older value, 1 for the newer. Place in time alone cannot tell them apart among many
    candidates (a thousand apart, their places differ by a thousandth); this count does not grow with the store."""
    C = len(share)
    if C == 0:
        return np.zeros(0, dtype=np.float32)
    b = np.clip(np.floor(share * bins), 0, bins).astype(np.int64)                 # each memory's bin
    need = np.clip(np.ceil((share - slack) * bins - 1e-6), 0, bins).astype(np.int64)   # the lowest bin counted
    order = np.argsort(-np.asarray(positions), kind="stable")                       # newest first
    hot = np.zeros((C, bins + 1), dtype=np.int32)
    hot[np.arange(C), b[order]] = 1
    newer = np.cumsum(hot, 0) - hot                   # per bin, the memories newer than each (in `order`)
    at_least = np.cumsum(newer[:, ::-1], 1)[:, ::-1]   # ... in that bin or above
    count = np.empty(C, dtype=np.float32)
    count[order] = at_least[np.arange(C), need[order]]
    return 1.0 / (1.0 + count)


def _inverse_rank(v: np.ndarray) -> np.ndarray:
    r = np.empty(len(v))
    r[np.argsort(-v, kind="stable")] = np.arange(1, len(v) + 1)
    return 1.0 / r


def with_ranks(F: np.ndarray) -> np.ndarray:
    """Append 1/rank by BM25 (column 1) and by cosine (column 0): a rank means the same in any store."""
    return np.concatenate([F, _inverse_rank(F[:, 1])[:, None], _inverse_rank(F[:, 0])[:, None]], 1).astype(np.float32)


@dataclass
class Candidates:
    """The memories a question's relevance term is computed over, and the counts it needs."""

    tokens: Sequence[Sequence[str]]
    mini: np.ndarray                   # (C, 384)
    df: Callable[[str], int]           # memories holding a word
    n: int                             # memories in all
    positions: np.ndarray              # place in write order, 0 oldest .. 1 newest
    known: Container[str] = ()         # the words s_O has embeddings for
    table: WordTable | None = field(default=None, repr=False, compare=False)   # made on first use
    cut_from: tuple["Candidates", np.ndarray] | None = field(default=None, repr=False, compare=False)  # (set, rows)

    @classmethod
    def story(cls, tokens: Sequence[Sequence[str]], mini: np.ndarray, known: Container[str] = ()) -> "Candidates":
        """A whole (small) memory, every memory a candidate, in write order."""
        n = len(tokens)
        return cls(tokens, mini, counter_df(tokens), n, np.arange(n, dtype=np.float32) / max(n - 1, 1), known)

    def subset(self, keep: np.ndarray) -> "Candidates":
        """The candidates at `keep` (ascending) with what is already at hand (tokens, MiniLM rows, the word table):
        the same as Candidates made of those memories (s_O's candidates among the relevance term's pool)."""
        keep = np.asarray(keep, dtype=np.int64)
        sub = Candidates([self.tokens[k] for k in keep.tolist()], self.mini[keep], self.df, self.n,
                         np.asarray(self.positions)[keep], self.known)
        sub.cut_from = (self, keep)
        return sub

    def features(self, q_tokens: Sequence[str], q_mini: np.ndarray, names: Sequence[str] = ()) -> np.ndarray:
        if self.table is None:
            cut = self.cut_from
            if cut is not None and cut[0].table is not None:      # its table cut out of the larger set's
                self.table = cut[0].table.subset(cut[1])
            else:
                self.table = WordTable(self.tokens)
        return match_features(q_tokens, self.tokens, self.df, self.n, self.positions, self.mini @ q_mini, self.table,
                              names)

    def question_features(self, q_tokens: Sequence[str]) -> np.ndarray:
        """What α reads: how much of the question and of (up to 64) memories s_O's vocabulary knows, how long
        the memories are, how many there are."""
        q = _content(q_tokens)
        sample = [w for t in list(self.tokens)[-64:] for w in t]
        lens = [len(t) for t in list(self.tokens)[-64:]] or [0]
        return np.array([np.mean([w in self.known for w in q]) if q else 1.0,
                         np.mean([w in self.known for w in sample]) if sample else 1.0,
                         np.log1p(np.mean(lens)) / 5, np.log1p(self.n) / 10], dtype=np.float32)


def prior(rel: Relevance, q_tokens: Sequence[str], q_mini: np.ndarray, cands: Candidates,
          names: Sequence[str] = ()) -> tuple[np.ndarray, float]:
    """The relevance term of every candidate memory for one question, and α, the weight on s_O."""
    if not len(cands.tokens):
        return np.zeros(0, dtype=np.float32), 1.0
    F = cands.features(q_tokens, q_mini, names)
    with torch.no_grad():
        r, alpha = rel(torch.as_tensor(q_mini[None], dtype=torch.float32),
                       torch.as_tensor(cands.mini[None], dtype=torch.float32), torch.as_tensor(F[None]),
                       torch.as_tensor(cands.question_features(q_tokens)[None]))
    return r[0].numpy(), float(alpha[0])


def counter_df(mem_tokens: Sequence[Sequence[str]]) -> Callable[[str], int]:
    """Document frequencies counted over a few hundred memories (a big store uses its word index)."""
    c = Counter(w for toks in mem_tokens for w in set(toks))
    return lambda w: c.get(w, 0)
