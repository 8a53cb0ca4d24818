"""bAbI samples -> arrays for training and evaluation (teacher-forced O hops and R steps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from chatmem.babi import Sample
from chatmem.features import (F_O, KR, L, MAX_ANSWER_WORDS, MAX_HOPS, N_REFS, StoryIndex, Vocab, o_features,
                              r_input)


@dataclass
class SentenceTable:
    """Every distinct sentence once: token ids and its MiniLM embedding."""

    texts: list[str]
    tokens: list[tuple[str, ...]]
    gid: np.ndarray
    mini: np.ndarray
    row: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.row = {t: i for i, t in enumerate(self.texts)}


def build_table(texts: Sequence[str], vocab: Vocab, tokenize: Callable, encode: Callable) -> SentenceTable:
    uniq = list(dict.fromkeys(texts))
    toks = [tokenize(t) for t in uniq]
    gid = np.stack([vocab.ids(t) for t in toks]) if uniq else np.zeros((0, L), dtype=np.int64)
    return SentenceTable(uniq, toks, gid, encode(uniq))


def samples_table(samples: Sequence[Sample], vocab: Vocab, encoder=None) -> SentenceTable:
    """The table of the samples' story sentences and questions: tokens, word ids and MiniLM rows (cached on disk)."""
    from chatmem.input import tokenize
    from chatmem.train import all_texts
    from chatmem.util import minilm_cached

    return build_table(all_texts(samples), vocab, tokenize, lambda ts: minilm_cached(ts, encoder))


def story_groups(samples: Sequence[Sample]) -> list[list[Sample]]:
    """Consecutive questions of one story share the growing story prefix."""
    groups: list[list[Sample]] = []
    for s in samples:
        if groups:
            last = groups[-1][-1]
            if s.task == last.task and len(s.story) >= len(last.story) and s.story[: len(last.story)] == last.story:
                groups[-1].append(s)
                continue
        groups.append([s])
    return groups


@dataclass
class Encoded:
    table: SentenceTable
    # O: one row per (question, hop); candidates are ragged, row -1 is STOP
    o_q: np.ndarray
    o_prev: np.ndarray
    o_chosen: np.ndarray
    o_hop: np.ndarray
    o_off: np.ndarray
    o_gold: np.ndarray
    o_rows: np.ndarray
    o_F: np.ndarray
    o_M: np.ndarray
    # R: one row per (question, answer step)
    r: dict[str, np.ndarray]


def encode_samples(samples: Sequence[Sample], vocab: Vocab, table: SentenceTable) -> Encoded:
    o_q, o_prev, o_chosen, o_hop, o_off, o_gold = [], [], [], [], [0], []
    rows_l, F_l, M_l = [], [], []
    R: dict[str, list] = {k: [] for k in ("q", "s_rows", "s_gid", "s_lid", "q_match", "s_match", "pos_feat", "n_sup",
                                          "step", "prev_gid", "prev_lid", "gold_ans", "gold_gid", "gold_lid", "task",
                                          "seq_gid", "seq_seg", "seq_flag", "seq_len", "seq_index")}
    for group in story_groups(samples):
        story = group[-1].story
        mem_rows = np.array([table.row[t] for t in story], dtype=np.int64)
        idx = StoryIndex([table.tokens[r] for r in mem_rows], vocab)
        for s in group:
            n = len(s.story)
            q_row = table.row[s.question]
            q_toks = table.tokens[q_row]
            _, q_lid, q_content = idx.query(q_toks)
            support = list(s.support)[:MAX_HOPS]
            for k in range(len(support) + 1):
                chosen = support[:k]
                F, M = o_features(idx, n, q_lid, q_content, chosen)
                gold = support[k] if k < len(support) else n            # n is STOP
                cand = np.concatenate([mem_rows[:n], [-1]])
                o_q.append(q_row)
                prev = [mem_rows[c] for c in chosen[::-1][:2]] + [-1, -1]
                o_prev.append(prev[:2])
                ch = [mem_rows[c] for c in chosen] + [-1] * (MAX_HOPS - len(chosen))
                o_chosen.append(ch[:MAX_HOPS])
                o_hop.append(k)
                o_gold.append(gold)
                rows_l.append(cand)
                F_l.append(F)
                M_l.append(M)
                o_off.append(o_off[-1] + n + 1)
            ri = r_input(idx, q_toks, support)
            s_rows = [mem_rows[m] for m in support[:KR]] + [-1] * (KR - min(KR, len(support)))
            words = list(s.answer)[:MAX_ANSWER_WORDS]
            lids = [idx.lid_of(w) for w in words]
            for t in range(len(words) + 1):
                R["q"].append(q_row)
                R["s_rows"].append(s_rows)
                R["s_gid"].append(ri.s_gid)
                R["s_lid"].append(ri.s_lid)
                R["q_match"].append(ri.q_match)
                R["s_match"].append(ri.s_match)
                R["pos_feat"].append(ri.pos_feat)
                R["n_sup"].append(ri.n_support)
                R["seq_gid"].append(ri.seq_gid)
                R["seq_seg"].append(ri.seq_seg)
                R["seq_flag"].append(ri.seq_flag)
                R["seq_len"].append(ri.seq_len)
                R["seq_index"].append(ri.seq_index)
                R["step"].append(t)
                prev = [vocab.id(w) for w in words[:t]] + [-1] * (MAX_ANSWER_WORDS - t)
                R["prev_gid"].append(prev)
                R["prev_lid"].append(lids[:t] + [-1] * (MAX_ANSWER_WORDS - t))
                if t < len(words):
                    R["gold_ans"].append(vocab.answer_index.get(words[t], -1))
                    R["gold_gid"].append(vocab.id(words[t]))
                    R["gold_lid"].append(lids[t])
                else:
                    R["gold_ans"].append(0)
                    R["gold_gid"].append(0)
                    R["gold_lid"].append(-1)
                R["task"].append(s.task)
    return Encoded(
        table,
        np.array(o_q), np.array(o_prev, dtype=np.int64).reshape(-1, 2), np.array(o_chosen, dtype=np.int64),
        np.array(o_hop), np.array(o_off), np.array(o_gold),
        np.concatenate(rows_l), np.concatenate(F_l), np.concatenate(M_l),
        {k: np.asarray(v) for k, v in R.items()},
    )
