"""Training H (chatmem.budget): `chatmem train --stage budget`.

Training stories (the generator's train split and bAbI training stories) are played into a bounded memory at
budgets of 10%, 25% and 50% of their length, the slot chosen at random (so H sees stores of every kind; more
rounds add the stores H itself makes). At each eviction every memory that may leave is an example: its
features as H would read them then (the new memory among the others), and whether a later question of the
story uses it as a supporting fact. Citations are the supporting facts of the questions already asked (what a
right O cites); superseded marks come from the trained update scorer, as at inference. Validation: the share
of needed memories kept, H against random replacement, on the update scorer's validation stories (training
split, kept apart).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from chatmem.budget import N_FEAT, BudgetConfig, SlotScorer, SlotState, budget_of, slot_features
from chatmem.update_train import (UpdateTrainConfig, _story_arrays, _tokenize_all, embed_all, predict_links,
                                  training_stories)

FRACTIONS = (0.1, 0.25, 0.5)


@dataclass
class BudgetTrainConfig:
    seed: int = 0
    epochs: int = 6
    lr: float = 2e-3
    rounds: int = 1                 # 1: stores made by random replacement only; more: H's own stores added
    decay: float = 0.0              # 0: label "a later question needs it"; > 0: soft, by how soon (story_examples)
    max_examples: int = 400_000


def story_examples(st, e: np.ndarray, links: list, frac: float, rng: np.random.Generator, tokens=None,
                   scorer: SlotScorer | None = None, kept: list | None = None, decay: float = 0.0):
    """(features with embeddings, labels) of every memory that may leave at each eviction of one story. The
    slot is chosen at random, or by `scorer` (H itself, so it also learns from the stores it makes). `kept`
    collects, per question, the share of its supporting rows still in store when it is asked. `decay` > 0: the
    label is exp(-decay * wait / budget) for the wait (in statements) until the next question that needs it."""
    n_all = len(st.texts)
    budget = budget_of(frac, n_all)
    needed_after = np.full(n_all, -1)            # the last question (by position) that needs each row
    need_at: dict[int, list[int]] = {}
    for k, _, _, sup in st.questions:
        for r in sup:
            needed_after[r] = max(needed_after[r], k)
            need_at.setdefault(r, []).append(k)
    qs = sorted(st.questions, key=lambda q: q[0])
    cited: dict[int, tuple[int, int]] = {}
    sup_by: dict[int, int] = {}
    store: list[int] = []
    xs, ys = [], []
    qi = 0
    for n in range(n_all + 1):
        while qi < len(qs) and qs[qi][0] <= n:
            for r in qs[qi][3]:
                if r in store:
                    cited[r + 1] = (cited.get(r + 1, (0, 0))[0] + 1, n)
            if kept is not None and qs[qi][3]:
                kept.append(np.mean([r in store for r in qs[qi][3]]))
            qi += 1
        if n == n_all:
            break
        row, _ = links[n]
        if row >= 0:
            sup_by[row] = n
        store.append(n)
        if len(store) > budget:
            rows = np.array(store)                # the candidates, then the new memory (context)
            stt = SlotState(rows + 1, e[rows], n + 1, cited, np.array([r in sup_by for r in rows]),
                            [tokens[r] for r in rows] if tokens is not None else None, 1)
            x = np.concatenate([slot_features(stt), e[rows]], 1)[:-1]
            xs.append(x)
            if decay:
                wait = np.array([min((k for k in need_at.get(int(r), ()) if k > n), default=10**9) - n
                                 for r in rows[:-1]], np.float32)
                ys.append(np.exp(-decay * wait / budget).astype(np.float32))
            else:                                 # a question after this write needs it
                ys.append((needed_after[rows[:-1]] > n).astype(np.float32))
            if scorer is None:
                out = int(rng.integers(len(x)))
            else:
                with torch.no_grad():
                    out = int(torch.argmin(scorer(torch.as_tensor(x))))
            store.remove(int(rows[out]))
    return xs, ys


def replay_all(stories, arrays, fracs, rng, scorer=None, kept: dict | None = None, decay: float = 0.0):
    """story_examples over stories x budgets; `arrays`: per story (embeddings, tokens, links)."""
    xs, ys = [], []
    for st, (e, t, links) in zip(stories, arrays):
        for frac in fracs:
            a, b = story_examples(st, e, links, frac, rng, t, scorer,
                                  kept.setdefault(frac, []) if kept is not None else None, decay)
            xs += a
            ys += b
    return xs, ys


def fit(xs, ys, cfg: "BudgetTrainConfig", log=print) -> SlotScorer:
    X, Y = torch.as_tensor(np.concatenate(xs)), torch.as_tensor(np.concatenate(ys))
    if len(X) > cfg.max_examples:          # minutes, not hours
        keep = torch.randperm(len(X), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.max_examples]
        X, Y = X[keep], Y[keep]
    log(f"H: {len(X):,} examples ({float(Y.mean()):.1%} needed later)")
    model = SlotScorer(BudgetConfig(features=N_FEAT))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=1e-5)
    g = torch.Generator().manual_seed(cfg.seed)
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(X), generator=g).split(512):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X[idx]), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        model.loss = float(torch.nn.functional.binary_cross_entropy_with_logits(model(X), Y))
    model.examples = len(X)
    return model.eval()


def story_arrays(stories, update, log=print):
    """Per story: MiniLM embeddings, tokens, and G's links as the trained update scorer makes them."""
    from chatmem.input import MiniLMEncoder
    from chatmem.train import progress_bar

    vec, where = embed_all(stories, MiniLMEncoder())
    tok = _tokenize_all(stories)
    out = []
    bar = progress_bar(len(stories), "H: G's links in the training stories", "story")
    for st in stories:
        e, t = _story_arrays(st, vec, where, tok)
        out.append((e, t, predict_links(update, st, e, t)))
        bar.update(1)
    bar.close()
    return out


def kept_by_policy(stories, arrays, scorer, seed: int) -> dict:
    """Validation: the mean share of each question's supporting rows still in store, per budget, with H and
    with random replacement."""
    out = {}
    for name, h in (("H", scorer), ("random", None)):
        kept: dict = {}
        replay_all(stories, arrays, FRACTIONS, np.random.default_rng(seed), h, kept)
        out[name] = {str(f): round(float(np.mean(v)), 4) for f, v in kept.items()}
    return out


def train_budget(model_dir, cfg: BudgetTrainConfig, babi_dir: Path | None = None, log=print) -> dict:
    """Round 1: stores made by random replacement; each later round adds the stores H itself makes (so it
    learns what to drop from stores like its own) and refits on all of them."""
    from chatmem import checkpoint

    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    loaded = checkpoint.load(model_dir)
    if loaded.update is None:
        from chatmem import ChatmemError

        raise ChatmemError("H reads G's superseded marks: train the update scorer first (--stage update)")
    # The update scorer's training and validation stories (the same embeddings, cached): H's labels differ.
    train, val = training_stories(UpdateTrainConfig(seed=cfg.seed), babi_dir)
    arrays = story_arrays(train + val, loaded.update)
    tr, va = arrays[: len(train)], arrays[len(train):]
    rng = np.random.default_rng(cfg.seed)
    xs, ys = replay_all(train, tr, FRACTIONS, rng, decay=cfg.decay)
    model = fit(xs, ys, cfg, log)
    for r in range(1, cfg.rounds):
        a, b = replay_all(train, tr, FRACTIONS, rng, model, decay=cfg.decay)
        xs, ys = xs + a, ys + b
        model = fit(xs, ys, cfg, log)
        log(f"H: round {r + 1}, training loss {model.loss:.4f}")
    valid = kept_by_policy(val, va, model, cfg.seed)
    log(f"H: validation (training-split stories), needed memories kept per budget: {valid}")
    loaded = checkpoint.load(model_dir)
    extra = dict(loaded.config)
    extra["budget_train"] = {"config": asdict(cfg), "stories": len(train), "examples": model.examples,
                             "loss": model.loss,
                             "validation_kept": valid, "seconds": round(time.perf_counter() - t0, 1)}
    checkpoint.save(model_dir, loaded.model, loaded.vocab, extra, relevance=loaded.relevance,
                    span=loaded.span, span_vocab=loaded.span_vocab, update=loaded.update, budget=model)
    return {"examples": model.examples, "loss": model.loss, "validation_kept": valid}
