"""Evaluation on bAbI: per-task answer accuracy and supporting-fact accuracy."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from chatmem.babi import Sample
from chatmem.data import SentenceTable, story_groups
from chatmem.features import StoryIndex, Vocab
from chatmem.model import MemNN
from chatmem.output import BEAM, Query, run_hops
from chatmem.response import decode

# Published results on the 1k training sets, test accuracy in percent.
# MemNN: strongly supervised, AM+NG+NL, one model per task (Weston et al. 2015, arXiv:1502.05698, Table 3).
PUBLISHED_MEMNN = {1: 100, 2: 100, 3: 100, 4: 100, 5: 98, 6: 100, 7: 85, 8: 91, 9: 100, 10: 98,
                   11: 100, 12: 100, 13: 100, 14: 99, 15: 100, 16: 100, 17: 65, 18: 95, 19: 36, 20: 100}
# The same model trained jointly on all tasks (ibid., Table 3, "multitask training").
PUBLISHED_MEMNN_JOINT = {1: 100, 2: 100, 3: 98, 4: 80, 5: 99, 6: 100, 7: 86, 8: 93, 9: 100, 10: 98,
                         11: 100, 12: 100, 13: 100, 14: 99, 15: 100, 16: 94, 17: 72, 18: 93, 19: 19, 20: 100}
# MemN2N: weakly supervised, best 1k joint model, PE LS RN joint (Sukhbaatar et al. 2015, arXiv:1503.08895,
# Table 1), 100 minus the published error.
PUBLISHED_MEMN2N = {1: 100.0, 2: 88.6, 3: 78.1, 4: 86.6, 5: 85.6, 6: 97.2, 7: 81.7, 8: 90.7, 9: 98.1, 10: 93.5,
                    11: 99.7, 12: 99.9, 13: 99.8, 14: 93.1, 15: 100.0, 16: 97.3, 17: 59.6, 18: 90.6, 19: 12.0, 20: 100.0}


@dataclass
class Prediction:
    sample: Sample
    answer: list[str]
    support: list[int]
    score: float

    @property
    def correct(self) -> bool:
        """Word for word, whatever the case: a copied name is written as the memories' tokens ("zolbaku")."""
        return [w.lower() for w in self.answer] == [w.lower() for w in self.sample.answer]

    @property
    def support_correct(self) -> bool:
        return set(self.support) == set(self.sample.support)


def predict(model: MemNN, vocab: Vocab, samples: Sequence[Sample], table: SentenceTable, batch: int = 256,
            progress=None, beam: int = BEAM, prune: bool = True) -> list[Prediction]:
    model.eval()
    gid = torch.as_tensor(table.gid)
    mini = torch.as_tensor(table.mini)
    queries: list[tuple[Sample, Query]] = []
    for group in story_groups(samples):
        story = group[-1].story
        mem_rows = np.array([table.row[t] for t in story], dtype=np.int64)
        idx = StoryIndex([table.tokens[r] for r in mem_rows], vocab)
        for s in group:
            q_row = table.row[s.question]
            n = len(s.story)
            queries.append((s, Query(idx, mem_rows, q_row, table.tokens[q_row], n)))
    # Batches pad every question to the longest story in them: batch similar lengths together.
    order = sorted(range(len(queries)), key=lambda k: queries[k][1].n)
    out: list[Prediction | None] = [None] * len(queries)
    for i in range(0, len(order), batch):
        ks = order[i: i + batch]
        chunk = [queries[k][1] for k in ks]
        run_hops(model, gid, mini, chunk, beam=beam, prune=prune)
        responses = decode(model, vocab, gid, mini, chunk)
        for k, q, r in zip(ks, chunk, responses):
            out[k] = Prediction(queries[k][0], r.words, list(q.chosen), r.score)
        if progress is not None:
            progress(len(chunk))
    return out


def summarize(preds: Sequence[Prediction]) -> dict:
    tasks: dict[int, list[Prediction]] = {}
    for p in preds:
        tasks.setdefault(p.sample.task, []).append(p)
    res = {}
    for t in sorted(tasks):
        ps = tasks[t]
        res[str(t)] = {"accuracy": float(np.mean([p.correct for p in ps])),
                       "support_accuracy": float(np.mean([p.support_correct for p in ps])),
                       "questions": len(ps)}
    accs = [v["accuracy"] for v in res.values()]
    return {"tasks": res, "mean_accuracy": float(np.mean(accs)) if accs else 0.0,
            "passed": int(sum(a >= 0.95 for a in accs))}


def format_table(summary: dict) -> str:
    published = (PUBLISHED_MEMNN, PUBLISHED_MEMNN_JOINT, PUBLISHED_MEMN2N)
    lines = [f"{'task':>4}  {'accuracy':>8}  {'support':>8}  {'questions':>9}  {'MemNN':>7}  {'MemNN joint':>11}  {'MemN2N joint':>12}"]
    for t, v in summary["tasks"].items():
        ti = int(t)
        lines.append(f"{ti:>4}  {100 * v['accuracy']:>7.1f}%  {100 * v['support_accuracy']:>7.1f}%  {v['questions']:>9}  "
                     + "  ".join(f"{p[ti]:>{w}.1f}%" for p, w in zip(published, (6, 10, 11))))
    ts = [int(t) for t in summary["tasks"]]
    if ts:
        sup = np.mean([v["support_accuracy"] for v in summary["tasks"].values()])
        lines.append(f"{'mean':>4}  {100 * summary['mean_accuracy']:>7.1f}%  {100 * sup:>7.1f}%  {'':>9}  "
                     + "  ".join(f"{np.mean([p[t] for t in ts]):>{w}.1f}%" for p, w in zip(published, (6, 10, 11))))
        lines.append(f"passed (>= 95%): {summary['passed']} of {len(ts)}   (published: "
                     + ", ".join(f"{n} {sum(p[t] >= 95 for t in ts)}" for n, p in zip(("MemNN", "MemNN joint", "MemN2N joint"), published)) + ")")
    return "\n".join(lines)


def timed(fn, *a, **k):
    t0 = time.perf_counter()
    r = fn(*a, **k)
    return r, time.perf_counter() - t0
