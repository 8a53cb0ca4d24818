"""H: which slot a new memory takes when the memory is full (paper §2: m_H(x) = I(x)).

With a budget of N memories, writing one more moves one memory out of working memory (into the archive). H is
a trained scorer of how likely each stored memory is to be needed by a future question, from its age, how
often and how recently O cited it, whether a newer memory supersedes it (chatmem.update), how redundant it is
with the other memories, and its content (its MiniLM embedding). The least likely one leaves. Labels: which
memories later serve as supporting facts in training stories (chatmem.budget_train). Beside H, the fixed
policies of other memory systems: the oldest, the least recently cited, a random one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn

POLICIES = ("H", "oldest", "lru", "random")
N_FEAT = 19
DIM = 384


@dataclass
class BudgetConfig:
    dim: int = DIM
    hidden: int = 64
    features: int = 9               # the first slot_features it reads (a config saved before the word features: 9)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SlotState:
    """What H reads of the memories in store (oldest first)."""

    ids: np.ndarray                   # memory ids, ascending
    emb: np.ndarray                   # (n, dim) MiniLM embeddings
    newest: int                       # the newest memory id written so far (ages count ids)
    cited: dict                       # id -> (times cited, the newest id when last cited)
    superseded: np.ndarray            # bool per memory
    tokens: list | None = None        # each memory's tokens (chatmem.input.tokenize)
    new: int = 0                      # the last `new` rows were just written: context for the others, never chosen


def word_features(tokens: list) -> np.ndarray:
    """(n, 8) from the words of the memories in store (oldest first), weighted by their rarity in the store
    (idf over the store): how rare its words are (mean, rarest), the share of its rare words that a newer memory
    repeats (the best single one, all newer together), the same for older ones, its length, a number in it."""
    n = len(tokens)
    if not n:
        return np.zeros((0, 8), np.float32)
    vocab: dict = {}
    r, c = [], []
    for i, ts in enumerate(tokens):
        for t in set(ts):
            r.append(i)
            c.append(vocab.setdefault(t, len(vocab)))
    b = np.zeros((n, max(len(vocab), 1)), np.float32)
    b[r, c] = 1.0
    norm = math.log(n + 1) + 1e-6
    w = b * (np.log((n + 1) / np.maximum(b.sum(0), 1)) / norm)
    size = b.sum(1)
    mass = w.sum(1) + 1e-6
    share = (w @ b.T) / mass[:, None]                        # [i, j]: i's rare-word mass that j repeats
    upper = np.triu(np.ones((n, n), bool), 1)
    newer_one = np.where(upper, share, 0.0).max(1)
    after = np.cumsum(b[::-1], 0)[::-1] - b                  # words in this memory or later, less its own
    before = np.cumsum(b, 0) - b
    newer_all = (w * (after > 0)).sum(1) / mass
    older_all = (w * (before > 0)).sum(1) / mass
    digit = np.array([any(ch.isdigit() for t in ts for ch in t) for ts in tokens], np.float32)
    return np.stack([mass / np.maximum(size, 1), w.max(1), newer_one, newer_all,
                     np.where(upper.T, share, 0.0).max(1), older_all, np.log1p(size) / 3, digit], 1)


def slot_features(st: SlotState) -> np.ndarray:
    """(n, N_FEAT): age (ids since written, raw and relative to the store's size), citations (count, ids since
    the last, never cited), superseded, redundancy (best cosine with any other memory, with any newer one),
    word_features (zeros where the tokens are not given), and how crowded its kind is (memories at cosine
    above 0.5, the mean cosine): a question picks one thing of a kind, so among many alike each is less likely
    the one asked."""
    n = len(st.ids)
    age = (st.newest - st.ids).astype(np.float32)
    cnt = np.array([st.cited.get(int(i), (0, 0))[0] for i in st.ids], dtype=np.float32)
    last = np.array([st.cited.get(int(i), (0, 0))[1] for i in st.ids], dtype=np.float32)
    since = np.where(cnt > 0, st.newest - last, age)
    cos = st.emb @ st.emb.T if n else np.zeros((0, 0), np.float32)
    if n:
        np.fill_diagonal(cos, -1.0)
    red = cos.max(1) if n > 1 else np.zeros(n, np.float32)
    newer = np.where(np.triu(np.ones((n, n), bool), 1), cos, -1.0).max(1) if n > 1 else np.zeros(n, np.float32)
    scale = max(n, 1)
    crowd = np.stack([np.log1p((cos > 0.5).sum(1)) / 3, np.clip(cos, 0, None).sum(1) / scale], 1) if n > 1 \
        else np.zeros((n, 2), np.float32)
    words = word_features(st.tokens) if st.tokens is not None else np.zeros((n, 8), np.float32)
    return np.concatenate([np.stack([np.log1p(age) / 5, age / scale, np.log1p(cnt), np.log1p(since) / 5,
                                     since / scale, (cnt == 0).astype(np.float32), st.superseded.astype(np.float32),
                                     red, newer], 1), words, crowd], 1).astype(np.float32)


class SlotScorer(nn.Module):
    """Logit that a stored memory will be needed by a later question: H keeps the highest."""

    def __init__(self, cfg: BudgetConfig):
        super().__init__()
        self.cfg = cfg
        self.net = nn.Sequential(nn.Linear(cfg.features + cfg.dim, cfg.hidden), nn.ReLU(),
                                 nn.Linear(cfg.hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    @torch.no_grad()
    def keep_scores(self, st: SlotState) -> np.ndarray:
        x = np.concatenate([slot_features(st)[:, : self.cfg.features], st.emb.astype(np.float32)], 1)
        return self(torch.as_tensor(x)).numpy()


def choose_slot(policy: str, st: SlotState, scorer: SlotScorer | None = None,
                rng: np.random.Generator | None = None) -> int:
    """The row (into st.ids) of the memory that leaves: one of the first len(ids) - new."""
    n = len(st.ids) - st.new
    if policy == "H":
        if scorer is None:
            raise ValueError("H needs the trained slot scorer (the model's 'budget' part)")
        return int(np.argmin(scorer.keep_scores(st)[:n]))
    if policy == "oldest":
        return 0
    if policy == "lru":   # least recently cited; never cited counts as cited when written (so: oldest of those)
        last = np.array([st.cited[int(i)][1] if int(i) in st.cited else int(i) for i in st.ids[:n]])
        return int(np.argmin(last))
    if policy == "random":
        return int((rng or np.random.default_rng()).integers(n))
    raise ValueError(f"unknown policy {policy!r}; one of {', '.join(POLICIES)}")


def state_of(memory, exclude: int | None = None) -> SlotState:
    """H's view of a store (chatmem.memory), leaving out the memory just written (`exclude`)."""
    ids = memory.ids.copy()
    emb = memory.embeddings
    keep = ids != exclude if exclude is not None else np.ones(len(ids), bool)
    links = memory.links()
    sup = np.isin(ids, np.fromiter(links.keys(), dtype=np.int64, count=len(links)))
    newest = int(ids.max()) if len(ids) else 0
    return SlotState(ids[keep], emb[keep], newest, memory.citations(), sup[keep],
                     memory.tokens[np.flatnonzero(keep)])


H_POOL = 1024     # above this many memories H chooses among the oldest half of it and as many drawn at random


def _eviction_state(memory, keep_ids: set, policy: str, rng) -> SlotState | None:
    """The memories that may leave (all but `keep_ids`) as the policy reads them, followed (for H) by the new
    ones as context (st.new). H compares embeddings and words, O(n^2): in a big store it sees H_POOL of them;
    the fixed policies need neither."""
    ids = memory.ids
    new = np.isin(ids, list(keep_ids)) if keep_ids else np.zeros(len(ids), bool)
    rows = np.flatnonzero(~new)
    if not len(rows):
        return None
    if policy != "H":
        return SlotState(ids[rows].copy(), np.zeros((len(rows), 0), np.float32), int(ids.max()),
                         memory.citations(), np.zeros(len(rows), bool))
    if len(rows) > H_POOL:
        rest = rows[H_POOL // 2:]
        drawn = (rng or np.random.default_rng()).choice(rest, H_POOL // 2, replace=False)
        rows = np.union1d(rows[: H_POOL // 2], drawn)
    n_new = int(new.sum())
    rows = np.concatenate([rows, np.flatnonzero(new)])      # ids ascend: the new ones are the newest
    links = memory.links()
    sup = np.isin(ids[rows], np.fromiter(links.keys(), dtype=np.int64, count=len(links)))
    return SlotState(ids[rows].copy(), memory.embeddings[rows], int(ids.max()), memory.citations(), sup,
                     memory.tokens[rows], n_new)


def enforce(memory, budget: int, policy: str = "H", scorer: SlotScorer | None = None,
            new_ids=(), rng: np.random.Generator | None = None) -> list[int]:
    """Move memories out (to the archive) until at most `budget` remain; the new memories stay (the paper's
    H chooses the slot the new memory takes). Returns the ids moved out, oldest decision first."""
    out = []
    new = set(map(int, new_ids))
    replaced_by = max(new) if new else None
    while len(memory) > max(budget, 0):
        st = _eviction_state(memory, new, policy, rng)
        if st is None:
            break
        victim = int(st.ids[choose_slot(policy, st, scorer, rng)])
        if not memory.archive_out(victim, replaced_by):
            break
        out.append(victim)
    return out


def budget_of(fraction: float, length: int) -> int:
    return max(1, int(math.floor(fraction * length + 0.5)))
