"""A memory budget: H (trained slot choice) against oldest-first, least-recently-cited and random replacement.

Each story is played through the Bot as the app plays it: statements stored one at a time (G links what they
supersede), and past the budget (a fraction of the story's statements) the memory a policy chooses moves to the
archive; questions are answered in place from what is left. Datasets: bAbI 1k test stories of tasks 1, 2, 3,
5, 6, 11-13; the generator's held-out conversations (valid split); the LoCoMo development conversations (every
turn stored at its session time, a random draw of its questions asked at the end). Nothing here was trained on: H and the update scorer learn from
bAbI training stories and the generator's train split only.

    .venv/bin/python scripts/bench_budget.py [--json docs/bench_budget.json] [--plot docs/bench_budget.png]

Per policy, budget and dataset: answer accuracy (bAbI: the answer words; generated: a confident right answer;
LoCoMo: the authors' F1 of categories 1-4, as chatmem eval --locomo scores it), evidence recall (the labelled supporting memories among the first
three cited) and kept_needed (the labelled supporting memories still in working memory when the question is
asked).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POLICIES = ("H", "oldest", "lru", "random")
BUDGETS = (0.5, 0.25, 0.1)
DATASETS = ("babi", "generated", "locomo_dev")
BABI_TASKS = (1, 2, 3, 5, 6, 11, 12, 13)


@dataclass
class Q:
    at: int                 # statements stored before it is asked
    text: str
    answer: object          # str, or a chatmem.locomo.Question for LoCoMo's scoring
    support: list[int]      # rows of the statements it needs


@dataclass
class BenchStory:
    texts: list[str]
    questions: list[Q]
    created: list[float] | None = None     # when each statement was said (LoCoMo's session times), else now


def babi(babi_dir: Path, per_task: int, seed: int) -> list[BenchStory]:
    from chatmem.update_train import babi_stories

    out = []
    for st in babi_stories(babi_dir, BABI_TASKS, "test", per_task, seed):
        out.append(BenchStory(st.texts, [Q(k, q, a, sup) for k, q, a, sup in st.questions]))
    return out


def generated(n: int, seed: int) -> list[BenchStory]:
    from chatmem import generator
    from chatmem.update_train import generated_stories

    # Answerable questions only: an unanswerable one needs no memory, whatever the policy kept.
    return [BenchStory(st.texts, [Q(k, q, a, sup) for k, q, a, sup in st.questions if sup])
            for st in generated_stories(generator.generate(n, seed=seed, split="valid"))]


def locomo(path: Path, per_conv: int, seed: int) -> list[BenchStory]:
    """Each conversation's turns at their session times (as chatmem eval --locomo writes them), and `per_conv`
    of its questions drawn at random: the file lists them roughly in session order, so its first ones ask
    mostly about the first sessions."""
    from chatmem.locomo import ANSWERED, load

    rng = np.random.default_rng(seed)
    out = []
    for c in load(path):
        row = {t.dia_id: i for i, t in enumerate(c.turns)}
        qs = [q for q in c.questions if q.category in ANSWERED and q.evidence and all(e in row for e in q.evidence)]
        qs = [qs[i] for i in sorted(rng.permutation(len(qs))[:per_conv])]
        out.append(BenchStory([t.memory_text for t in c.turns],
                              [Q(len(c.turns), q.question, q, [row[e] for e in q.evidence]) for q in qs],
                              [t.created for t in c.turns]))
    return out


def right(dataset: str, q: Q, a) -> float:
    if dataset == "locomo_dev":
        from chatmem.locomo import score_answer

        declined = not (a.confident and a.words)
        return score_answer(q.answer, "" if declined else ", ".join(a.words), declined)
    if dataset == "babi":
        return float(",".join(a.words).lower() == str(q.answer).replace(" ", ",").lower())
    return float(q.answer is not None and a.confident and a.words == [q.answer])


def play(story: BenchStory, dataset: str, loaded, encoder, vec: dict, policy: str | None, frac: float, seed: int):
    """One story through a bounded Bot; per question: (accuracy, evidence recall, kept needed). `vec`: each text's
    utterance, tokenised and encoded."""
    from chatmem.bot import Bot
    from chatmem.budget import budget_of
    from chatmem.input import Utterance
    from chatmem.memory import EphemeralMemory

    bot = Bot(EphemeralMemory(), encoder=encoder)
    bot._loaded = loaded
    bot.max_memories = budget_of(frac, len(story.texts)) if policy else None
    bot.budget_policy = policy or "H"
    bot.budget_rng = np.random.default_rng(seed)
    qs = sorted(story.questions, key=lambda q: q.at)
    out, qi = [], 0
    for n in range(len(story.texts) + 1):
        while qi < len(qs) and qs[qi].at == n:
            q = qs[qi]
            qi += 1
            u = vec[q.text]
            a = bot.answer(Utterance(u.text, u.tokens, True, u.embedding))
            need = {r + 1 for r in q.support}             # ids are rows + 1 (never reused)
            cited = {s.memory.id for s in a.supports[:3]}
            kept = {i for i in need if bot.memory.index_of(i) is not None}
            out.append((right(dataset, q, a), len(need & cited) / max(len(need), 1), len(kept) / max(len(need), 1)))
        if n == len(story.texts):
            break
        bot.store([vec[story.texts[n]]], None if story.created is None else [story.created[n]])
    return out


def main() -> int:
    import torch

    from chatmem import checkpoint
    from chatmem.input import MiniLMEncoder, Utterance, make_utterance
    from chatmem.paths import assets_dir, default_babi_dir, default_locomo_file
    from chatmem.train import minilm_cached, progress_bar

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--babi-dir", type=Path, default=default_babi_dir())
    ap.add_argument("--locomo", type=Path, default=default_locomo_file())
    ap.add_argument("--babi-stories", type=int, default=20, help="bAbI test stories per task")
    ap.add_argument("--generated", type=int, default=60, help="held-out generated conversations")
    ap.add_argument("--locomo-questions", type=int, default=40,
                    help="LoCoMo questions per conversation (drawn at random)")
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--policies", default=",".join(POLICIES) + ",none", help="the policies to run (none: the "
                    "unbounded reference); the fixed ones do not read H, so they can run while H trains, then --merge")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--plot", metavar="FILE")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="combine the results of earlier runs (one dataset "
                    "each, run side by side) instead of running")
    args = ap.parse_args()
    unknown = set(args.policies.split(",")) - set(POLICIES) - {"none"}
    if unknown:
        ap.error(f"unknown policy {', '.join(sorted(unknown))}; choose from {', '.join(POLICIES)}, none")
    if args.merge:
        results = [r for f in args.merge for r in json.loads(Path(f).read_text())["results"]]
        report(results, {}, sorted({r["dataset"] for r in results}, key=DATASETS.index), args)
        return 0
    loaded = checkpoint.load(assets_dir())
    if loaded.budget is None or loaded.update is None:
        print("the model has no update or budget part: run `chatmem train --stage update`", file=sys.stderr)
        return 2
    encoder = MiniLMEncoder()
    data = {}
    for ds in args.datasets.split(","):
        if ds == "babi" and args.babi_dir is not None and args.babi_dir.is_dir():
            data[ds] = babi(args.babi_dir, args.babi_stories, args.seed)
        elif ds == "generated":
            data[ds] = generated(args.generated, args.seed)
        elif ds == "locomo_dev" and args.locomo is not None and args.locomo.is_file():
            data[ds] = locomo(args.locomo, args.locomo_questions, args.seed)
        else:
            print(f"skipping {ds}: its data is not here", file=sys.stderr)
    results, full = [], {}
    t0 = time.perf_counter()
    for ds, stories in data.items():
        texts = sorted({t for s in stories for t in s.texts} | {q.text for s in stories for q in s.questions})
        vec = {t: Utterance(t, make_utterance(t).tokens, False, e)       # tokenised and encoded once
               for t, e in zip(texts, minilm_cached(texts, encoder))}
        # The target's budget first, the unbounded reference last; each run's line is printed (and the JSON
        # rewritten) as it finishes, so a run cut short still says what it measured.
        chosen = args.policies.split(",")
        runs = [(p, b) for b in (0.25, 0.5, 0.1) for p in POLICIES if p in chosen]
        runs += [(None, 1.0)] if "none" in chosen else []
        bar = progress_bar(len(runs) * len(stories), f"{ds}: stories", "story")
        for policy, frac in runs:
            per_q = []
            for i, st in enumerate(stories):
                per_q += play(st, ds, loaded, encoder, vec, policy, frac, args.seed + i)
                bar.update(1)
            acc, ev, kept = (float(np.mean([r[k] for r in per_q])) if per_q else 0.0 for k in range(3))
            if policy is None:
                full[ds] = {"accuracy": acc, "evidence_recall": ev, "questions": len(per_q)}
            else:
                results.append({"policy": policy, "budget": frac, "dataset": ds, "accuracy": acc,
                                "evidence_recall": ev, "kept_needed": kept})
            print(f"{ds} {policy or 'no budget'} {frac}: accuracy {acc:.3f} evidence {ev:.3f} kept {kept:.3f} "
                  f"({len(per_q)} questions, {time.perf_counter() - t0:.0f} s)", flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps({"results": results}, indent=1) + "\n")
        bar.close()
    print(f"memory budget benchmark, {time.perf_counter() - t0:.0f} s")
    report(results, full, list(data), args)
    return 0


def report(results, full, sets, args) -> None:
    """The table, the target line, and the JSON and plot files asked for."""
    print(f"{'dataset':<11} {'budget':>6} {'policy':<7} {'accuracy':>8} {'evidence':>8} {'kept':>6}")
    for ds in sets:
        f = full.get(ds)
        if f:
            print(f"{ds:<11} {'all':>6} {'-':<7} {100 * f['accuracy']:>7.1f}% {100 * f['evidence_recall']:>7.1f}% "
                  f"{'100%':>6}   ({f['questions']} questions)")
        for r in results:
            if r["dataset"] == ds:
                print(f"{ds:<11} {r['budget']:>6} {r['policy']:<7} {100 * r['accuracy']:>7.1f}% "
                      f"{100 * r['evidence_recall']:>7.1f}% {100 * r['kept_needed']:>5.1f}%")
    for ds in sets:
        rs = {r["policy"]: r["accuracy"] for r in results if r["dataset"] == ds and r["budget"] == 0.25}
        if not set(POLICIES) <= set(rs):
            continue
        best = max((p for p in POLICIES if p != "H"), key=lambda p: rs[p])
        print(f"{ds}: at a 25% budget H {100 * rs['H']:.1f}% vs the best fixed policy ({best}) "
              f"{100 * rs[best]:.1f}%: {100 * (rs['H'] - rs[best]):+.1f} points (target: +10)")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results}, indent=1) + "\n")
    if args.plot:
        plot(results, full, Path(args.plot))


def plot(results, full, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [d for d in DATASETS if any(r["dataset"] == d for r in results)]
    fig, axes = plt.subplots(2, len(sets), figsize=(4.2 * len(sets), 6.4), squeeze=False)
    for row, (key, label) in enumerate((("accuracy", "answer accuracy (%)"),
                                        ("kept_needed", "needed memories kept (%)"))):
        for ax, ds in zip(axes[row], sets):
            for p in POLICIES:
                rs = sorted((r["budget"], r[key]) for r in results if r["dataset"] == ds and r["policy"] == p)
                ax.plot([100 * b for b, _ in rs], [100 * a for _, a in rs], marker="o", label=p)
            if key == "accuracy" and ds in full:
                ax.axhline(100 * full[ds]["accuracy"], color="grey", ls="--", lw=1, label="no budget")
            ax.set_title(ds if row == 0 else "")
            ax.set_xticks([10, 25, 50])
            if row == 1:
                ax.set_xlabel("budget (% of the story's statements)")
        axes[row][0].set_ylabel(label)
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
