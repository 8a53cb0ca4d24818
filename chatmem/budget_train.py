"""Training H (chatmem.budget): `chatmem train --stage budget`.

Training stories (the generator's train split and bAbI training stories) are played into a bounded memory at
budgets of 10%, 25% and 50% of their length, the slot chosen at random (so H sees stores of every kind). At
each eviction every memory in store is an example: its features as H would read them then, and whether a
later question of the story uses it as a supporting fact. Citations are the supporting facts of the questions
already asked (what a right O cites); superseded marks come from the trained update scorer, as at inference.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from chatmem.budget import BudgetConfig, SlotScorer, SlotState, budget_of, slot_features
from chatmem.update_train import (UpdateTrainConfig, _story_arrays, _tokenize_all, embed_all, predict_links,
                                  training_stories)

FRACTIONS = (0.1, 0.25, 0.5)


@dataclass
class BudgetTrainConfig:
    seed: int = 0
    epochs: int = 6
    lr: float = 2e-3


def story_examples(st, e: np.ndarray, links: list, frac: float, rng: np.random.Generator):
    """(features with embeddings, labels) of every memory in store at each eviction of one story."""
    n_all = len(st.texts)
    budget = budget_of(frac, n_all)
    needed_after = np.full(n_all, -1)            # the last question (by position) that needs each row
    for k, _, _, sup in st.questions:
        for r in sup:
            needed_after[r] = max(needed_after[r], k)
    qs = sorted(st.questions)
    cited: dict[int, tuple[int, int]] = {}
    sup_by: dict[int, int] = {}
    store: list[int] = []
    xs, ys = [], []
    qi = 0
    for n in range(n_all):
        while qi < len(qs) and qs[qi][0] <= n:
            for r in qs[qi][3]:
                if r in store:
                    cited[r + 1] = (cited.get(r + 1, (0, 0))[0] + 1, n)
            qi += 1
        row, _ = links[n]
        if row >= 0:
            sup_by[row] = n
        store.append(n)
        if len(store) > budget:
            olds = np.array(store[:-1])
            stt = SlotState(olds + 1, e[olds], n + 1, cited, np.array([r in sup_by for r in olds]))
            xs.append(np.concatenate([slot_features(stt), e[olds]], 1))
            ys.append((needed_after[olds] > n).astype(np.float32))   # a question after this write needs it
            store.remove(int(olds[rng.integers(len(olds))]))
    return xs, ys


def train_budget(model_dir, cfg: BudgetTrainConfig, babi_dir: Path | None = None, log=print) -> dict:
    from chatmem import checkpoint
    from chatmem.input import MiniLMEncoder
    from chatmem.train import progress_bar

    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    loaded = checkpoint.load(model_dir)
    if loaded.update is None:
        from chatmem import ChatmemError

        raise ChatmemError("H reads G's superseded marks: train the update scorer first (--stage update)")
    # The update scorer's training and validation stories (the same embeddings, cached): H's labels differ.
    train, val = training_stories(UpdateTrainConfig(seed=cfg.seed), babi_dir)
    stories = train + val
    vec, where = embed_all(stories, MiniLMEncoder())
    tok = _tokenize_all(stories)
    rng = np.random.default_rng(cfg.seed)
    xs, ys = [], []
    bar = progress_bar(len(stories), "H: replaying training stories", "story")
    for st in stories:
        e, t = _story_arrays(st, vec, where, tok)
        links = predict_links(loaded.update, st, e, t)
        for frac in FRACTIONS:
            a, b = story_examples(st, e, links, frac, rng)
            xs += a
            ys += b
        bar.update(1)
    bar.close()
    X, Y = torch.as_tensor(np.concatenate(xs)), torch.as_tensor(np.concatenate(ys))
    if len(X) > 400_000:          # minutes, not hours
        keep = torch.randperm(len(X))[:400_000]
        X, Y = X[keep], Y[keep]
    log(f"H: {len(X):,} examples ({float(Y.mean()):.1%} needed later) from {len(stories)} stories")
    model = SlotScorer(BudgetConfig())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=1e-5)
    g = torch.Generator().manual_seed(cfg.seed)
    bar = progress_bar(cfg.epochs, "training H", "epoch")
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(X), generator=g).split(1024):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X[idx]), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        bar.update(1)
    bar.close()
    with torch.no_grad():
        loss = float(torch.nn.functional.binary_cross_entropy_with_logits(model(X), Y))
    log(f"H: training loss {loss:.4f}")
    loaded = checkpoint.load(model_dir)
    extra = dict(loaded.config)
    extra["budget_train"] = {"config": asdict(cfg), "stories": len(stories), "examples": len(X), "loss": loss,
                             "seconds": round(time.perf_counter() - t0, 1)}
    checkpoint.save(model_dir, loaded.model, loaded.vocab, extra, relevance=loaded.relevance,
                    span=loaded.span, span_vocab=loaded.span_vocab, update=loaded.update, budget=model.eval())
    return {"examples": len(X), "loss": loss}
