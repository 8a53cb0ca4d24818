"""O's second hop for everyday conversations: a trained scorer of o2 (or STOP) given the question and o1.

    o2 = argmax_i s_O2([x, m_o1], m_i), with STOP among the choices

The bAbI-trained s_O reads 12 word positions and bAbI's vocabulary. In everyday memories it rarely takes a
second hop through a person ("Where does the person who borrowed my ladder live?": o1 "I lent my ladder to
Kevin.", o2 "Kevin lives at 12 Birch Lane."), and on long conversations it hardly ever stops: on LoCoMo 948
of 999 answers cited 8 memories, the hop limit. This scorer has the paper's form, a MiniLM bilinear term

    Φ(x + m_o1)ᵀ UᵀU Φ(m_i) + MLP(match(x, m_i), match(bridge, m_i), order)

where `match` are the relevance term's word-identity features (chatmem.relevance, paper §3.6) and `bridge` is
what o1 adds to the question: its content words that the question does not have ("kevin"). STOP is scored
from how much of the question o1 already covers and how well any memory matches the bridge. It is used where
the relevance term's α says s_O does not know the question and the memories (chatmem.bot), and O then takes
at most two hops, as in the paper's experiments. Trained by chatmem.hop2_train on generated conversations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from chatmem.relevance import NF, QWORDS, Candidates, _content

NF2 = 2 * NF + 4     # match to the question, match to the bridge, order relative to o1
NS = 14 + len(QWORDS) + 1


@dataclass
class Hop2Config:
    minilm_dim: int = 384
    d: int = 64
    hidden: int = 32

    def to_json(self) -> dict:
        return asdict(self)


class SecondHop(nn.Module):
    def __init__(self, cfg: Hop2Config):
        super().__init__()
        self.cfg = cfg
        self.U = nn.Linear(cfg.minilm_dim, cfg.d, bias=False)
        self.mlp = nn.Sequential(nn.Linear(NF2, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(),
                                 nn.Linear(cfg.hidden, 1))
        self.stop = nn.Sequential(nn.Linear(NS, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, 1))
        nn.init.normal_(self.U.weight, std=0.02)

    def forward(self, xm_mini: torch.Tensor, m_mini: torch.Tensor, feats: torch.Tensor, sfeats: torch.Tensor,
                m_proj: torch.Tensor | None = None) -> torch.Tensor:
        """xm_mini (Q, 384): question + o1; m_mini (Q, C, 384); feats (Q, C, NF2); sfeats (Q, NS)
        -> (Q, C + 1) scores, STOP last. m_proj: U(m_mini), if at hand (the same for every o1)."""
        u = self.U(xm_mini)
        v = self.U(m_mini) if m_proj is None else m_proj
        s = (v * u[:, None, :]).sum(-1) + self.mlp(feats).squeeze(-1)
        return torch.cat([s, self.stop(sfeats)], 1)


def bridge(q_tokens: Sequence[str], first_tokens: Sequence[str]) -> list[str]:
    """What o1 adds to the question: its content words the question does not have."""
    q = set(q_tokens)
    return [w for w in dict.fromkeys(_content(first_tokens)) if w not in q]


def features(q_tokens: Sequence[str], q_mini: np.ndarray, cands: Candidates, first: int,
             fx: np.ndarray | None = None, names: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(C, NF2) features of every candidate as o2 after o1 = cands[first], (NS,) STOP's, and x + m_o1's
    MiniLM vector. `fx`: the question's match features over `cands`, if already computed (they do not depend
    on o1); `names`: the question's (chatmem.relevance.question_names)."""
    if fx is None:
        fx = cands.features(q_tokens, q_mini, names)
    m1 = np.asarray(cands.mini[first], dtype=np.float32)
    b = bridge(q_tokens, cands.tokens[first])
    fb = cands.features(b, m1) if b else np.zeros_like(fx)
    if not b:
        fb[:, 0] = cands.mini @ m1
    C = len(fx)
    pos = np.asarray(cands.positions, dtype=np.float32)
    # how many candidates apart, besides how far in time: among a crowd's hundreds of candidates an update sits
    # a few places after the value it replaces, a hundredth of the way, as far as a tenth in one conversation
    places = np.abs(np.argsort(np.argsort(pos, kind="stable"), kind="stable") - np.sum(pos < pos[first]))
    order = np.stack([np.sign(pos - pos[first]), np.abs(pos - pos[first]), np.zeros(C, np.float32),
                      np.log1p(places) / 3], 1)
    order[first, 2] = 1.0            # o1 itself (never valid; kept so the shapes stay aligned)
    F = np.concatenate([fx, fb, order], 1).astype(np.float32)
    others = np.arange(C) != first
    top = lambda col: float(col[others].max()) if others.any() else 0.0   # noqa: E731
    qw = next((w for w in q_tokens if w in QWORDS), None)
    S = np.zeros(NS, dtype=np.float32)
    # The names columns: where o1 holds every name the question has, a memory without them is someone else's.
    S[:14] = [fx[first, 3], fx[first, 4], fx[first, 0], top(fx[:, 3]), top(fx[:, 1]), top(fb[:, 3]), top(fb[:, 1]),
              top(fb[:, 0]), np.log1p(len(b)) / 3, np.log1p(len(_content(q_tokens))) / 3,
              fx[first, 12], fx[first, 13], top(fx[:, 12]), fx[first, 14]]     # 14: o1 has newer look-alikes
    S[14 + (QWORDS.index(qw) if qw else len(QWORDS))] = 1.0
    xm = np.asarray(q_mini, dtype=np.float32) + m1
    return F, S, xm / (np.linalg.norm(xm) + 1e-6)


KNOWN_O1 = 0.6     # o1 with at least this share of its words in s_O's vocabulary: s_O goes on from it


def known_share(tokens: Sequence[str], known) -> float:
    return float(np.mean([w in known for w in tokens])) if tokens else 1.0


class Later:
    """What O's hops after the first score for one question (chatmem.output.Query.later): at the second hop
    this scorer over the candidates and STOP, from the third on STOP alone. Where o1 is a sentence s_O knows
    (KNOWN_O1 of its words in s_O's vocabulary: a bAbI-style "Mary picked up the football." among everyday
    memories), None: s_O chains on from it as trained ("Where is the football?" needs Mary's next move).
    Per memory that share is at least 0.67 for 99% of bAbI training sentences with every name, place and object
    renamed, and below 0.6 for 95% of generated facts and 99% of LoCoMo turns."""

    def __init__(self, model: SecondHop, q_tokens: Sequence[str], q_mini: np.ndarray, cands: Candidates,
                 names: Sequence[str] = ()):
        self.model, self.q_tokens, self.q_mini, self.cands, self.names = model, q_tokens, q_mini, cands, names
        self._memo: dict[int, np.ndarray] = {}
        self._fx: np.ndarray | None = None      # the question's match features: the same for every o1
        self._proj: tuple[torch.Tensor, torch.Tensor] | None = None    # the candidates' MiniLM rows and U of them

    def __call__(self, chosen: Sequence[int], hop: int) -> np.ndarray | None:
        n = len(self.cands.tokens)
        first = int(chosen[0])
        if self.cands.known and known_share(self.cands.tokens[first], self.cands.known) >= KNOWN_O1:
            return None
        if hop >= 2:
            out = np.full(n + 1, -1e4, dtype=np.float32)
            out[n] = 0.0
            return out
        if first not in self._memo:
            if self._fx is None:
                self._fx = self.cands.features(self.q_tokens, self.q_mini, self.names)
            F, S, xm = features(self.q_tokens, self.q_mini, self.cands, first, self._fx)
            with torch.inference_mode():
                if self._proj is None:
                    mini = torch.as_tensor(np.asarray(self.cands.mini, np.float32)[None])
                    self._proj = (mini, self.model.U(mini))
                s = self.model(torch.as_tensor(xm[None]), self._proj[0], torch.as_tensor(F[None]),
                               torch.as_tensor(S[None]), self._proj[1])
            self._memo[first] = s[0].numpy()
        return self._memo[first]
