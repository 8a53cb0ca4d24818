"""Training R's span answers (chatmem.span) on the generator's conversations.

An example is a question, its supporting memories in hop order (the labelled chain) and the answer's
character span in one of them; an unanswerable question gets the most related earlier memory as a
stand-in support and "no answer" as its target, so R learns to decline. The generator's validation
split (names, places and values never seen in training) measures it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as Fn

from chatmem.features import STOP_WORDS
from chatmem.span import MAX_SPAN, MAX_WORDS, SUPPORTS, SpanConfig, SpanInput, SpanR, SpanVocab, batch_tensors, \
    predict, span_input, target_index


@dataclass
class SpanExample:
    question: str
    q_tokens: tuple[str, ...]
    supports: list[str]
    target: tuple[int, int, int] | None      # (support, char start, char end); None: no answer
    answer: str | None
    qkind: str


@dataclass
class SpanTrainConfig:
    conversations: int = 600
    valid_conversations: int = 150
    epochs: int = 6
    batch: int = 64
    lr: float = 2e-3
    seed: int = 1234

    def to_json(self) -> dict:
        return asdict(self)


def _stand_in(turns, before: int, q_tokens: Sequence[str]) -> int | None:
    """The newest earlier fact sharing a content word with the question (what O would likely cite)."""
    content = {w for w in q_tokens if w not in STOP_WORDS}
    facts = [i for i in range(before) if turns[i].is_fact]
    for i in reversed(facts):
        if content & {w.strip(".,!?'").lower() for w in turns[i].text.split()}:
            return i
    return facts[-1] if facts else None


def generated_examples(convs, tokenize: Callable[[str], tuple[str, ...]]) -> list[SpanExample]:
    out = []
    for c in convs:
        for i, t in enumerate(c.turns):
            if not t.question or t.qkind is None:
                continue
            toks = tokenize(t.text)
            if t.qkind == "unanswerable":
                k = _stand_in(c.turns, i, toks)
                if k is not None:
                    out.append(SpanExample(t.text, toks, [c.turns[k].text], None, None, t.qkind))
            elif t.answer_support is not None and t.support:
                sup = list(t.support)[-SUPPORTS:]
                if t.answer_support in sup:
                    out.append(SpanExample(t.text, toks, [c.turns[s].text for s in sup],
                                           (sup.index(t.answer_support), t.answer_start, t.answer_end), t.answer,
                                           t.qkind))
    return out


def encode_examples(vocab: SpanVocab, exs: Sequence[SpanExample], minis: np.ndarray) -> tuple[list[SpanInput], np.ndarray]:
    """Inputs and flat target indices (-1: no answer)."""
    null = SUPPORTS * MAX_WORDS * MAX_SPAN
    xs, ys = [], []
    for e, m in zip(exs, minis):
        x = span_input(vocab, e.q_tokens, m, e.supports)
        y = null if e.target is None else target_index(x, *e.target)
        if y is None:
            continue
        xs.append(x)
        ys.append(y)
    return xs, np.array(ys, dtype=np.int64)


def _loss(model: SpanR, xs: Sequence[SpanInput], ys: np.ndarray) -> torch.Tensor:
    scores, null = model(*batch_tensors(xs))
    flat = torch.cat([scores.reshape(len(xs), -1), null[:, None]], 1)
    return Fn.cross_entropy(flat, torch.as_tensor(ys))


def fit(xs: Sequence[SpanInput], ys: np.ndarray, cfg: SpanTrainConfig, vocab_size: int, log=print,
        progress: Callable[[int], None] | None = None) -> SpanR:
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = SpanR(SpanConfig(vocab_size))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(len(xs))
        total = 0.0
        for i in range(0, len(order), cfg.batch):
            b = order[i: i + cfg.batch]
            loss = _loss(model, [xs[j] for j in b], ys[b])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            total += float(loss.detach()) * len(b)
            if progress:
                progress(len(b))
        log(f"span epoch {epoch + 1}/{cfg.epochs}: loss {total / max(len(xs), 1):.4f} ({time.perf_counter() - t0:.0f} s)")
    model.eval()
    return model


def evaluate(model: SpanR, exs: Sequence[SpanExample], xs_all: Sequence[SpanInput], threshold: float = 0.5) -> dict:
    """Exact match of the span text on answerable questions, and how often unanswerable ones are declined
    (the best span's probability below `threshold`, or "no answer" winning)."""
    spans = []
    for i in range(0, len(xs_all), 256):
        spans += predict(model, xs_all[i: i + 256], [e.supports for e in exs[i: i + 256]])
    by: dict[str, list[float]] = {}
    for e, s in zip(exs, spans):
        said = s is not None and s.prob >= threshold and s.prob > s.null_prob
        ok = (not said) if e.target is None else (said and s.text == e.answer)
        by.setdefault(e.qkind, []).append(float(ok))
    res = {k: float(np.mean(v)) for k, v in sorted(by.items())}
    res["all"] = float(np.mean([x for v in by.values() for x in v])) if by else 0.0
    return res


def babi_examples(samples, per_task: int, seed: int) -> list[SpanExample]:
    """bAbI questions whose answer is one word of a supporting fact (the newest that holds it)."""
    from chatmem.input import tokenize
    from chatmem.span import words

    rng = np.random.default_rng(seed)
    by: dict[int, list] = {}
    for s in samples:
        by.setdefault(s.task, []).append(s)
    out = []
    for task, ss in sorted(by.items()):
        for i in rng.permutation(len(ss))[: per_task * 3]:
            s = ss[i]
            if len(s.answer) != 1 or len(out) and sum(e.qkind == f"babi{task}" for e in out) >= per_task:
                continue
            sup = [s.story[j] for j in s.support][-SUPPORTS:]
            hit = [(k, a, b) for k, t in enumerate(sup) for a, b in words(t) if t[a:b].lower() == s.answer[0]]
            if hit:
                k, a, b = hit[-1]
                out.append(SpanExample(s.question, tokenize(s.question), sup, (k, a, b), sup[k][a:b], f"babi{task}"))
    return out


def _dialog_answers(bot, conv, vecs):
    """Play a generated conversation through the Bot: statements are stored, questions answered in place.
    Returns (turn index, turn, tokens, answer) of each question."""
    from chatmem.input import Utterance, make_utterance

    out = []
    for i, (t, v) in enumerate(zip(conv.turns, vecs)):
        u = make_utterance(t.text)
        u = Utterance(u.text, u.tokens, bool(t.question), v)
        if not t.question:
            bot.store([u])
        elif t.qkind is not None and len(bot.memory):
            out.append((i, t, u.tokens, bot.answer(u)))
    return out


def gate_data(loaded, convs, babi_val, table, encoder) -> tuple[np.ndarray, np.ndarray]:
    """Where R's two answers disagree on being right: features and which one was (1 the span)."""
    from chatmem.bot import Bot
    from chatmem.evaluate import predict as babi_predict
    from chatmem.memory import EphemeralMemory
    from chatmem.span import gate_features, predict
    from chatmem.train import minilm_cached

    X, y = [], []

    def add(dict_words, score, confident, sp, q_toks, sup_toks, gold_dict, gold_span):
        d_ok, s_ok = list(dict_words) == gold_dict, sp is not None and sp.text == gold_span
        if d_ok != s_ok and sp is not None:
            X.append(gate_features(score, confident, sp, q_toks, sup_toks, loaded.vocab.index, dict_words))
            y.append(float(s_ok))

    thr = float(loaded.config.get("confidence_threshold", 0.0))
    preds = babi_predict(loaded.model, loaded.vocab, babi_val, table) if babi_val else []
    for p in preds:
        sup = [p.sample.story[i] for i in p.support[:SUPPORTS]]
        if not sup:
            continue
        x = span_input(loaded.span_vocab, table.tokens[table.row[p.sample.question]], table.mini[table.row[p.sample.question]], sup)
        [sp] = predict(loaded.span, [x], [sup])
        add(p.answer, p.score, p.score >= thr, sp, table.tokens[table.row[p.sample.question]],
            [table.tokens[table.row[t]] for t in sup], list(p.sample.answer), " ".join(p.sample.answer))
    span_model, loaded.span = loaded.span, None          # the Bot answers with the word-level R only
    try:
        for c in convs:
            bot = Bot(EphemeralMemory(), encoder=encoder)
            bot._loaded = loaded
            vecs = minilm_cached([t.text for t in c.turns], encoder)
            for i, t, toks, a in _dialog_answers(bot, c, vecs):
                if t.answer is None or not a.supports:
                    continue
                sup = [s.memory.text for s in a.supports[:SUPPORTS]]
                [sp] = predict(span_model, [span_input(loaded.span_vocab, toks, vecs[i], sup)], [sup])
                add(a.words, a.score, a.confident, sp, toks, [s.memory.tokens for s in a.supports[:SUPPORTS]],
                    _tokens(t.answer), t.answer)
    finally:
        loaded.span = span_model
    return np.array(X, dtype=np.float32).reshape(-1, len(X[0]) if X else 8), np.array(y, dtype=np.float32)


def _tokens(text: str) -> tuple[str, ...]:
    from chatmem.input import tokenize

    return tokenize(text)


def fit_gate(model: SpanR, X: np.ndarray, y: np.ndarray, steps: int = 400) -> float:
    """Logistic regression of the gate (balanced classes); returns its training accuracy."""
    if not len(y):
        return 0.0
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    w = torch.where(yt > 0.5, 0.5 / max(float(yt.mean()), 1e-3), 0.5 / max(1 - float(yt.mean()), 1e-3))
    opt = torch.optim.Adam(model.gate.parameters(), lr=0.05)
    for _ in range(steps):
        loss = (Fn.binary_cross_entropy_with_logits(model.gate(Xt).squeeze(-1), yt, reduction="none") * w).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(((model.gate(Xt).squeeze(-1) > 0).float() == yt).float().mean())


def choose_threshold(loaded, convs, encoder) -> tuple[float, dict]:
    """The span answers' confidence threshold: the one that best serves answerable questions (said and right)
    and unanswerable ones (declined) alike, on conversations kept apart from training."""
    from chatmem.bot import Bot
    from chatmem.memory import EphemeralMemory
    from chatmem.train import minilm_cached

    rows = []
    for c in convs:
        bot = Bot(EphemeralMemory(), encoder=encoder)
        bot._loaded = loaded
        for _, t, _, a in _dialog_answers(bot, c, minilm_cached([t.text for t in c.turns], encoder)):
            if a.span is None:
                continue
            right = t.answer is not None and a.words == [t.answer]
            rows.append((t.answer is None, right, a.score, a.related))
    best = (0.5, -1.0)
    for tau in np.linspace(0.05, 0.95, 19):
        ans = [r[1] and r[2] >= tau and r[3] for r in rows if not r[0]]
        una = [not (r[2] >= tau and r[3]) for r in rows if r[0]]
        score = (np.mean(ans) if ans else 0) + (np.mean(una) if una else 0)
        if score > best[1]:
            best = (float(tau), float(score / 2))
    return best[0], {"questions": len(rows), "balanced_accuracy": best[1]}


def _babi_parts(babi_dir, loaded, cfg: SpanTrainConfig, encoder):
    """bAbI training questions for the span model and validation questions (with their sentence table) for the gate."""
    from chatmem.babi import load_task, split_validation
    from chatmem.data import build_table
    from chatmem.input import tokenize
    from chatmem.train import all_texts, minilm_cached

    tr, va = [], []
    for t in range(1, 21):
        a, b = split_validation(load_task(babi_dir, t, "train"), 0.1, cfg.seed)
        tr += a
        va += b[:60]
    texts = all_texts(va)
    tok = {t: tokenize(t) for t in texts}
    return tr, va, build_table(texts, loaded.vocab, tok.__getitem__, lambda ts: minilm_cached(ts, encoder))


def train_span(model_dir, cfg: SpanTrainConfig, babi_dir=None, log=print, fit_model: bool = True) -> dict:
    """Fit R's span answers, then the gate and the threshold, on top of the model in `model_dir` (whose O,
    relevance term included, cites the supports they see); write them into that checkpoint. With
    `fit_model` False the span model already in the checkpoint is kept and only the gate and threshold refit."""
    from chatmem import checkpoint, generator
    from chatmem.input import MiniLMEncoder, tokenize
    from chatmem.train import minilm_cached

    t0 = time.perf_counter()
    loaded = checkpoint.load(model_dir)
    encoder = MiniLMEncoder()
    tr, babi_val, table = _babi_parts(babi_dir, loaded, cfg, encoder) if babi_dir is not None else ([], [], None)
    info = dict(loaded.config.get("span_train", {}))
    if fit_model or loaded.span is None:
        exs = generated_examples(generator.generate(cfg.conversations, seed=cfg.seed, split="train"), tokenize)
        exs += babi_examples(tr, 60, cfg.seed) if tr else []
        vocab = SpanVocab.build([s for e in exs for s in e.supports] + [e.question for e in exs])
        xs, ys = encode_examples(vocab, exs, minilm_cached([e.question for e in exs], encoder))
        log(f"span data: {len(xs)} questions ({sum(e.qkind.startswith('babi') for e in exs)} from bAbI), "
            f"vocabulary {len(vocab.words)}")
        loaded.span, loaded.span_vocab = fit(xs, ys, cfg, len(vocab.words), log=log), vocab
        info = {"config": cfg.to_json(), "examples": len(xs), "fit_seconds": round(time.perf_counter() - t0, 1)}
    X, y = gate_data(loaded, generator.generate(120, seed=cfg.seed + 1, split="train"), babi_val, table, encoder)
    acc = fit_gate(loaded.span, X, y)
    log(f"gate: {len(y)} disagreements ({int(y.sum())} the span right), training accuracy {acc:.3f}")
    tau, cal = choose_threshold(loaded, generator.generate(120, seed=cfg.seed + 2, split="train"), encoder)
    log(f"span threshold {tau:.2f} ({cal})")
    info.update({"gate_examples": int(len(y)), "gate_accuracy": acc, "calibration": cal,
                 "seconds": round(time.perf_counter() - t0 + info.get("fit_seconds", 0) * (not fit_model), 1)})
    extra = {**loaded.config, "span_train": info, "span_threshold": tau}
    checkpoint.save(model_dir, loaded.model, loaded.vocab, extra, relevance=loaded.relevance, span=loaded.span,
                    span_vocab=loaded.span_vocab, act=loaded.act)
    log(f"span answers written to {model_dir} ({info['seconds']:.0f} s)")
    return info
