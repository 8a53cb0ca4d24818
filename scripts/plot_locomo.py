"""Plot recall@k of chatmem's O and the baselines from `chatmem eval --locomo --json` output.

    .venv/bin/python scripts/bench_locomo.py ... --full --json docs/bench_locomo.json
    .venv/bin/python scripts/plot_locomo.py docs/bench_locomo.json docs/locomo_recall.png [--label NAME=FILE ...]

The input is scripts/bench_locomo.py's JSON or `chatmem eval --locomo --json` output (last line
{"summary": ...}); every --label adds chatmem's curve from another run (a model before and after, say).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def summary(path: str) -> dict:
    """The summary of `chatmem eval --locomo --json` (its last line) or of scripts/bench_locomo.py (its "full")."""
    text = Path(path).read_text(encoding="utf-8").strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        obj = json.loads(text.splitlines()[-1])
    return obj.get("summary", obj.get("full", obj))


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jsonl")
    ap.add_argument("png")
    ap.add_argument("--label", action="append", default=[], metavar="NAME=FILE",
                    help="another run whose chatmem curve to draw")
    ap.add_argument("--title", default="LoCoMo development conversations: evidence recall@k")
    args = ap.parse_args()
    s = summary(args.jsonl)
    names = {"chatmem": "chatmem O (first hop)", "bm25": "BM25 (bm25s)", "minilm": "MiniLM cosine"}
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for m, curve in s["recall_curve"].items():
        ks = range(1, len(curve) + 1)
        ax.plot(ks, [100 * v for v in curve], label=names.get(m, m), lw=2 if m == "chatmem" else 1.5)
    for item in args.label:
        name, _, path = item.partition("=")
        curve = summary(path)["recall_curve"]["chatmem"]
        ax.plot(range(1, len(curve) + 1), [100 * v for v in curve], label=name, ls="--")
    ax.set_xscale("log")
    ax.set_xticks([1, 2, 3, 5, 10, 20, 50])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("k (memories ranked)")
    ax.set_ylabel("evidence turns in the top k (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    ax.set_title(args.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
