"""`chatmem eval --locomo FILE`: chatmem on LoCoMo, beside BM25 and MiniLM cosine on the same memories.

Each turn becomes one memory ("Speaker: text [shares a photo of …]") written at its session's time; each
question goes through `Bot.answer`, the path the app uses. We record O's first-hop ranking (over the
retriever's candidates above a few hundred memories), the cited supports, the answer and its confidence,
and the time per question; the baselines rank the same memories. Scores follow the authors' rules
(chatmem.locomo).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from chatmem.locomo import ANSWERED, CATEGORIES, Conversation, Question, best_span, load, score_answer

METHODS = ("chatmem", "bm25", "minilm")
METHOD_NAMES = {"chatmem": "chatmem O (hop 1)", "bm25": "BM25 (bm25s)", "minilm": "MiniLM cosine"}
KS = (1, 3, 5, 10)
DEPTH = 50          # ranks kept per method and question (enough for recall@k plots)


@dataclass
class Row:
    """One question: what chatmem said and cited, and where each method ranked the evidence turns."""

    sample_id: str
    question: str
    category: int
    gold: str | None
    evidence: list[str]
    answer: str                  # what the user is told
    words: list[str]             # R's best words, said or not
    confident: bool
    declined: bool               # no confident answer: chatmem said it does not know or is not sure
    f1: float                    # the authors' score of what was said (category 5: 1 if declined)
    guess_f1: float              # the same score for R's best words, as if chatmem had said them
    upper_f1: float              # best span of at most 8 words of the evidence turns
    upper_span: str
    cited: list[str]             # dialog ids of the cited supports, hop order
    candidates: int              # memories O scored at the first hop
    in_candidates: list[bool]    # each evidence turn: among them?
    ranks: dict[str, list[int | None]] = field(default_factory=dict)   # per method: rank of each evidence turn
    ms: float = 0.0              # Bot.answer, the question already encoded


def _bm25(texts: Sequence[str]):
    """BM25 with bm25s (Porter stems, English stop words): returns a scorer of one question."""
    import bm25s

    from chatmem.locomo import _stem

    def stem(ws):
        return [_stem(w) for w in ws]

    index = bm25s.BM25()
    index.index(bm25s.tokenize(list(texts), stopwords="en", stemmer=stem, show_progress=False), show_progress=False)

    def scores(question: str) -> np.ndarray:
        toks = bm25s.tokenize([question], stopwords="en", stemmer=stem, show_progress=False, return_ids=False)[0]
        return index.get_scores(toks) if toks else np.zeros(len(texts))
    return scores


def _ranks(order_ids: Sequence[str], evidence: Sequence[str]) -> list[int | None]:
    pos = {d: r + 1 for r, d in enumerate(order_ids[:DEPTH])}
    return [pos.get(e) for e in evidence]


def _top(scores: np.ndarray, dia: list[str]) -> list[str]:
    return [dia[i] for i in np.argsort(-scores, kind="stable")[:DEPTH]]


def ingest(conv: Conversation, bot, emb: np.ndarray) -> list:
    """Store every turn of `conv` ("Speaker: text", its embedding in `emb`) in `bot`'s memory, written at its
    session's time; the memories, in turn order."""
    from chatmem.input import Utterance, make_utterance

    utts = [Utterance(u.text, u.tokens, False, e)
            for u, e in zip((make_utterance(t.memory_text) for t in conv.turns), emb)]
    return bot.memory.write(utts, f"locomo:{conv.sample_id}", created=[t.created for t in conv.turns])


def question_utterance(text: str, emb: np.ndarray):
    """A LoCoMo question as the Bot is asked it: a question, with its embedding."""
    from chatmem.input import Utterance, make_utterance

    u = make_utterance(text)
    return Utterance(u.text, u.tokens, True, emb)


def evaluate_conversation(conv: Conversation, bot_factory: Callable, embed: Callable[[list[str]], np.ndarray],
                          progress: Callable[[int], None] | None = None) -> list[Row]:
    """Ingest one conversation into a fresh memory and ask every question of it."""
    texts = [t.memory_text for t in conv.turns]
    dia = [t.dia_id for t in conv.turns]
    emb = embed(texts)
    bot = bot_factory()
    dia_of = {m.id: d for m, d in zip(ingest(conv, bot, emb), dia)}
    by_dia = dict(zip(dia, texts))
    bm25 = _bm25(texts)
    q_emb = embed([q.question for q in conv.questions])
    rows = []
    for q, qe in zip(conv.questions, q_emb):
        u = question_utterance(q.question, qe)
        t0 = time.perf_counter()
        a = bot.answer(u)
        ms = 1000 * (time.perf_counter() - t0)
        declined = not (a.confident and a.words)
        said = ", ".join(a.words) if not declined else ""
        ranked = [dia_of[int(i)] for i in a.ranking[0]] if a.ranking is not None else []
        upper, span = best_span([by_dia[e] for e in q.evidence], q)
        rows.append(Row(
            conv.sample_id, q.question, q.category, q.answer, list(q.evidence), a.text, list(a.words), a.confident,
            declined, score_answer(q, said, declined), score_answer(q, ", ".join(a.words), not a.words),
            upper, span, [dia_of[s.memory.id] for s in a.supports], len(ranked), [e in set(ranked) for e in q.evidence],
            {"chatmem": _ranks(ranked, q.evidence), "bm25": _ranks(_top(bm25(q.question), dia), q.evidence),
             "minilm": _ranks(_top(emb @ qe, dia), q.evidence)}, ms))
        if progress:
            progress(1)
    return rows


def _hit(ranks: list[int | None], k: int) -> float:
    return float(any(r is not None and r <= k for r in ranks))


def _recall(ranks: list[int | None], k: int) -> float:
    return sum(r is not None and r <= k for r in ranks) / len(ranks)


def _cited(row: Row, k: int = 3) -> tuple[float, float]:
    got = set(row.cited[:k]) & set(row.evidence)
    return float(bool(got)), float(len(got) == len(set(row.evidence)))


def summarize(rows: Sequence[Row]) -> dict:
    """Retrieval over questions with evidence in categories 1-4; answers per category; category 5 by declining."""
    ret = [r for r in rows if r.category in ANSWERED and r.evidence]
    out: dict = {"questions": len(rows), "conversations": len({r.sample_id for r in rows}),
                 "retrieval_questions": len(ret), "retrieval": {}}
    for m in METHODS:
        d = {}
        for k in KS:
            d[f"recall@{k}"] = _mean([_recall(r.ranks[m], k) for r in ret])
            d[f"hit@{k}"] = _mean([_hit(r.ranks[m], k) for r in ret])
        out["retrieval"][m] = d
    out["recall_curve"] = {m: [_mean([_recall(r.ranks[m], k) for r in ret]) for k in range(1, DEPTH + 1)]
                           for m in METHODS}
    out["cited"] = {"hit": _mean([_cited(r)[0] for r in ret]), "all": _mean([_cited(r)[1] for r in ret]),
                    "mean_cited": _mean([len(r.cited) for r in rows]),
                    "at_hop_limit": int(sum(len(r.cited) >= 8 for r in rows))}
    out["candidates"] = {"any": _mean([float(any(r.in_candidates)) for r in ret]),
                         "all": _mean([float(all(r.in_candidates)) for r in ret]),
                         "mean": _mean([r.candidates for r in rows])}
    cats = {}
    for c in sorted({r.category for r in rows}):
        rs = [r for r in rows if r.category == c]
        cats[str(c)] = {"name": CATEGORIES.get(c, "?"), "questions": len(rs), "f1": _mean([r.f1 for r in rs]),
                        "guess_f1": _mean([r.guess_f1 for r in rs]), "upper_f1": _mean([r.upper_f1 for r in rs]),
                        "declined": _mean([float(r.declined) for r in rs]),
                        "cited_hit": _mean([_cited(r)[0] for r in rs if r.evidence])}
    ans = [r for r in rows if r.category in ANSWERED]
    cats["1-4"] = {"name": "overall", "questions": len(ans), "f1": _mean([r.f1 for r in ans]),
                   "guess_f1": _mean([r.guess_f1 for r in ans]), "upper_f1": _mean([r.upper_f1 for r in ans]),
                   "declined": _mean([float(r.declined) for r in ans]),
                   "cited_hit": _mean([_cited(r)[0] for r in ans if r.evidence])}
    out["categories"] = cats
    ms = np.array([r.ms for r in rows]) if rows else np.zeros(1)
    out["ms"] = {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)), "max": float(ms.max())}
    return out


def _mean(xs) -> float:
    xs = list(xs)
    return float(np.mean(xs)) if xs else 0.0


def format_table(s: dict) -> str:
    pct = lambda x: f"{100 * x:5.1f}%"   # noqa: E731
    lines = [f"LoCoMo: {s['conversations']} conversations, {s['questions']} questions "
             f"(retrieval over the {s['retrieval_questions']} of categories 1-4 with evidence)", "",
             f"{'method':<20} " + " ".join(f"{'recall@' + str(k):>9}" for k in KS)
             + " " + " ".join(f"{'hit@' + str(k):>7}" for k in KS)]
    for m in METHODS:
        d = s["retrieval"][m]
        lines.append(f"{METHOD_NAMES[m]:<20} " + " ".join(f"{pct(d[f'recall@{k}']):>9}" for k in KS)
                     + " " + " ".join(f"{pct(d[f'hit@{k}']):>7}" for k in KS))
    c, cand = s["cited"], s["candidates"]
    lines += ["",
              f"chatmem cited supports (first 3): an evidence turn {pct(c['hit'])}, all evidence {pct(c['all'])}; "
              f"{c['mean_cited']:.1f} cited on average, {c['at_hop_limit']} at the hop limit",
              f"candidates O scores: an evidence turn among them {pct(cand['any'])}, all evidence {pct(cand['all'])}; "
              f"{cand['mean']:.0f} candidates on average", "",
              f"{'category':<16} {'questions':>9} {'answer F1':>9} {'R guess F1':>10} {'span bound':>10} "
              f"{'declined':>8} {'cited hit':>9}"]
    for key, v in s["categories"].items():
        name = f"{key} {v['name']}"
        f1 = f"{v['f1']:.3f}" if key != "5" else pct(v["f1"]) + "*"
        lines.append(f"{name:<16} {v['questions']:>9} {f1:>9} {v['guess_f1']:>10.3f} {v['upper_f1']:>10.3f} "
                     f"{pct(v['declined']):>8} {pct(v['cited_hit']):>9}")
    lines += ["* category 5 (adversarial) scores 1 when chatmem declines, as the authors score it",
              f"time per question (Bot.answer, question pre-encoded): p50 {s['ms']['p50']:.1f} ms, "
              f"p95 {s['ms']['p95']:.1f} ms, max {s['ms']['max']:.1f} ms"]
    return "\n".join(lines)


def run(path: str | Path, model_dir: Path | None = None, conversations: int | None = None,
        show_progress: bool = True, only: Sequence[str] | None = None) -> tuple[list[Row], dict]:
    from chatmem.bot import Bot
    from chatmem.input import MiniLMEncoder
    from chatmem.memory import EphemeralMemory
    from chatmem.util import minilm_cached, progress_bar

    convs = [c for c in load(path)[:conversations] if only is None or c.sample_id in only]
    encoder = MiniLMEncoder()

    def factory():
        return Bot(EphemeralMemory(), model_dir=model_dir, encoder=encoder).load(encoder=False)

    def embed(texts):
        return minilm_cached(texts, encoder) if texts else np.zeros((0, encoder.dim), np.float32)

    bar = progress_bar(sum(len(c.questions) for c in convs), "LoCoMo questions", "q")
    rows = [r for c in convs for r in evaluate_conversation(c, factory, embed, bar.update if show_progress else None)]
    bar.close()
    return rows, summarize(rows)


def row_json(r: Row) -> dict:
    return asdict(r)
