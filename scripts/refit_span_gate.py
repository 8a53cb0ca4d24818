#!/usr/bin/env python
"""Refit R's gate, span threshold and nearness on a model whose O changed, keeping its span model.

    .venv/bin/python scripts/refit_span_gate.py [--model-dir assets] [--babi-dir ../shared/babi/tasks_1-20_v1-2/en]

`chatmem train --stage span` fits R's span model (about 40 min: O's supports of 900 generated conversations),
then the gate and the threshold. After a change to O alone (its second hop, say) the span model still reads
spans; what moves is which memories O cites, so the gate, the threshold and the nearness (how near a cited memory
must be to the question to count as about it, chatmem.bot.Bot.related_cos) are fitted again on the same
training-split conversations (seeds 1235 and 1236; the "no answer" cut's second calibration also on seed 1238's,
planted three to a store) with the new O, as the span stage would: about 12 minutes.
The held-out split is never read. The model card is written again.

After `chatmem train --warm-from DIR --last relevance` (O and R fine-tuned, the relevance term fitted again, the
span model kept), this script finishes the model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from chatmem.paths import assets_dir, default_babi_dir
    from chatmem.span_train import SpanTrainConfig, train_span

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", default=None, help="the model to refit (default: the shipped one)")
    ap.add_argument("--babi-dir", default=None, help="bAbI en/ directory, whose validation stories the gate reads")
    args = ap.parse_args()
    babi = Path(args.babi_dir) if args.babi_dir else default_babi_dir()
    if babi is None or not babi.is_dir():
        print("refit_span_gate: bAbI not found; pass --babi-dir", file=sys.stderr)
        return 2
    model_dir = Path(args.model_dir) if args.model_dir else assets_dir()
    train_span(model_dir, SpanTrainConfig(), babi, log=lambda m: print(m, file=sys.stderr), fit_model=False)
    from chatmem.report import write_model_card

    write_model_card(model_dir, babi)      # the card lists the gate's fit
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
