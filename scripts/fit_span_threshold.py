#!/usr/bin/env python
"""Choose R's span threshold through the Bot, on training-split generated conversations, and write it into a model.

    .venv/bin/python scripts/fit_span_threshold.py [--model-dir assets] [--n 60] [--seed 777]

`chatmem train --stage span` chooses the threshold on R's own examples, where a question whose supporting fact O
missed counts as one to decline; with the generator's harder statements that set the threshold at 0.80, and
through the Bot most right answers then came out as "I'm not sure". Here every candidate threshold plays the
same training-split conversations (a seed training does not use) through the Bot, as the app answers, and the
one that answers the most answerable questions right while declining at least 90% of the unanswerable ones is
written (ties go to the higher). The held-out split is never read.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GRID = (0.3, 0.375, 0.45, 0.6, 0.8)
DECLINE = 0.9
RUN = """
import sys, runpy
import chatmem.bot as b
b.Bot.span_threshold = property(lambda self: {tau})
sys.argv = ["eval_generated.py"] + {argv!r}
runpy.run_path({script!r}, run_name="__main__")
"""


def main() -> int:
    from chatmem import checkpoint
    from chatmem.paths import assets_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", default=None, help="the model to calibrate (default: the shipped one)")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=777, help="training split; 1234 and 1241 are taken by training")
    args = ap.parse_args()
    model = Path(args.model_dir) if args.model_dir else assets_dir()
    curve = []
    with tempfile.TemporaryDirectory() as tmp:
        for tau in GRID:
            out = Path(tmp) / f"{tau}.json"
            argv = ["--n", str(args.n), "--seed", str(args.seed), "--split", "train", "--model-dir", str(model),
                    "--json", str(out)]
            code = RUN.format(tau=tau, argv=argv, script=str(ROOT / "scripts" / "eval_generated.py"))
            subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
            s = json.loads(out.read_text())["summary"]
            ans, una = s["answerable"]["right"], s["unanswerable"]["declined"]
            curve.append((una >= DECLINE, ans if una >= DECLINE else una, tau, ans, una))
            print(f"threshold {tau:.3f}: answerable right {100 * ans:.1f}%, unanswerable declined {100 * una:.1f}%")
    ok, _, tau, ans, una = max(curve)
    checkpoint.update_config(model, span_threshold=tau, span_threshold_fit={
        "conversations": args.n, "seed": args.seed, "split": "train", "answerable_right": ans,
        "unanswerable_declined": una, "decline_target": DECLINE, "met": ok, "grid": list(GRID)})
    path = model / checkpoint.CONFIG
    print(f"span threshold {tau} written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
