"""The generator's held-out conversations (validation split: names, places and values never trained on),
played through the Bot: statements stored, each question answered in place.

    .venv/bin/python scripts/eval_generated.py [--n 150] [--seed 99] [--as-app] [--casual] [--terse] [--compound 0.5] [--json docs/eval_generated.json]
    .venv/bin/python scripts/eval_generated.py --n 40 --turns 100-200 [--as-app]   # one person's 50-100 statements

By default each turn is stored whole, one memory, as LoCoMo's turns are (a fact may sit inside chit-chat).
With --as-app, statements go through the app's routing instead: split into sentences, only those the act
classifier calls facts stored.

Per kind of question: answers that are short, right and confident; every labelled supporting memory among
the (first 3) cited; declined (for unanswerable questions, the right behaviour; "lookalike": those that ask of
one person what was told of another, as LoCoMo's do; "unsaid": those that ask what a told fact leaves out,
"Why did Priya move to Singapore?"; "why": single facts that ask why, where a reason was told; "detail": those
that ask a detail told after a fact, "What breed is my dog?" after "My dog is called Biscuit, a beagle."). Beside
them, in the same run: whether BM25's, MiniLM cosine's and the newest k memories hold every supporting memory
(k = how many the question has).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _as_app(bot, conv) -> tuple[list, dict[int, int]]:
    """Play a conversation as the app would: statements through chatmem.dialogue_act.route (split into
    sentences, facts stored at the turn's write time), questions answered in place. Returns (turn index,
    turn, tokens, answer) of each question, and the turn each memory id came from."""
    from chatmem.dialogue_act import route
    from chatmem.input import make_utterance

    turn_of, out = {}, []
    for i, t in enumerate(conv.turns):
        if not t.question:
            turn_of |= {h.stored.id: i for h in route(bot, t.text, t.created) if h.stored is not None}
        elif t.qkind is not None and len(bot.memory):
            u = make_utterance(t.text)
            out.append((i, t, u.tokens, bot.answer(u)))
    return out, turn_of


def main() -> int:
    from chatmem import generator
    from chatmem.bot import Bot
    from chatmem.input import MiniLMEncoder
    from chatmem.locomo_eval import _bm25
    from chatmem.memory import EphemeralMemory
    from chatmem.retrieval import WordHashRetriever
    from chatmem.span_train import _dialog_answers
    from chatmem.util import minilm_cached, progress_bar

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=150, help="conversations")
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--split", choices=("valid", "train"), default="valid",
                    help="valid: the held-out conversations we report; train: the training split's lexicon and shapes, "
                         "for calibrating on training data (use a seed training did not: 1234 and 1241 are taken)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--examples", type=int, default=0, help="print this many questions with their answers")
    ap.add_argument("--model-dir", help="the model to evaluate (default: the shipped one)")
    ap.add_argument("--as-app", action="store_true",
                    help="store each statement as the app does (chatmem.dialogue_act.route): one memory per sentence "
                         "the act classifier calls a fact, chit-chat and requests not stored. A question's support is "
                         "cited right when each labelled turn has a memory among the first 3 cited")
    ap.add_argument("--retrieve-from", type=int, metavar="N",
                    help="use the retriever and O's relevance term from N memories on (default: chatmem's)")
    ap.add_argument("--casual", action="store_true",
                    help="every conversation typed casually, as people type to a bot: lower case, no final marks, or "
                         "both (chatmem.generator.typed_casually)")
    ap.add_argument("--compound", type=float, default=0.0, metavar="SHARE",
                    help="tell this share of the pairs of statements that can be in one turn "
                         "(chatmem.generator.compounded: \"Our dog is called Pippin and he is seven.\")")
    ap.add_argument("--terse", action="store_true",
                    help="every conversation written as notes: \"Lent drill to Yusuf.\", \"Dog: Biscuit, a beagle.\", "
                         "\"Mother's name?\" (chatmem.generator.tersely)")
    ap.add_argument("--together", type=int, default=1, metavar="K",
                    help="plant K conversations at a time in one memory (chatmem.crowd.crowds: each one's people "
                         "renamed, the questions that name one of them asked after the last memory): a store a few "
                         "conversations big")
    ap.add_argument("--turns", default=None, metavar="FEWEST-MOST",
                    help="turns of each conversation (default %d-%d, about half of them statements); 100-200: one "
                         "person's memory of 50 to 100 statements" % generator.TURNS)
    args = ap.parse_args()
    try:
        turns = generator.TURNS if args.turns is None else \
            generator.check_turns(tuple(int(x) for x in args.turns.split("-")))
    except ValueError:
        ap.error(f"--turns: give FEWEST-MOST, such as 100-200, not {args.turns!r}")
    convs = generator.generate(args.n, seed=args.seed, split=args.split, turns=turns)
    if args.compound:
        rng = random.Random(args.seed + 1)
        convs = [generator.compounded(c, rng, args.compound) for c in convs]
    if args.terse:
        rng = random.Random(args.seed + 2)
        convs = [generator.tersely(c, rng) for c in convs]
    if args.casual:
        rng = random.Random(args.seed)
        convs = [generator.typed_casually(c, rng) for c in convs]
    if args.together > 1:
        from chatmem.crowd import crowds

        convs = crowds(convs, np.random.default_rng(args.seed), per=args.together)
    encoder = MiniLMEncoder()
    rows = []
    t0 = time.perf_counter()
    bar = progress_bar(len(convs), "conversations", "conv")
    for c in convs:
        bot = Bot(EphemeralMemory(), model_dir=args.model_dir, encoder=encoder)
        if args.retrieve_from is not None:
            bot.retriever = WordHashRetriever(min_memories=args.retrieve_from)
        vecs = minilm_cached([t.text for t in c.turns], encoder)
        played, turn_of = _as_app(bot, c) if args.as_app else (_dialog_answers(bot, c, vecs), None)
        for i, t, _, a in played:
            facts = [k for k in range(i) if not c.turns[k].question]
            gold = {c.turns[k].text for k in t.support}
            # as the app stores them, a memory stands for the turn it came from
            cited = [c.turns[turn_of[s.memory.id]].text if turn_of is not None else s.memory.text
                     for s in a.supports[:3]]
            texts = [c.turns[k].text for k in facts]
            k = max(len(gold), 1)      # a baseline cites as many memories as the question needs
            top = {"bm25": [texts[j] for j in np.argsort(-_bm25(texts)(t.text), kind="stable")[:k]] if texts else [],
                   "minilm": [texts[j] for j in np.argsort(-(vecs[facts] @ vecs[i]), kind="stable")[:k]] if texts else [],
                   "newest": texts[-k:]}
            said = a.confident and bool(a.words)
            rows.append({"kind": t.qkind, "question": t.text, "expected": t.answer, "answer": a.text,
                         "confident": a.confident, "span": a.span is not None, "lookalike": bool(t.lookalike),
                         "unsaid": t.unsaid, "why": t.why, "detail": t.detail,
                         "right": t.answer is not None and said and a.words == [t.answer],
                         "declined": not said, "cited_right": bool(gold) and gold <= set(cited),
                         **{f"{m}_right": bool(gold) and gold <= set(top[m]) for m in top}})
        bar.update(1)
    bar.close()
    kinds = ["single", "who", "when", "update", "two_hop", "unanswerable"]
    out = {}
    print(f"{len(convs)} {'held-out' if args.split == 'valid' else 'training-split'} generated conversations, {len(rows)} questions"
          f"{', stored as the app does' if args.as_app else ''}{', typed casually' if args.casual else ''}"
          f"{f', {args.compound:.0%} of statement pairs told in one turn' if args.compound else ''}"
          f"{f', {args.together} planted in each store' if args.together > 1 else ''}, {time.perf_counter() - t0:.0f} s")
    print(f"{'kind':<13} {'questions':>9} {'answered right':>14} {'cited right':>11} {'declined':>8} "
          f"{'BM25 top-k':>10} {'MiniLM top-k':>12} {'newest':>7}")
    pick = {"answerable": lambda r: r["kind"] != "unanswerable",     # and the unanswerable questions that ask of
            "lookalike": lambda r: r["kind"] == "unanswerable" and r["lookalike"],   # one what was told of another
            "unsaid": lambda r: r["unsaid"],      # and those that ask what a told fact leaves out
            "why": lambda r: r["why"],            # single facts: why, where a reason was told
            "detail": lambda r: r["detail"]}      # and a detail told after a fact
    for k in kinds + ["lookalike", "unsaid", "why", "detail", "answerable"]:
        rs = [r for r in rows if pick.get(k, lambda r: r["kind"] == k)(r)]
        if not rs:
            continue
        m = lambda key: float(np.mean([r[key] for r in rs]))   # noqa: E731
        out[k] = {"questions": len(rs), "right": m("right"), "cited_right": m("cited_right"), "declined": m("declined"),
                  "bm25_topk": m("bm25_right"), "minilm_topk": m("minilm_right"), "newest": m("newest_right")}
        v = out[k]
        print(f"{k:<13} {len(rs):>9} {100 * v['right']:>13.1f}% {100 * v['cited_right']:>10.1f}% "
              f"{100 * v['declined']:>7.1f}% {100 * v['bm25_topk']:>9.1f}% {100 * v['minilm_topk']:>11.1f}% "
              f"{100 * v['newest']:>6.1f}%")
    for r in rows[: args.examples]:
        print(f"[{r['kind']}] {r['question']}  ->  {r['answer']}   (expected: {r['expected']})")
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("json", "examples")}
        Path(args.json).write_text(json.dumps({"settings": settings, "summary": out, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
