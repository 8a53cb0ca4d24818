"""R: answer words from the question and the supporting memories.

r = argmax_w s_R([x, m_o1, m_o2, ...], w) over R's dictionary and the words of the supporting
memories; multi-word answers (lists, paths) go on until the STOP word wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from chatmem.features import KR, L, MAX_ANSWER_WORDS, Vocab, r_input
from chatmem.model import NEG, MemNN
from chatmem.output import Query


@dataclass
class Response:
    words: list[str]
    score: float       # the first word's score margin over the best other word: the answer's confidence


def answer_tables(vocab: Vocab) -> np.ndarray:
    """Global word id -> R dictionary index (-1 if the word is not in the dictionary): a copy to keep."""
    return vocab.answer_of().copy()


def _word_like(w: str) -> bool:
    return w[:1].isalnum() and w != "n't"


def decode(model: MemNN, vocab: Vocab, gid: torch.Tensor, mini: torch.Tensor, queries: list[Query]) -> list[Response]:
    if not queries:
        return []
    H = len(queries)
    A = len(vocab.answers)
    ans_of = vocab.answer_of()
    ris = [r_input(q.idx, q.q_toks, q.chosen) for q in queries]
    s_rows = np.full((H, KR), -1, dtype=np.int64)
    for h, q in enumerate(queries):
        sup = q.chosen[:KR]
        s_rows[h, : len(sup)] = q.mem_rows[sup]
    s_gid = np.stack([r.s_gid for r in ris])
    s_lid = np.stack([r.s_lid for r in ris])
    pos2ans = np.where(s_gid.reshape(H, -1) > 1, ans_of[s_gid.reshape(H, -1)], -1)
    pos2ans[s_lid.reshape(H, -1) < 0] = -1
    base = dict(
        sent_gid=gid, sent_mini=mini, q_row=torch.as_tensor([q.q_row for q in queries]),
        s_rows=torch.as_tensor(s_rows), s_gid=torch.as_tensor(s_gid), s_lid=torch.as_tensor(s_lid),
        q_match=torch.as_tensor(np.stack([r.q_match for r in ris])),
        s_match=torch.as_tensor(np.stack([r.s_match for r in ris])),
        pos_feat=torch.as_tensor(np.stack([r.pos_feat for r in ris])),
        n_sup=torch.as_tensor([r.n_support for r in ris]), pos2ans=torch.as_tensor(pos2ans),
        seq_gid=torch.as_tensor(np.stack([r.seq_gid for r in ris])),
        seq_seg=torch.as_tensor(np.stack([r.seq_seg for r in ris])),
        seq_flag=torch.as_tensor(np.stack([r.seq_flag for r in ris])),
        seq_len=torch.as_tensor([r.seq_len for r in ris]),
        seq_index=torch.as_tensor(np.stack([r.seq_index for r in ris])),
        ans_mask=torch.ones(H, A, dtype=torch.bool),
    )
    prev_gid = np.full((H, MAX_ANSWER_WORDS), -1, dtype=np.int64)
    prev_ans = np.full((H, MAX_ANSWER_WORDS), -1, dtype=np.int64)
    prev_lid = np.full((H, MAX_ANSWER_WORDS), -1, dtype=np.int64)
    words: list[list[str]] = [[] for _ in queries]
    margins = np.zeros(H)
    first = [None] * H
    done = np.zeros(H, dtype=bool)
    flat_lid = s_lid.reshape(H, -1)
    # A copied answer word is a word: never a clitic ("'s" of "he's a pilot" answered "What does Chidi do?")
    copyable = torch.as_tensor(np.array([[lid >= 0 and _word_like(q.idx.word(int(lid))) for lid in row]
                                         for q, row in zip(queries, flat_lid)], dtype=bool).reshape(H, -1))
    shared = {"sent_gid", "sent_mini"}
    with torch.inference_mode():
        reader = model.read(base["seq_gid"], base["seq_seg"], base["seq_flag"], base["seq_len"])
    ctx, n_ctx = None, -1
    for t in range(MAX_ANSWER_WORDS + 1):
        live = np.flatnonzero(~done)       # only questions still answering: most stop after one word
        if len(live) != n_ctx:             # what stays the same from word to word, for the questions still answering
            if len(live) == H:
                part, rd = base, reader
            else:
                at = torch.as_tensor(live)
                part = {k: (v if k in shared else v[at]) for k, v in base.items()}
                rd = (reader[0][at], reader[1][at])
            with torch.inference_mode():
                ctx, n_ctx = model.r_context(**part, reader=rd), len(live)
        with torch.inference_mode():
            scores, mask = model.r_step(ctx, torch.full((len(live),), t), torch.as_tensor(prev_gid[live]),
                                        torch.as_tensor(prev_ans[live]), torch.as_tensor(prev_lid[live]))
            if t == 0:
                mask[:, A:] &= copyable[live]     # an answer's first word (later, "umar 's office" keeps its "'s")
                mask[:, 0] = False if MAX_ANSWER_WORDS else mask[:, 0]   # an answer has at least one word
            if t == MAX_ANSWER_WORDS:
                mask[:, 1:] = False
                mask[:, 0] = True
            s = torch.where(mask, scores, torch.full_like(scores, NEG)).numpy()
        for j, h in enumerate(live.tolist()):
            best = int(np.argmax(s[j]))
            if t == 0:
                first[h] = s[j].copy()
            if best == 0:
                done[h] = True
                continue
            if best < A:
                w = vocab.answers[best]
                prev_ans[h, t] = best
                prev_gid[h, t] = vocab.id(w)
                prev_lid[h, t] = queries[h].idx.lid_of(w)
            else:
                lid = int(flat_lid[h, best - A])
                w = queries[h].idx.word(lid)
                prev_lid[h, t] = lid
                prev_gid[h, t] = vocab.id(w)
            words[h].append(w)
        if done.all():
            break
    # Confidence: the first word's lead over the best candidate that is none of the answer's words. The same
    # word in another slot, or the other items of a list ("football,milk" vs "milk,football"), is no rival.
    for h in range(H):
        rival = first[h].copy()
        for w in set(words[h]):
            if w in vocab.answer_index:
                rival[vocab.answer_index[w]] = -np.inf
            lid = queries[h].idx.lid_of(w, None)
            if lid is not None:
                rival[A:][flat_lid[h] == lid] = -np.inf
        rival = rival[rival > NEG / 2]
        lead = first[h].max()
        margins[h] = lead - rival.max() if rival.size else lead
    return [Response(w, float(m)) for w, m in zip(words, margins)]
