"""O: choose supporting memories hop by hop until the learned STOP wins.

o1 = argmax_i s_O(x, m_i); o2 = argmax_i s_O([x, m_o1], m_i); ... With beam > 1 the argmax is
taken over whole chains (the sum of hop scores), so a first hop is judged by where it leads:
path finding needs that. Questions are batched, so evaluation and replays score many at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from chatmem.features import F_O, L, MAX_HOPS, N_REFS, StoryIndex, o_features
from chatmem.model import NEG, MemNN, OTable

BEAM = 3


@dataclass
class Query:
    idx: StoryIndex                 # the memories' token tables
    mem_rows: np.ndarray            # sentence-table row of each memory, oldest first
    q_row: int
    q_toks: tuple[str, ...]
    n: int                          # memories visible to this question
    chosen: list[int] = field(default_factory=list)
    hop_scores: list[float] = field(default_factory=list)
    trace: list[list[tuple[int, float]]] = field(default_factory=list)   # per hop: top (memory index or -1 STOP, score)
    hop1: np.ndarray | None = None  # s_O(x, m_i) of every visible memory at the first hop: O's ranking
    prior: np.ndarray | None = None  # the relevance term added at the first hop (chatmem.relevance)
    alpha: float = 1.0              # the weight on s_O at the first hop (chatmem.relevance)
    retrieved: bool = False         # the memories are a retriever's candidates, not all of them
    pool: tuple[np.ndarray, np.ndarray] | None = None   # memories the relevance term ranked, and its scores
    # scores of the hops after the first in place of s_O's (chatmem.hop2.Later): later(chosen, hop) gives one
    # per memory and STOP last, or None to keep s_O's
    later: Callable[[list[int], int], np.ndarray] | None = None
    # STOP may win the first hop. Not where the relevance term is added: it is trained to rank memories among
    # themselves, so its offset, which nothing trains, would decide STOP against them (R's gate declines instead)
    first_stop: bool = True


@dataclass
class _Hyp:
    q: Query
    chosen: list[int]
    scores: list[float]
    trace: list
    total: float = 0.0


def _score_o(model: MemNN, gid: torch.Tensor, mini: torch.Tensor, active: list[_Hyp], qinfo: dict, hop: int,
             C: int, table: OTable) -> torch.Tensor:
    """s_O of every candidate (and STOP, at column n) for each chain's next hop: (H, C)."""
    H = len(active)
    rows = np.full((H, C), -1, dtype=np.int64)
    F = np.zeros((H, C, F_O), dtype=np.float32)
    M = np.zeros((H, C, N_REFS, L), dtype=bool)
    prev = np.full((H, 2), -1, dtype=np.int64)
    chosen = np.full((H, MAX_HOPS), -1, dtype=np.int64)
    for i, hy in enumerate(active):
        q = hy.q
        q_lid, q_content = qinfo[id(q)]
        f, m = o_features(q.idx, q.n, q_lid, q_content, hy.chosen)
        rows[i, : q.n] = q.mem_rows[: q.n]
        F[i, : q.n + 1] = f
        M[i, : q.n + 1] = m
        p = [q.mem_rows[c] for c in hy.chosen[::-1][:2]] + [-1, -1]
        prev[i] = p[:2]
        chosen[i, : len(hy.chosen)] = q.mem_rows[hy.chosen[:MAX_HOPS]]
    with torch.inference_mode():
        return model.score_o(gid, mini, torch.as_tensor([h.q.q_row for h in active]), torch.as_tensor(prev),
                             torch.as_tensor(chosen), torch.full((H,), hop), torch.as_tensor(rows), torch.as_tensor(F),
                             torch.as_tensor(M), table=table)


def run_hops(model: MemNN, gid: torch.Tensor, mini: torch.Tensor, queries: list[Query], top: int = 5,
             max_hops: int = MAX_HOPS, beam: int = BEAM, prune: bool = True) -> None:
    """Fill `chosen`, `hop_scores` and `trace` of every query. `prune` only saves work (see below)."""
    qinfo = {}
    for q in queries:
        _, q_lid, q_content = q.idx.query(q.q_toks)
        qinfo[id(q)] = (q_lid, q_content)
    active = [_Hyp(q, [], [], []) for q in queries if q.n > 0]
    finished: dict[int, list[_Hyp]] = {id(q): [] for q in queries}
    table = None                                      # s_O's view of the sentence table, the same at every hop
    for hop in range(max_hops + 1):
        if not active:
            break
        C = max(h.q.n for h in active) + 1
        H = len(active)
        # A learned later hop (chatmem.hop2.Later) replaces a chain's whole row of s_O: where it replaces every
        # row, s_O is not run. (Where it leaves some to s_O, s_O still scores them all: a batch of another size
        # may round differently in the last bit.)
        later = [None if hop == 0 or hy.q.later is None else hy.q.later(hy.chosen, hop) for hy in active]
        valid = np.zeros((H, C), dtype=bool)
        for i, hy in enumerate(active):
            q = hy.q
            valid[i, : q.n] = hop < max_hops
            valid[i, hy.chosen] = False
            valid[i, q.n] = hop > 0 or q.first_stop           # STOP (its row is -1)
        if any(lt is None for lt in later):
            if table is None:
                with torch.inference_mode():
                    table = model.o_table(gid, mini)
            s = _score_o(model, gid, mini, active, qinfo, hop, C, table)
        else:
            s = torch.zeros((H, C))
        if hop == 0 and any(h.q.prior is not None for h in active):     # s_O1 = α s_O + r
            add = np.zeros((H, C), dtype=np.float32)
            scale = np.ones((H, 1), dtype=np.float32)
            for i, hy in enumerate(active):
                if hy.q.prior is not None:
                    add[i, : hy.q.n] = hy.q.prior
                    scale[i] = hy.q.alpha
            s = s * torch.as_tensor(scale) + torch.as_tensor(add)
        if any(lt is not None for lt in later):                         # a learned second hop, then STOP
            s = s.clone()
            for i, hy in enumerate(active):
                if later[i] is not None:
                    s[i, : hy.q.n + 1] = torch.as_tensor(later[i])
        s = torch.where(torch.as_tensor(valid), s, torch.full_like(s, NEG))
        logp = torch.log_softmax(s, -1).numpy()   # chains are ranked by the sum of per-hop log-probabilities
        s = s.numpy()
        expanded: dict[int, list[_Hyp]] = {}
        for i, hy in enumerate(active):
            q = hy.q
            if hop == 0:
                q.hop1 = s[i, : q.n].copy()
            order = np.argsort(-s[i])
            order = order[valid[i, order]]
            trace = hy.trace + [[(int(c) if c < q.n else -1, float(s[i, c])) for c in order[:top]]]
            for c in order[:beam]:
                c = int(c)
                sc, lp = float(s[i, c]), float(logp[i, c])
                if c >= q.n:
                    finished[id(q)].append(_Hyp(q, hy.chosen, hy.scores, trace, hy.total + lp))
                else:
                    expanded.setdefault(id(q), []).append(
                        _Hyp(q, hy.chosen + [c], hy.scores + [sc], trace, hy.total + lp))
        active = []
        for key, hyps in expanded.items():
            hyps.sort(key=lambda h: -h.total)
            # Hop log-probabilities are <= 0, so a chain can only lose score as it grows: one that is already
            # no better than a finished chain of its question can never win. Dropping it changes no answer.
            done = finished[key]
            floor = max(h.total for h in done) if done and prune else -np.inf
            active += [h for h in hyps[:beam] if h.total > floor]
    for q in queries:
        done = finished[id(q)]
        if done:
            best = max(done, key=lambda h: h.total)
            q.chosen, q.hop_scores, q.trace = list(best.chosen), list(best.scores), best.trace
