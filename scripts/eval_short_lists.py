#!/usr/bin/env python
"""Short list stories: "X went to the office. X picked up the A. X grabbed the B there. X dropped the A. What is X
carrying?" in 768 variants (8 people, three of them never in bAbI; 4 pairs of things; 4 ways to let go and 3 to
take; either thing let go), answered by the model as in the bAbI table.

    .venv/bin/python scripts/eval_short_lists.py [--model-dir assets] [--json FILE]

bAbI's task 8 stories are longer and the model answers 99.6% of them; told this short, O's first hop often takes the
newer thing first and R then names the one let go. `assets/dialogs/lists.chat` is one of these stories.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEOPLE = ["Sandra", "Mary", "John", "Daniel", "Bill", "Zorizo", "Henrike", "Nyti"]   # the last three: not in bAbI
THINGS = [("football", "milk"), ("apple", "football"), ("milk", "apple"), ("zoguslu", "lupel")]
LET_GO = ["dropped", "put down", "discarded", "left"]
TAKE = [("picked up", "grabbed"), ("got", "took"), ("took", "picked up")]


def stories():
    from chatmem.babi import Sample

    out = []
    for who, (a, b), drop, (g1, g2) in itertools.product(PEOPLE, THINGS, LET_GO, TAKE):
        for gone, kept in ((a, b), (b, a)):
            story = (f"{who} went to the office.", f"{who} {g1} the {a}.", f"{who} {g2} the {b} there.",
                     f"{who} {drop} the {gone}.")
            out.append(Sample(8, story, f"What is {who} carrying?", (kept,), (1, 2, 3)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    from chatmem import checkpoint
    from chatmem.data import samples_table
    from chatmem.evaluate import predict
    from chatmem.paths import assets_dir

    loaded = checkpoint.load(Path(args.model_dir) if args.model_dir else assets_dir())
    samples = stories()
    table = samples_table(samples, loaded.vocab)
    preds = predict(loaded.model, loaded.vocab, samples, table)
    by: dict[str, list[bool]] = {}
    for p in preds:
        by.setdefault(p.sample.question.split()[2], []).append(p.correct)
    print(f"{'person':<8}  right")
    for who, ok in by.items():
        print(f"{who:<8}  {sum(ok):>3}/{len(ok)}")
    total = sum(p.correct for p in preds)
    print(f"{'all':<8}  {total:>3}/{len(preds)}  ({100 * total / len(preds):.1f}%)")
    if args.json:
        Path(args.json).write_text(json.dumps({"right": total, "questions": len(preds),
                                               "by_person": {k: sum(v) for k, v in by.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
