"""Training G's update scorer (chatmem.update) and O's weight on its mark: `chatmem train --stage update`.

Labels come from the data. The generator marks each update turn with the fact it supersedes. bAbI says it
through its stories: a person's move replaces where that person was ("Mary went to the garden." after "Mary
moved to the kitchen."), and an object's next pick-up, drop or hand-over replaces its last one. Those labels
are read from the training stories once, here; at inference only the trained scorer decides.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from chatmem.update import CANDIDATES, UpdateConfig, UpdateScorer, best_link, candidates, pair_inputs

BABI_TASKS = (1, 2, 3, 5, 6, 11, 12, 13)


@dataclass
class UpdateTrainConfig:
    seed: int = 0
    conversations: int = 500        # generated training conversations (train split)
    val_conversations: int = 150    # generated, train split, another seed: the threshold and O's weight
    babi_stories: int = 150         # per task, from the bAbI training files
    epochs: int = 8
    lr: float = 2e-3
    hidden: int = 64


@dataclass
class Story:
    """Statements in order, which older statement each supersedes (or None), and questions with supports."""

    texts: list[str]
    supersedes: list[int | None]
    questions: list[tuple[int, str, str, list[int]]]   # (statements before it, text, answer, supporting rows)


# -- labels from the data -------------------------------------------------------------------------------------
_PEOPLE = (r"^(?:(?:Then|Afterwards|After that|Following that),? )?"
           r"(?P<who>he|she|they|He|She|They|[A-Z][a-z]+(?: and [A-Z][a-z]+)?)")
_MOVE = re.compile(rf"{_PEOPLE} (?:moved|went back|went|journeyed|travelled) to the \w+\.?$")
_OBJ = re.compile(rf"{_PEOPLE} (?:got|grabbed|picked up|took|dropped|discarded|left|put down) "
                  r"the (?P<obj>\w+)(?: there)?\.?$")
_GIVE = re.compile(rf"{_PEOPLE} (?:gave|handed|passed) the (?P<obj>\w+) to (?P<to>[A-Z][a-z]+)\.?$")


def babi_keys(texts: Sequence[str]) -> list[set]:
    """What each bAbI statement states anew: ("at", person) for a move, ("obj", thing) for a transfer.
    Pronouns take the last named subject (tasks 11 and 13)."""
    last: list[str] = []
    out = []
    for t in texts:
        keys: set = set()
        for rx in (_MOVE, _OBJ, _GIVE):
            m = rx.match(t.strip())
            if not m:
                continue
            who = m.group("who")
            people = last if who.lower() in ("he", "she", "they") else who.split(" and ")
            last = people
            if rx is _MOVE:
                keys = {("at", p) for p in people}
            else:
                keys = {("obj", m.group("obj"))}
            break
        out.append(keys)
    return out


def babi_story(texts: Sequence[str]) -> list[int | None]:
    """The statement each one supersedes: the last one stating the same single key (statements about two
    people at once are superseded only as a pair, so never by one statement)."""
    keys = babi_keys(texts)
    holder: dict = {}
    out: list[int | None] = []
    for i, ks in enumerate(keys):
        old = [holder[k] for k in ks if k in holder]
        sup = max((j for j in old if len(keys[j]) == 1), default=None)    # one link per statement: the newest
        out.append(sup)
        for k in ks:
            holder[k] = i
    return out


def babi_stories(babi_dir: Path, tasks: Sequence[int], split: str, per_task: int, seed: int,
                 skip: int = 0) -> list[Story]:
    """Whole bAbI stories (the last question's story holds every statement) with every question."""
    from chatmem.babi import load_task

    rng = np.random.default_rng(seed)
    out = []
    for task in tasks:
        stories: list[Story] = []
        prev: tuple = ()
        for s in load_task(babi_dir, task, split):
            if not (len(s.story) >= len(prev) and s.story[: len(prev)] == prev) or not stories:
                stories.append(Story(list(s.story), [], []))
            st = stories[-1]
            st.texts = list(s.story)
            st.questions.append((len(s.story), s.question, " ".join(s.answer), list(s.support)))
            prev = s.story
        pick = rng.permutation(len(stories))[skip: skip + per_task] if per_task else range(len(stories))
        for i in sorted(pick):
            st = stories[int(i)]
            st.supersedes = babi_story(st.texts)
            out.append(st)
    return out


def generated_stories(convs) -> list[Story]:
    """The generator's conversations as stories of statements (every non-question turn is stored)."""
    out = []
    for c in convs:
        row: dict[int, int] = {}
        texts, sup, qs = [], [], []
        for i, t in enumerate(c.turns):
            if t.question:
                if t.qkind is not None and texts:
                    qs.append((len(texts), t.text, t.answer, [row[k] for k in t.support if k in row]))
                continue
            row[i] = len(texts)
            texts.append(t.text)
            sup.append(row.get(t.supersedes) if t.supersedes is not None else None)
        out.append(Story(texts, sup, qs))
    return out


# -- pairs --------------------------------------------------------------------------------------------------
def embed_all(stories: Sequence[Story], encoder=None) -> list[np.ndarray]:
    """MiniLM embeddings of every statement and question, each distinct text encoded once (cached on disk)."""
    from chatmem.train import minilm_cached

    texts = sorted({t for s in stories for t in s.texts} | {q[1] for s in stories for q in s.questions})
    vec = minilm_cached(texts, encoder)
    where = {t: i for i, t in enumerate(texts)}
    return vec, where


def tokens_of(texts, tokenize: Callable) -> dict:
    return {t: tokenize(t) for t in texts}


def story_pairs(st: Story, emb: np.ndarray, toks: Sequence) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per statement with older live memories: the candidates' inputs and labels (1 for the one it
    supersedes). Live: not superseded by the gold labels so far, as G would have linked them."""
    xs, ys = [], []
    live = np.ones(len(st.texts), bool)
    for n in range(1, len(st.texts)):
        rows = candidates(emb[:n], live[:n], emb[n], CANDIDATES)
        gold = st.supersedes[n]
        if gold is not None and gold not in rows and live[gold]:
            rows = np.sort(np.append(rows, gold))
        if len(rows):
            xs.append(pair_inputs([toks[r] for r in rows], emb[rows], toks[n], emb[n], n - rows))
            ys.append((rows == gold).astype(np.float32))
        if gold is not None:
            live[gold] = False
    return xs, ys


def _story_arrays(st: Story, vec, where, tok) -> tuple[np.ndarray, list]:
    return vec[[where[t] for t in st.texts]], [tok[t] for t in st.texts]


def fit(stories, vec, where, tok, cfg: UpdateTrainConfig, log=print) -> UpdateScorer:
    from chatmem.train import progress_bar

    torch.manual_seed(cfg.seed)
    xs, ys = [], []
    for st in stories:
        e, t = _story_arrays(st, vec, where, tok)
        a, b = story_pairs(st, e, t)
        xs += a
        ys += b
    X = torch.as_tensor(np.concatenate(xs))
    Y = torch.as_tensor(np.concatenate(ys))
    log(f"update: {len(X):,} pairs, {int(Y.sum()):,} links, from {len(stories)} stories")
    model = UpdateScorer(UpdateConfig(hidden=cfg.hidden))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=1e-5)
    pos_w = torch.tensor(float((len(Y) - Y.sum()) / max(Y.sum(), 1)) ** 0.5)
    g = torch.Generator().manual_seed(cfg.seed)
    bar = progress_bar(cfg.epochs, "training the update scorer", "epoch")
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(X), generator=g).split(512):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X[idx]), Y[idx], pos_weight=pos_w)
            opt.zero_grad()
            loss.backward()
            opt.step()
        bar.update(1)
    bar.close()
    return model.eval()


def predict_links(model: UpdateScorer, st: Story, e: np.ndarray, t: Sequence) -> list[tuple[int, float]]:
    """(row superseded, its probability) for each statement as G links them, in order; -1 for no link."""
    live = np.ones(len(st.texts), bool)
    out = []
    for n in range(len(st.texts)):
        got = best_link(model, t[: n + 1], e[: n + 1], live[: n + 1], t[n], e[n], n) if n else None
        if got is None:
            out.append((-1, 0.0))
        else:
            out.append(got)
            live[got[0]] = False
    return out


def link_scores(model: UpdateScorer, stories, vec, where, tok) -> list[tuple[int, float, int | None]]:
    """For every statement: the best live candidate, its probability and the gold label (threshold off)."""
    thr = model.cfg.threshold
    model.cfg.threshold = -1.0
    out = []
    try:
        for st in stories:
            e, t = _story_arrays(st, vec, where, tok)
            live = np.ones(len(st.texts), bool)
            for n in range(1, len(st.texts)):
                best = best_link(model, t[: n + 1], e[: n + 1], live[: n + 1], t[n], e[n], n)
                out.append((best[0] if best else -1, best[1] if best else 0.0, st.supersedes[n]))
                if st.supersedes[n] is not None:
                    live[st.supersedes[n]] = False
    finally:
        model.cfg.threshold = thr
    return out


def precision_recall(model: UpdateScorer, stories, vec, where, tok) -> dict:
    """Links G makes (in order, each new statement linking at most one live memory) against the labels."""
    made = right = gold = 0
    for st in stories:
        e, t = _story_arrays(st, vec, where, tok)
        pred = predict_links(model, st, e, t)
        for n, (row, _) in enumerate(pred):
            gold += st.supersedes[n] is not None
            made += row >= 0
            right += row >= 0 and row == st.supersedes[n]
    p, r = right / max(made, 1), right / max(gold, 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-9), "links": made, "labelled": gold}


def choose_threshold(model: UpdateScorer, stories, vec, where, tok) -> float:
    """The threshold with the best F1 on validation stories."""
    sc = link_scores(model, stories, vec, where, tok)
    gold = sum(g is not None for _, _, g in sc)
    best, best_f = 0.5, -1.0
    for thr in np.linspace(0.05, 0.95, 19):
        made = sum(p >= thr for _, p, _ in sc)
        right = sum(p >= thr and r == g for r, p, g in sc)
        p, r = right / max(made, 1), right / max(gold, 1)
        f = 2 * p * r / max(p + r, 1e-9)
        if f > best_f:
            best, best_f = float(thr), f
    return best


def fit_penalty(loaded, model: UpdateScorer, stories, vec, where, tok, encoder, log=print) -> float:
    """O's weight on the mark: the penalty on a superseded memory's first-hop score that maximizes the
    likelihood of the labelled first supporting memory, over validation stories played through the Bot."""
    from chatmem.bot import Bot
    from chatmem.input import Utterance, make_utterance
    from chatmem.memory import EphemeralMemory
    from chatmem.update import link_new, superseded_mask

    rows = []           # (hop-1 scores, superseded mask, gold row)
    for st in stories:
        bot = Bot(EphemeralMemory(), encoder=encoder)
        bot._loaded = loaded
        bot.link_updates = False
        e, t = _story_arrays(st, vec, where, tok)
        qs = sorted(st.questions)
        qi = 0
        for n, text in enumerate(st.texts + [None]):
            while qi < len(qs) and qs[qi][0] == n:
                k, q, _, sup = qs[qi]
                qi += 1
                if not sup or not len(bot.memory):
                    continue
                u = make_utterance(q)
                u = Utterance(u.text, u.tokens, True, vec[where[q]])
                pos, hop1, _ = bot.first_hop(u)
                mask = superseded_mask(bot.memory, pos)
                if mask.any():
                    ids = bot.memory.ids[pos]
                    gold = np.flatnonzero(ids == bot.memory.ids[sup[0]]) if sup[0] < len(bot.memory) else []
                    if len(gold):
                        rows.append((np.asarray(hop1, np.float64), mask, int(gold[0])))
            if text is None:
                break
            bot.store([Utterance(text, tuple(t[n]), False, e[n])])
            link_new(model, bot.memory, [int(bot.memory.ids[-1])])
    if not rows:
        return 0.0
    best, best_ll = 0.0, -np.inf
    for w in (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0):
        ll = 0.0
        for s, m, g in rows:
            z = s - w * m
            ll += z[g] - (z.max() + np.log(np.exp(z - z.max()).sum()))
        if ll > best_ll:
            best, best_ll = w, ll
    log(f"update: O's penalty on superseded memories {best} (from {len(rows)} questions with a superseded candidate)")
    return float(best)


def _tokenize_all(stories) -> dict:
    from chatmem.input import tokenize

    return tokens_of({t for s in stories for t in s.texts}, tokenize)


def training_stories(cfg: UpdateTrainConfig, babi_dir: Path | None) -> tuple[list[Story], list[Story]]:
    """(training, validation) stories: the generator's train split (two seeds) and bAbI training stories."""
    from chatmem import generator

    train = generated_stories(generator.generate(cfg.conversations, seed=cfg.seed + 10, split="train"))
    val = generated_stories(generator.generate(cfg.val_conversations, seed=cfg.seed + 11, split="train"))
    if babi_dir is not None:
        train += babi_stories(babi_dir, BABI_TASKS, "train", cfg.babi_stories, cfg.seed)
        val += babi_stories(babi_dir, BABI_TASKS, "train", 20, cfg.seed, skip=cfg.babi_stories)
    return train, val


def train_update(model_dir, cfg: UpdateTrainConfig, babi_dir: Path | None = None, log=print) -> dict:
    """Fit the scorer, choose its threshold and O's weight on validation data, save into the checkpoint."""
    from chatmem import checkpoint
    from chatmem.input import MiniLMEncoder

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    train, val = training_stories(cfg, babi_dir)
    encoder = MiniLMEncoder()
    vec, where = embed_all(train + val, encoder)
    tok = _tokenize_all(train + val)
    model = fit(train, vec, where, tok, cfg, log)
    model.cfg.threshold = choose_threshold(model, val, vec, where, tok)
    pr = precision_recall(model, val, vec, where, tok)
    log(f"update: threshold {model.cfg.threshold:.2f}; validation precision {pr['precision']:.3f} "
        f"recall {pr['recall']:.3f} ({pr['links']} links made, {pr['labelled']} labelled)")
    loaded = checkpoint.load(model_dir)
    model.cfg.penalty = fit_penalty(loaded, model, val, vec, where, tok, encoder, log)
    loaded = checkpoint.load(model_dir)          # re-read: another stage may have saved meanwhile
    extra = {k: v for k, v in loaded.config.items()}
    extra["update_train"] = {"config": asdict(cfg), "stories": len(train), "validation": pr,
                             "seconds": round(time.perf_counter() - t0, 1)}
    checkpoint.save(model_dir, loaded.model, loaded.vocab, extra, relevance=loaded.relevance, span=loaded.span,
                    span_vocab=loaded.span_vocab, update=model, budget=loaded.budget)
    return {"threshold": model.cfg.threshold, "penalty": model.cfg.penalty, **pr}
