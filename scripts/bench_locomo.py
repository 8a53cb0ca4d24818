"""LoCoMo, measured honestly: O's first hop with and without the trained relevance term, leave one
conversation out (each conversation is scored by a model that never saw it).

    .venv/bin/python scripts/bench_locomo.py --locomo ../shared/locomo/locomo_dev.json \
        --babi-dir ../shared/babi/tasks_1-20_v1-2/en --json docs/bench_locomo.json [--full]

--full also runs `chatmem eval --locomo` (answers, cited supports, BM25 and MiniLM baselines, time per
question) on each held-out conversation with its fold's model. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from chatmem import checkpoint
    from chatmem.paths import assets_dir
    from chatmem.relevance_train import (RelevanceTrainConfig, build_examples, fold_report, load_examples,
                                         save_examples, source_counts)

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--locomo", required=True)
    ap.add_argument("--babi-dir")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--full", action="store_true", help="also the whole evaluation on each held-out conversation")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--cache", metavar="FILE.npz", help="keep the collected examples here and reuse them")
    args = ap.parse_args()
    cfg = RelevanceTrainConfig()
    if args.epochs:
        cfg.epochs = args.epochs
    base = assets_dir()
    loaded = checkpoint.load(base)
    t0 = time.perf_counter()
    log = lambda m: print(m, file=sys.stderr)    # noqa: E731
    if args.cache and Path(args.cache).is_file():
        try:
            exs = load_examples(args.cache)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    else:
        exs = build_examples(loaded, cfg, Path(args.babi_dir) if args.babi_dir else None, args.locomo, log)
        if args.cache:
            save_examples(args.cache, exs)
    convs = sorted({e.source for e in exs if e.source.startswith("locomo:")})
    folds, rows = [], []
    for c in convs:
        train = [e for e in exs if e.source != c]
        held = [e for e in exs if e.source == c]
        rel, rep = fold_report(train, held, cfg, log=lambda m: None)
        rep["conversation"] = c.split(":", 1)[1]
        folds.append(rep)
        log(f"{c}: " + ", ".join(f"{k} {v:.3f}" for k, v in rep.items() if isinstance(v, float)))
        if args.full:
            from chatmem.locomo_eval import run

            with tempfile.TemporaryDirectory() as d:
                for name in (checkpoint.CONFIG, checkpoint.WEIGHTS, checkpoint.VOCAB):
                    shutil.copy(base / name, Path(d) / name)
                checkpoint.save(Path(d), loaded.model, loaded.vocab, loaded.config, relevance=rel, span=loaded.span,
                                span_vocab=loaded.span_vocab)
                rs, _ = run(args.locomo, model_dir=Path(d), only=[rep["conversation"]])
                rows += rs
    n = sum(f["questions"] for f in folds)
    total = {k: sum(f[k] * f["questions"] for f in folds) / n for k in folds[0] if k.startswith("s_O")}
    print(f"O's first hop on LoCoMo, leave one conversation out ({n} questions with evidence, categories 1-4)")
    print(f"{'conversation':<14} {'questions':>9} " + " ".join(f"{k:>17}" for k in total))
    for f in folds:
        print(f"{f['conversation']:<14} {f['questions']:>9} " + " ".join(f"{100 * f[k]:>16.1f}%" for k in total))
    print(f"{'all':<14} {n:>9} " + " ".join(f"{100 * v:>16.1f}%" for v in total.values()))
    out = {"folds": folds, "total": total, "seconds": round(time.perf_counter() - t0, 1),
           "examples": source_counts(exs)}
    if args.full:
        from chatmem.locomo_eval import format_table, row_json, summarize

        summary = summarize(rows)
        print("\nThe whole evaluation, each conversation answered by its fold's model:\n" + format_table(summary))
        out["full"] = summary
        out["rows"] = [row_json(r) for r in rows]
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
