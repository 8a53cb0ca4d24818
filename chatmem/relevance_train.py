"""Training O's first-hop relevance term (chatmem.relevance) with s_O frozen.

Each example is one question: s_O of its candidate memories at the first hop, the relevance features
of those memories, and which of them are supporting facts. The loss is the cross-entropy of the
first-hop choice over α s_O + r (the beam ranks chains by these log-probabilities); on bAbI it is the KL
divergence from s_O's own first-hop distribution, so r learns to stay out of the way where s_O was
trained (bAbI) and to lead where it was not.

Sources: bAbI training stories (first supporting fact), the generator's training conversations and
LoCoMo development conversations (evidence turns). LoCoMo numbers we report come from models that
never saw the conversation they are measured on (leave-one-conversation-out, `scripts/bench_locomo.py`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from chatmem.relevance import NF, Relevance, RelevanceConfig
from chatmem.util import fit_by_size


ALPHA_PULL = 1.0    # how hard α is pulled to 1 on bAbI


@dataclass
class Example:
    source: str                  # "babi", "generated", "locomo:<sample id>"
    q_mini: np.ndarray           # (384,)
    m_mini: np.ndarray           # (C, 384) float16 to save memory
    feats: np.ndarray            # (C, NF)
    s_o: np.ndarray              # (C,) s_O at the first hop
    positive: np.ndarray         # (C,) bool: a supporting memory
    qfeats: np.ndarray = None    # (NQ,) what α reads


@dataclass
class RelevanceTrainConfig:
    epochs: int = 12
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 1234
    babi_per_task: int = 150
    crowd_per_task: int = 30     # bAbI stories per task renamed and planted together in big stores (`crowded_babi`)
    crowd_generated: int = 1000  # generated training conversations planted together, 200 to a big store (`crowds`)
    crowd_mentions: int = 40     # up to this many other memories name each of its people (chatmem.crowd._with_mentions)
    generated: int = 300         # generated training conversations
    locomo_repeat: int = 1       # LoCoMo examples count this many times (4 was worse: 44% against 50% recall@5, conv-26 held out)
    model: RelevanceConfig = field(default_factory=RelevanceConfig)

    def to_json(self) -> dict:
        return asdict(self)


def _example(source: str, q_mini, cands, q_tokens, s_o, positive, q_text: str) -> Example | None:
    from chatmem.relevance import question_names

    positive = np.asarray(positive, dtype=bool)
    if not positive.any() or len(s_o) < 2:
        return None
    return Example(source, np.asarray(q_mini, np.float32), np.asarray(cands.mini, np.float16),
                   cands.features(q_tokens, q_mini, question_names(q_text)), np.asarray(s_o, np.float32), positive,
                   cands.question_features(q_tokens))


def collect_babi(loaded, samples, table) -> list[Example]:
    """First-hop s_O over each bAbI story, its first supporting fact the target."""
    from chatmem.data import story_groups
    from chatmem.features import StoryIndex
    from chatmem.output import Query, run_hops
    from chatmem.relevance import Candidates

    gid, mini = torch.as_tensor(table.gid), torch.as_tensor(table.mini)
    todo = []
    for group in story_groups(samples):
        rows = np.array([table.row[t] for t in group[-1].story], dtype=np.int64)
        idx = StoryIndex([table.tokens[r] for r in rows], loaded.vocab)
        todo += [(s, rows, Query(idx, rows, table.row[s.question], table.tokens[table.row[s.question]], len(s.story)))
                 for s in group]
    todo.sort(key=lambda t: t[2].n)          # batches of similar story lengths, as evaluation does
    for i in range(0, len(todo), 256):
        run_hops(loaded.model, gid, mini, [q for _, _, q in todo[i: i + 256]], max_hops=1, beam=1)
    out = []
    for s, rows, q in todo:
        n = len(s.story)
        cands = Candidates.story([table.tokens[r] for r in rows[:n]], table.mini[rows[:n]], loaded.vocab.index)
        pos = np.zeros(n, dtype=bool)
        pos[s.support[0]] = True
        ex = _example("babi", table.mini[q.q_row], cands, q.q_toks, q.hop1, pos, s.question)
        if ex is not None:
            out.append(ex)
    return out


def collect_dialog(loaded, source: str, turns: Sequence[tuple[str, float, bool, Sequence[int]]], vecs: np.ndarray,
                   progress: Callable[[int], None] | None = None) -> list[Example]:
    """A conversation through the Bot, as the app sees it: statements are written in order; at each question
    (text, time, True, supporting turn indices) the first hop is scored over what was written before."""
    from chatmem.bot import Bot
    from chatmem.input import Utterance, make_utterance
    from chatmem.memory import EphemeralMemory

    bot = Bot(EphemeralMemory(), encoder=None)
    bot._loaded = loaded
    mem_of: dict[int, int] = {}              # turn index -> memory id
    out = []
    pending: list[tuple[int, Utterance, float]] = []

    def flush():
        if pending:
            written = bot.memory.write([u for _, u, _ in pending], source, created=[c for _, _, c in pending])
            mem_of.update({i: m.id for (i, _, _), m in zip(pending, written)})
            pending.clear()

    for i, ((text, created, is_q, support), v) in enumerate(zip(turns, vecs)):
        u = make_utterance(text)
        if not is_q:
            pending.append((i, Utterance(u.text, u.tokens, False, v), created))
            continue
        flush()
        if len(bot.memory) >= 2 and support:
            want = {mem_of[s] for s in support if s in mem_of}
            q = Utterance(u.text, u.tokens, True, v)
            pos, s_o, cands = bot.first_hop(q)
            ids = bot.memory.ids[np.asarray(pos)]
            ex = _example(source, v, cands, u.tokens, s_o, np.isin(ids, list(want)), text)
            if ex is not None:
                out.append(ex)
        if progress:
            progress(1)
    flush()
    return out


def locomo_turns(conv) -> list[tuple[str, float, bool, list[int]]]:
    """A LoCoMo conversation as one stream: every turn, then every question after the last turn."""
    at = {t.dia_id: i for i, t in enumerate(conv.turns)}
    end = conv.turns[-1].created if conv.turns else 0.0
    out = [(t.memory_text, t.created, False, []) for t in conv.turns]
    out += [(q.question, end, True, [at[e] for e in q.evidence]) for q in conv.questions if q.category != 5]
    return out


def generated_turns(conv) -> list[tuple[str, float, bool, list[int]]]:
    """A generated conversation; only questions with supporting facts teach the first hop."""
    return [(t.text, t.created, bool(t.question), list(t.support) if t.question else []) for t in conv.turns]


def _batch(exs: Sequence[Example]):
    C = max(len(e.s_o) for e in exs)
    Q = len(exs)
    qm = torch.as_tensor(np.stack([e.q_mini for e in exs]))
    qf = torch.as_tensor(np.stack([e.qfeats for e in exs]))
    keep = torch.as_tensor([e.source.startswith("babi") for e in exs])
    pull = torch.as_tensor([ALPHA_PULL if e.source == "babi" else 0.0 for e in exs])
    mm = torch.zeros(Q, C, exs[0].m_mini.shape[1])
    F = torch.zeros(Q, C, NF)
    so = torch.full((Q, C), -1e4)
    pos = torch.zeros(Q, C, dtype=torch.bool)
    valid = torch.zeros(Q, C, dtype=torch.bool)
    for i, e in enumerate(exs):
        c = len(e.s_o)
        mm[i, :c] = torch.as_tensor(e.m_mini.astype(np.float32))
        F[i, :c] = torch.as_tensor(e.feats)
        so[i, :c] = torch.as_tensor(e.s_o)
        pos[i, :c] = torch.as_tensor(e.positive)
        valid[i, :c] = True
    return qm, mm, F, so, pos, valid, qf, keep, pull


def _logits(rel: Relevance, batch, with_alpha: bool = False):
    qm, mm, F, so, pos, valid, qf = batch[:7]
    r, alpha = rel(qm, mm, F, qf)
    s = torch.where(valid, alpha[:, None] * so + r, torch.full_like(so, -1e4))
    return (s, pos, alpha) if with_alpha else (s, pos)


def loss_fn(rel: Relevance, batch) -> torch.Tensor:
    """Cross-entropy of the first hop against the supporting memories; on bAbI, where s_O was trained and its
    beam over whole chains depends on the first hop's distribution, the KL divergence from s_O's own
    distribution instead, and α is pulled to 1: there the term learns to change nothing. On bAbI stories in a
    crowded memory ("babi-crowd") the KL alone: the term learns to follow s_O among other stories' names."""
    s, pos, alpha = _logits(rel, batch, with_alpha=True)
    so, valid, keep, pull = batch[3], batch[5], batch[7], batch[8]
    lse = torch.logsumexp(s, -1)
    ce = lse - torch.logsumexp(torch.where(pos, s, torch.full_like(s, -1e4)), -1)
    p_o = torch.log_softmax(torch.where(valid, so, torch.full_like(so, -1e4)), -1)
    kl = (p_o.exp() * (p_o - (s - lse[:, None]))).masked_fill(~valid, 0.0).sum(-1)
    return torch.where(keep, kl - pull * torch.log(alpha.clamp(min=1e-6)), ce).mean()


def ranks(rel: Relevance | None, exs: Sequence[Example], chunk: int = 128) -> list[np.ndarray]:
    """1-based rank of each positive under s_O (+ r when given)."""
    out = []
    for i in range(0, len(exs), chunk):
        part = exs[i: i + chunk]
        b = _batch(part)
        with torch.no_grad():
            s, pos = _logits(rel, b) if rel is not None else (torch.where(b[5], b[3], torch.full_like(b[3], -1e4)), b[4])
        order = torch.argsort(-s, dim=-1, stable=True)
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(s.shape[1]).expand_as(order))
        for j, e in enumerate(part):
            out.append(rank[j, : len(e.s_o)][pos[j, : len(e.s_o)]].numpy() + 1)
    return out


def recall_at(rks: Sequence[np.ndarray], k: int) -> float:
    return float(np.mean([np.mean(r <= k) for r in rks])) if rks else 0.0


def fit(train: Sequence[Example], cfg: RelevanceTrainConfig, log=print,
        progress: Callable[[int], None] | None = None) -> Relevance:
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    train = list(train) + [e for e in train if e.source.startswith("locomo")] * (cfg.locomo_repeat - 1)
    rel = Relevance(cfg.model)
    return fit_by_size(rel, train, [len(e.s_o) for e in train], lambda exs: loss_fn(rel, _batch(exs)), cfg.epochs,
                       cfg.batch, cfg.lr, cfg.weight_decay, rng, "relevance", log, progress)


def build_examples(loaded, cfg: RelevanceTrainConfig, babi_dir=None, locomo_path=None, log=print) -> list[Example]:
    """Every source's examples: bAbI training stories (validation carved out as `chatmem train` does), the
    generator's training split and, when given, LoCoMo conversations."""
    from chatmem import generator, locomo
    from chatmem.babi import load_task, split_validation
    from chatmem.data import samples_table
    from chatmem.input import MiniLMEncoder
    from chatmem.util import minilm_cached, progress_bar

    encoder = MiniLMEncoder()

    def dialogs(source_of, streams, what):
        """Encode every stream's texts in one batch (cached on disk), then collect each stream."""
        flat = [t[0] for st in streams for t in st]
        vecs = minilm_cached(flat, encoder) if flat else np.zeros((0, 384), np.float32)
        bar = progress_bar(sum(t[2] for st in streams for t in st), what, "q")
        got, at = [], 0
        for src, st in zip(source_of, streams):
            got += collect_dialog(loaded, src, st, vecs[at: at + len(st)], bar.update)
            at += len(st)
        bar.close()
        log(f"relevance data: {len(got)} {what} questions")
        return got

    out: list[Example] = []
    if babi_dir is not None:
        rng = np.random.default_rng(cfg.seed)
        picked = []
        for t in range(1, 21):
            train_s, _ = split_validation(load_task(babi_dir, t, "train"), 0.1, cfg.seed)
            keep = sorted(rng.choice(len(train_s), min(cfg.babi_per_task, len(train_s)), replace=False))
            picked += [train_s[i] for i in keep]
        table = samples_table(picked, loaded.vocab, encoder)
        out += collect_babi(loaded, picked, table)
        log(f"relevance data: {len(out)} bAbI questions")
    convs = generator.generate(cfg.generated, seed=cfg.seed, split="train")
    out += dialogs(["generated"] * len(convs), [generated_turns(c) for c in convs], "generated")
    if locomo_path is not None:
        lc = locomo.load(locomo_path)
        out += dialogs([f"locomo:{c.sample_id}" for c in lc], [locomo_turns(c) for c in lc], "LoCoMo")
    return out + crowd_examples(loaded, cfg, babi_dir, log)


def crowd_examples(loaded, cfg: RelevanceTrainConfig, babi_dir=None, log=print) -> list[Example]:
    """Questions asked of big memories (more than Bot.POOL_ALL memories, where the relevance term ranks the
    word-hash candidates): bAbI training stories renamed and planted together (chatmem.crowd.crowded_babi,
    KL to s_O like bAbI, α left free) and generated training conversations planted together
    (chatmem.crowd.crowds, cross-entropy).
    Without them the term, fitted on one story or conversation at a time, led s_O away from bAbI answers
    among other stories and trusted s_O over everyday sentences (scripts/bench_memory.py)."""
    from chatmem import generator
    from chatmem.babi import load_task, split_validation
    from chatmem.crowd import crowded_babi, crowds
    from chatmem.input import MiniLMEncoder
    from chatmem.util import minilm_cached, progress_bar

    streams: list[tuple[str, list]] = []
    if babi_dir is not None:
        rng = np.random.default_rng(cfg.seed + 1)
        crowd = []
        for t in range(1, 21):
            train_s, _ = split_validation(load_task(babi_dir, t, "train"), 0.1, cfg.seed)
            crowd += [train_s[i] for i in rng.choice(len(train_s), min(cfg.crowd_per_task, len(train_s)), replace=False)]
        streams += [("babi-crowd", st) for st in crowded_babi(crowd, rng)]
    convs = generator.generate(cfg.crowd_generated, seed=cfg.seed + 7, split="train")
    streams += [("generated-crowd", generated_turns(c))
                for c in crowds(convs, np.random.default_rng(cfg.seed + 2), dated=True, mentions=cfg.crowd_mentions)]
    encoder = MiniLMEncoder()
    out: list[Example] = []
    bar = progress_bar(sum(t[2] for _, st in streams for t in st), "crowded memories", "q")
    for source, st in streams:
        out += collect_dialog(loaded, source, st, minilm_cached([t[0] for t in st], encoder), bar.update)
    bar.close()
    log(f"relevance data: {len(out)} questions asked of crowded memories")
    return out


def fold_report(train: Sequence[Example], held: Sequence[Example], cfg: RelevanceTrainConfig, log=print) -> tuple[Relevance, dict]:
    """Fit on `train`; first-hop recall@k on `held` for s_O alone and for s_O + r."""
    rel = fit(train, cfg, log=log)
    base, new = ranks(None, held), ranks(rel, held)
    return rel, {f"{name}_recall@{k}": recall_at(r, k) for name, r in (("s_O", base), ("s_O+r", new))
                 for k in (1, 5, 10)} | {"questions": len(held)}


def source_counts(exs: Sequence[Example]) -> dict[str, int]:
    """Examples per source ("babi", "generated", "locomo"; LoCoMo's conversations counted together)."""
    counts: dict[str, int] = {}
    for e in exs:
        key = e.source.split(":")[0]
        counts[key] = counts.get(key, 0) + 1
    return counts


def train_relevance(model_dir, cfg: RelevanceTrainConfig, babi_dir=None, locomo_path=None, log=print,
                    examples: Sequence[Example] | None = None) -> dict:
    """Fit the relevance term on top of the model in `model_dir` and write it into that checkpoint.
    `examples`: collected before (scripts/bench_locomo.py --cache), instead of collecting them here."""
    from chatmem import checkpoint

    replaced = ("relevance", "hop2")
    try:                                # the second hop reads the term's features: kept only if it still loads
        loaded, stale = checkpoint.load(model_dir, without=("relevance",)), False
    except checkpoint.AssetError:
        loaded, stale = checkpoint.load(model_dir, without=replaced), True
    hop2 = loaded.hop2
    t0 = time.perf_counter()
    exs = examples if examples is not None else build_examples(loaded, cfg, babi_dir, locomo_path, log)
    rel = fit(exs, cfg, log=log)
    counts = source_counts(exs)
    info = {"config": cfg.to_json(), "examples": counts, "seconds": round(time.perf_counter() - t0, 1),
            "locomo": str(locomo_path) if locomo_path else None}
    loaded = checkpoint.load(model_dir, without=replaced)     # again: another stage may have written it meanwhile
    checkpoint.save(model_dir, loaded.model, loaded.vocab, {**loaded.config, "relevance_train": info}, relevance=rel,
                    span=loaded.span, span_vocab=loaded.span_vocab, act=loaded.act, hop2=hop2,
                    drop=("hop2",) if stale else ())
    log(f"relevance term written to {model_dir} ({info['seconds']:.0f} s; examples {counts})"
        + ("; the second hop read other features and was left out: `chatmem train --stage hop2` trains it again"
           if stale else ""))
    return info


def save_examples(path, exs: Sequence[Example]) -> None:
    """A cache of collected examples (.npz of plain arrays; no pickle), so fits can be repeated quickly."""
    off = np.concatenate([[0], np.cumsum([len(e.s_o) for e in exs])])
    np.savez(path, off=off, q_mini=np.stack([e.q_mini for e in exs]), qfeats=np.stack([e.qfeats for e in exs]),
             m_mini=np.concatenate([e.m_mini for e in exs]), feats=np.concatenate([e.feats for e in exs]),
             s_o=np.concatenate([e.s_o for e in exs]), positive=np.concatenate([e.positive for e in exs]),
             source=np.array([e.source for e in exs]), nf=np.array(NF))


def load_examples(path) -> list[Example]:
    with np.load(path, allow_pickle=False) as z:       # each z[key] reads the array again: read each once
        a = {k: z[k] for k in z.files}
    width = int(a["feats"].shape[1])
    if width != NF or int(a.get("nf", NF)) != NF:      # an older chatmem's features: their columns mean other things
        raise ValueError(f"{path} holds examples with {width} match features, this chatmem computes {NF}: "
                         f"collect them again (delete the file)")
    off = a["off"]
    exs = [Example(str(a["source"][i]), a["q_mini"][i], a["m_mini"][s:e], a["feats"][s:e], a["s_o"][s:e],
                   a["positive"][s:e], a["qfeats"][i]) for i, (s, e) in enumerate(zip(off[:-1], off[1:]))]
    return exs
