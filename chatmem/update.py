"""G's update (paper §2: m_i = G(m_i, I(x), m)): a new statement may supersede an older one.

A small trained scorer looks at pairs (old memory, new statement): MiniLM embeddings of both and word-match
features, and says whether the new one replaces what the old one stated ("The gate code is now 4417." after
"The gate code is 2290."). G then links the two: the old memory is marked superseded by the new one. The mark
deletes nothing; O reads it as a feature (a learned penalty on a superseded memory's first-hop score).

Trained by `chatmem train --stage update` (chatmem.update_train) on the generator's labelled updates and on
bAbI's moves and object transfers; it ships in the model checkpoint under the prefix "update".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from chatmem.features import STOP_WORDS

DIM = 384
N_MATCH = 9          # word-match features per pair (match_features)
CANDIDATES = 16      # older live memories scored per new statement: the MiniLM-nearest


@dataclass
class UpdateConfig:
    dim: int = DIM
    hidden: int = 64
    threshold: float = 0.5         # link when the best candidate's probability reaches it (chosen on validation)
    penalty: float = 0.0           # O: subtracted from a superseded memory's first-hop score (fitted)

    def to_json(self) -> dict:
        return asdict(self)


def content(tokens: Sequence[str]) -> list[str]:
    return [w for w in tokens if w not in STOP_WORDS]


def match_features(old: Sequence[str], new: Sequence[str], cos: float, best_cos: float, gap: int) -> list[float]:
    """How the words of two statements meet: shares of each side's content words, the subject (first content
    word) found in the other, the other side's new words, the MiniLM cosine, its distance from the best
    candidate's, and how many memories lie between them."""
    co, cn = content(old), content(new)
    so, sn = set(co), set(cn)
    shared = len(so & sn)
    return [cos, cos - best_cos, shared / max(len(so), 1), shared / max(len(sn), 1), min(shared, 5) / 5,
            float(bool(co) and co[0] in sn), float(bool(cn) and cn[0] in so), len(sn - so) / max(len(sn), 1),
            math.log1p(max(gap, 0)) / 5]


def pair_inputs(old_tokens: Sequence[Sequence[str]], old_emb: np.ndarray, new_tokens: Sequence[str],
                new_emb: np.ndarray, gaps: Sequence[int]) -> np.ndarray:
    """(k, 3 dim + N_MATCH) inputs for k candidates of one new statement."""
    old_emb = np.asarray(old_emb, dtype=np.float32).reshape(len(old_tokens), -1)
    new_emb = np.asarray(new_emb, dtype=np.float32)
    cos = old_emb @ new_emb
    best = float(cos.max()) if len(cos) else 0.0
    m = np.array([match_features(o, new_tokens, float(c), best, g) for o, c, g in zip(old_tokens, cos, gaps)],
                 dtype=np.float32).reshape(len(old_tokens), N_MATCH)
    k = len(old_tokens)
    return np.concatenate([old_emb * new_emb, new_emb - old_emb, np.broadcast_to(new_emb, (k, len(new_emb))), m], 1)


class UpdateScorer(nn.Module):
    """p(new supersedes old) from one pair's inputs."""

    def __init__(self, cfg: UpdateConfig):
        super().__init__()
        self.cfg = cfg
        self.net = nn.Sequential(nn.Linear(3 * cfg.dim + N_MATCH, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    @torch.no_grad()
    def prob(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        return torch.sigmoid(self(torch.as_tensor(x))).numpy()


@dataclass(frozen=True)
class Link:
    old: int          # memory id
    new: int
    score: float


def candidates(emb: np.ndarray, live: np.ndarray, new_emb: np.ndarray, k: int = CANDIDATES) -> np.ndarray:
    """Rows of `emb` (only those where `live`) the new statement is compared with: its MiniLM-nearest."""
    rows = np.flatnonzero(live)
    if len(rows) > k:
        cos = emb[rows] @ new_emb
        rows = np.sort(rows[np.argpartition(-cos, k)[:k]])
    return rows


def best_link(scorer: UpdateScorer, tokens: Sequence[Sequence[str]], emb: np.ndarray, live: np.ndarray,
              new_tokens: Sequence[str], new_emb: np.ndarray, new_row: int) -> tuple[int, float] | None:
    """The older memory row the new statement (at row `new_row`) most likely supersedes, with its probability,
    if that reaches the scorer's threshold."""
    rows = candidates(emb[:new_row], live[:new_row], new_emb)
    if len(rows) == 0:
        return None
    p = scorer.prob(pair_inputs([tokens[r] for r in rows], emb[rows], new_tokens, new_emb, new_row - rows))
    j = int(np.argmax(p))
    return (int(rows[j]), float(p[j])) if p[j] >= scorer.cfg.threshold else None


def link_new(scorer: UpdateScorer, memory, new_ids: Sequence[int]) -> list[Link]:
    """G's update for memories just written: link each to the older live memory it supersedes, if any."""
    links = memory.links()
    out = []
    ids = memory.ids
    emb = memory.embeddings
    live = ~np.isin(ids, np.fromiter(links.keys(), dtype=np.int64, count=len(links)))
    for mid in new_ids:
        row = memory.index_of(mid)
        if row is None or row == 0:
            continue
        lo = max(0, row - 4096)             # a long store: the newest few thousand are where updates land
        toks = memory.tokens[lo:row + 1]
        got = best_link(scorer, toks, emb[lo:row + 1], live[lo:row + 1], toks[-1], emb[row], row - lo)
        if got is not None:
            old = int(ids[lo + got[0]])
            out.append(Link(old, int(mid), got[1]))
            live[lo + got[0]] = False
    if out:
        memory.link(out)
    return out


def superseded_mask(memory, rows: np.ndarray) -> np.ndarray:
    """1.0 where the memory at each row is superseded by a newer one."""
    links = memory.links()
    if not links:
        return np.zeros(len(rows), dtype=np.float32)
    sup = np.fromiter(links.keys(), dtype=np.int64, count=len(links))
    return np.isin(memory.ids[np.asarray(rows, dtype=np.int64)], sup).astype(np.float32)
