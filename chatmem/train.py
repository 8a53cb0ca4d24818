"""Training the O and R scorers jointly on bAbI with strong supervision.

Margin ranking loss: the labelled supporting memory (or STOP) against sampled negative
memories at every hop, and the labelled answer word against R's other candidates.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from chatmem.babi import Sample, load_task, proper_names, split_validation, where_is_person
from chatmem.util import minilm_cached, progress_bar


@dataclass
class TrainConfig:
    babi_dir: str
    tasks: list[int] = field(default_factory=lambda: list(range(1, 21)))
    seed: int = 1234
    epochs: int = 12
    batch: int = 128
    lr: float = 2e-3
    val_fraction: float = 0.1
    word_dropout: float = 0.2
    mini_dropout: float = 0.2
    negatives: int = 48
    eval_every: int = 3
    threads: int = 2
    derived_questions: bool = True
    # Go on from the O and R of this checkpoint (same vocabulary) rather than from random weights: a change to the
    # training data (people in word dropout) learned in a few epochs, keeping what the model had settled
    warm_from: str | None = None


def all_texts(samples: Sequence[Sample]) -> list[str]:
    seen: dict[str, None] = {}
    for s in samples:
        for t in s.story:
            seen.setdefault(t, None)
        seen.setdefault(s.question, None)
    return list(seen)


def _o_batch(enc, hops: np.ndarray, rng: np.random.Generator, negatives: int):
    H = len(hops)
    sizes = enc.o_off[hops + 1] - enc.o_off[hops]
    C = int(min(negatives + 2, sizes.max()))
    rows = np.full((H, C), -1, dtype=np.int64)
    F = np.zeros((H, C, enc.o_F.shape[1]), dtype=np.float32)
    M = np.zeros((H, C) + enc.o_M.shape[1:], dtype=bool)
    valid = np.zeros((H, C), dtype=bool)
    for h, j in enumerate(hops):
        a, b = enc.o_off[j], enc.o_off[j + 1]
        n = b - a - 1
        gold = enc.o_gold[j]
        others = np.delete(np.arange(n), gold) if gold < n else np.arange(n)
        if len(others) > negatives:
            others = rng.choice(others, negatives, replace=False)
        pick = np.concatenate([[gold], others, [n] if gold < n else []]).astype(np.int64)
        k = len(pick)
        rows[h, :k] = enc.o_rows[a + pick]
        F[h, :k] = enc.o_F[a + pick]
        M[h, :k] = enc.o_M[a + pick]
        valid[h, :k] = True
    return rows, F, M, valid


def _bucketed(rng: np.random.Generator, sizes: np.ndarray, batch: int) -> np.ndarray:
    """A random order in which each batch holds hops with similar candidate counts (less padding)."""
    perm = rng.permutation(len(sizes))
    chunk = batch * 32
    batches = []
    for i in range(0, len(perm), chunk):
        part = perm[i: i + chunk]
        part = part[np.argsort(sizes[part], kind="stable")]
        batches += [part[j: j + batch] for j in range(0, len(part), batch)]
    order = rng.permutation(len(batches))
    return np.concatenate([batches[k] for k in order])


def fewest_errors_threshold(margins: np.ndarray, right: np.ndarray) -> float:
    """The margin below which "I'm not sure" is said, where the fewest answers would be said wrongly: right
    answers called unsure plus wrong answers said with confidence. Between the two margins it falls between."""
    order = np.argsort(margins, kind="stable")
    m, ok = np.asarray(margins, dtype=np.float64)[order], np.asarray(right, dtype=bool)[order]
    if not len(m):
        return 0.0
    # a threshold just above m[i-1]: the i lowest are unsure (i = 0 .. n)
    errors = np.concatenate([[0], np.cumsum(ok)]) + (np.sum(~ok) - np.concatenate([[0], np.cumsum(~ok)]))
    i = int(np.argmin(errors))
    if i == 0:
        return float(m[0]) - 1.0
    if i == len(m):
        return float(m[-1]) + 1.0
    return float((m[i - 1] + m[i]) / 2)


def confidence_threshold(model, vocab, val_s, table) -> float:
    """R's score margin below which the bot answers with what it remembers, from validation only: where the
    fewest validation answers would be said wrongly. (A quantile, 2% of answers below it, said "I'm not sure"
    to 9-12% of bAbI tasks 5, 7 and 17, answers nearly all right, while the wrong ones had high margins.)"""
    from chatmem.evaluate import predict

    preds = predict(model, vocab, val_s, table)
    return fewest_errors_threshold(np.array([p.score for p in preds]), np.array([p.correct for p in preds]))


def train(cfg: TrainConfig, out_dir: Path, log=print, encoder=None) -> dict:
    import torch

    from chatmem import checkpoint
    from chatmem.data import build_table, encode_samples
    from chatmem.evaluate import predict, summarize
    from chatmem.features import UNK, Vocab
    from chatmem.input import tokenize
    from chatmem.model import MemNN, ModelConfig, margin_loss
    from chatmem.response import answer_tables

    t_start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    torch.set_num_threads(cfg.threads)
    babi = Path(cfg.babi_dir)
    train_all = [s for t in cfg.tasks for s in load_task(babi, t, "train")]
    train_s, val_s = split_validation(train_all, cfg.val_fraction, cfg.seed)
    log(f"bAbI {babi}: {len(train_s)} training and {len(val_s)} validation questions (carved from the training files)")
    if cfg.derived_questions:
        n0 = len(train_s)
        train_s = where_is_person(train_s)
        log(f"{len(train_s) - n0} derived 'Where is <person>?' training questions (see babi.where_is_person)")

    texts = all_texts(train_all + train_s)
    tok_cache = {t: tokenize(t) for t in texts}
    vocab = Vocab.build([tok_cache[t] for s in train_all for t in s.story],
                        [tok_cache[s.question] for s in train_all], [s.answer for s in train_all],
                        proper_names(train_all))
    table = build_table(texts, vocab, tok_cache.__getitem__, lambda t: minilm_cached(t, encoder))
    log(f"{len(texts)} distinct sentences, {len(vocab.words)} words, {len(vocab.answers)} dictionary answers")
    enc = encode_samples(train_s, vocab, table)
    n_o, n_r = len(enc.o_q), len(enc.r["q"])
    log(f"{n_o} O hops ({len(enc.o_rows)} candidate memories), {n_r} R steps")

    mcfg = ModelConfig(vocab_size=len(vocab.words), n_answers=len(vocab.answers))
    model = MemNN(mcfg)
    if cfg.warm_from:
        warm = checkpoint.load(Path(cfg.warm_from))
        if warm.vocab.words != vocab.words or warm.vocab.answers != vocab.answers:
            raise ValueError(f"{cfg.warm_from} was trained with another vocabulary: train from scratch")
        model.load_state_dict(warm.model.state_dict())
        log(f"going on from the O and R of {cfg.warm_from}")
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps_per_epoch = max(1, int(np.ceil(max(n_o, n_r) / cfg.batch)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.1)
    gid_all = torch.as_tensor(table.gid)
    mini_all = torch.as_tensor(table.mini)
    ans_of = torch.as_tensor(answer_tables(vocab))
    entity_ids = torch.as_tensor(vocab.entity_ids(), dtype=torch.long)
    R = {k: torch.as_tensor(v) for k, v in enc.r.items()}
    A = len(vocab.answers)

    best, best_state, history = -1.0, None, []
    bar = progress_bar(cfg.epochs * steps_per_epoch, "training", "step")
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        o_perm = _bucketed(rng, np.diff(enc.o_off), cfg.batch)
        r_perm = rng.permutation(n_r)
        tot = 0.0
        for step in range(steps_per_epoch):
            # word dropout: some names, places and objects become unknown words for this batch
            drop = torch.zeros(len(vocab.words), dtype=torch.bool)
            drop[entity_ids[torch.rand(len(entity_ids)) < cfg.word_dropout]] = True
            remap = torch.where(drop, torch.tensor(UNK), torch.arange(len(vocab.words)))
            gid = remap[gid_all]
            keep = (torch.rand(len(mini_all), 1) >= cfg.mini_dropout).float()
            mini = mini_all * keep
            # O
            hops = o_perm[(step * cfg.batch) % n_o: (step * cfg.batch) % n_o + cfg.batch]
            rows, F, M, valid = _o_batch(enc, hops, rng, cfg.negatives)
            s = model.score_o(gid, mini, torch.as_tensor(enc.o_q[hops]), torch.as_tensor(enc.o_prev[hops]),
                              torch.as_tensor(enc.o_chosen[hops]), torch.as_tensor(enc.o_hop[hops]),
                              torch.as_tensor(rows), torch.as_tensor(F), torch.as_tensor(M))
            loss_o = margin_loss(s, torch.as_tensor(valid), torch.zeros(len(hops), dtype=torch.long), model.cfg.margin)
            # R
            ri = torch.as_tensor(r_perm[(step * cfg.batch) % n_r: (step * cfg.batch) % n_r + cfg.batch])
            s_gid = remap[R["s_gid"][ri]]
            ans_drop = torch.zeros(A, dtype=torch.bool)
            dropped_ans = ans_of[drop]
            ans_drop[dropped_ans[dropped_ans >= 0]] = True
            ans_mask = (~ans_drop)[None, :].expand(len(ri), A).clone()
            flat_gid = s_gid.reshape(len(ri), -1)
            pos2ans = torch.where(flat_gid > 1, ans_of[flat_gid], torch.tensor(-1))
            pos2ans[R["s_lid"][ri].reshape(len(ri), -1) < 0] = -1
            prev_gid = R["prev_gid"][ri]
            prev_ans = torch.where(prev_gid >= 0, ans_of[prev_gid.clamp(min=0)], torch.tensor(-1))
            prev_gid = torch.where(prev_gid >= 0, remap[prev_gid.clamp(min=0)], prev_gid)
            scores, mask = model.score_r(gid, mini, R["q"][ri], R["s_rows"][ri], s_gid, R["s_lid"][ri],
                                         R["q_match"][ri], R["s_match"][ri], R["pos_feat"][ri], R["n_sup"][ri],
                                         remap[R["seq_gid"][ri]], R["seq_seg"][ri], R["seq_flag"][ri], R["seq_len"][ri],
                                         R["seq_index"][ri],
                                         R["step"][ri], prev_gid, pos2ans, ans_mask, prev_ans, R["prev_lid"][ri])
            gold_ans, gold_gid, gold_lid = R["gold_ans"][ri], R["gold_gid"][ri], R["gold_lid"][ri]
            use_dict = (gold_ans >= 0) & ~drop[gold_gid]
            lid = R["s_lid"][ri].reshape(len(ri), -1)
            hit = (lid == gold_lid[:, None]) & (gold_lid[:, None] >= 0)
            first_pos = torch.where(hit.any(1), hit.float().argmax(1), torch.tensor(-1))
            target = torch.where(use_dict, gold_ans, torch.where(first_pos >= 0, A + first_pos, torch.tensor(-1)))
            target = torch.where((target >= 0) & mask.gather(1, target.clamp(min=0)[:, None]).squeeze(1), target,
                                 torch.tensor(-1))
            loss_r = margin_loss(scores, mask, target, model.cfg.margin)
            loss = loss_o + loss_r
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            tot += float(loss.detach())
            bar.update(1)
        msg = f"epoch {epoch:>3}  loss {tot / steps_per_epoch:.4f}"
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            summ = summarize(predict(model, vocab, val_s, table))
            history.append({"epoch": epoch, "val_mean_accuracy": summ["mean_accuracy"]})
            msg += f"  validation mean {100 * summ['mean_accuracy']:.2f}%  passed {summ['passed']}  " + " ".join(
                f"{t}:{100 * v['accuracy']:.0f}/{100 * v['support_accuracy']:.0f}" for t, v in summ["tasks"].items())
            if summ["mean_accuracy"] > best:
                best = summ["mean_accuracy"]
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
                best_summary = summ
        bar.write(msg) if sys.stderr.isatty() else log(msg)
    bar.close()
    model.load_state_dict(best_state)
    train_seconds = time.perf_counter() - t_start
    # Confidence threshold, from validation only: the score margin below which the bot answers
    # with what it remembers.
    threshold = confidence_threshold(model, vocab, val_s, table)
    extra = {"train": asdict(cfg), "confidence_threshold": threshold, "train_seconds": train_seconds,
             "validation": best_summary, "history": history}
    parts = {}
    if cfg.warm_from:
        # The training it went on from (the model card), and the parts that read MiniLM and words, not O: the warm
        # model's, whatever --out held. R's span model reads its own vocabulary and O's citations, not O's weights:
        # it stays too, its gate and threshold to be fitted again (scripts/refit_span_gate.py); the relevance term,
        # which reads O's scores, is not kept (`--stage relevance`).
        extra["warm_from"] = {k: warm.config[k] for k in ("train", "train_seconds", "warm_from") if k in warm.config}
        parts = {n: getattr(warm, n) for n in checkpoint.CARRIED if getattr(warm, n) is not None}
        if warm.span is not None:
            parts.update(span=warm.span, span_vocab=warm.span_vocab)
        from chatmem.span_train import CONFIG_KEYS

        extra.update({k: warm.config[k] for k in CONFIG_KEYS + tuple(f"{n}_train" for n in parts) if k in warm.config})
    checkpoint.save(out_dir, model, vocab, extra, **parts)
    log(f"saved {out_dir} (best validation mean {100 * best:.2f}%, {train_seconds / 60:.1f} min)")
    return extra
