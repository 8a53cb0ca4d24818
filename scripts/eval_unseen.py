#!/usr/bin/env python
"""Unseen words: bAbI test stories with every name, place and object replaced by an invented word.

    .venv/bin/python scripts/eval_unseen.py [--babi-dir DIR] [--tasks 1-20 | 1,2] [--model-dir assets] [--json FILE] [--app]

The issue's target: stories whose names, places and objects never occur in bAbI are answered as well
as tasks 1 and 2. Each story gets its own consistent renaming ("Mary" -> "Zolbaku" everywhere in that
story, answers included), so the model can only answer through exact matches, never through knowing the
word. Prints the accuracy on the original and on the renamed stories side by side, and on the stories with only
their people renamed ("people"): the issue's "unseen names". bAbI's people are the words its statements only write
with a capital (babi.proper_names); until this column was added, this script left them as they were.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED = 7     # the renaming of the test stories (R's gate trains on validation stories renamed with another)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--babi-dir", default=None)
    ap.add_argument("--tasks", default="1,2")
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--app", action="store_true",
                    help="also through the Bot, as `chatmem replay` and the app answer: right and said with confidence")
    args = ap.parse_args(argv)
    from chatmem import ChatmemError, checkpoint
    from chatmem.babi import load_task, parse_tasks, proper_names, rename
    from chatmem.data import samples_table
    from chatmem.evaluate import predict, summarize
    from chatmem.paths import assets_dir, default_babi_dir

    try:
        tasks = parse_tasks(args.tasks)        # "1-10" or "1,2,17", as `chatmem eval --tasks` reads them
    except ChatmemError as e:
        print(f"eval_unseen: {e}", file=sys.stderr)
        return 2
    babi = Path(args.babi_dir) if args.babi_dir else default_babi_dir()
    if babi is None or not Path(babi).is_dir():
        print("eval_unseen: no bAbI data (pass --babi-dir DIR or set CHATMEM_BABI_DIR)", file=sys.stderr)
        return 2
    loaded = checkpoint.load(Path(args.model_dir) if args.model_dir else assets_dir())
    vocab = loaded.vocab
    results = {}
    app = _app_accuracy(args.model_dir) if args.app else None
    print(f"{'task':>4}  {'original':>8}  {'renamed':>8}  {'support (renamed)':>17}  {'people':>8}  questions"
          + (f"  {'app: original':>13}  {'app: renamed':>12}  {'app: people':>11}" if app else ""))
    for t in tasks:
        original = load_task(Path(babi), t, "test")
        people = set(proper_names(load_task(Path(babi), t, "train")))
        versions = {"original": original,
                    "renamed": rename(original, set(vocab.entities) | people, set(vocab.words), SEED),
                    "people": rename(original, people, set(vocab.words), SEED)}
        row = {}
        for name, samples in versions.items():
            table = samples_table(samples, vocab)
            t0 = time.perf_counter()
            summary = summarize(predict(loaded.model, vocab, samples, table))["tasks"][str(t)]
            row[name] = {**summary, "seconds": round(time.perf_counter() - t0, 2)}
        if app:
            row["app"] = {name: app(samples) for name, samples in versions.items()}
        results[str(t)] = row
        print(f"{t:>4}  {100 * row['original']['accuracy']:>7.1f}%  {100 * row['renamed']['accuracy']:>7.1f}%  "
              f"{100 * row['renamed']['support_accuracy']:>16.1f}%  {100 * row['people']['accuracy']:>7.1f}%  "
              f"{row['renamed']['questions']:>9}"
              + (f"  {100 * row['app']['original']:>12.1f}%  {100 * row['app']['renamed']:>11.1f}%"
                 f"  {100 * row['app']['people']:>10.1f}%" if app else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"tasks": results, "seed": SEED}, indent=1))
    return 0


def _app_accuracy(model_dir):
    """Accuracy through the Bot (chatmem.replay): right and said with confidence, each story in a new memory."""
    from chatmem.bot import Bot
    from chatmem.memory import EphemeralMemory
    from chatmem.paths import cache_dir
    from chatmem.replay import _share, replay_babi

    proto = Bot(EphemeralMemory(), model_dir=model_dir).load(encoder=False)

    class Quiet:
        def stored(self, *_):
            pass

        def answered(self, *_):
            pass

    def accuracy(samples) -> float:
        rs = replay_babi(samples, lambda: _share(Bot(EphemeralMemory(), model_dir=model_dir, session="babi"), proto),
                         Quiet(), cache_dir(None))
        return sum(bool(r.correct) for r in rs) / max(len(rs), 1)
    return accuracy


if __name__ == "__main__":
    sys.exit(main())
