"""Fit O's relevance term on examples collected earlier (scripts/bench_locomo.py --cache FILE) and write it
into the model, as `chatmem train --stage relevance` would after collecting them itself.

    .venv/bin/python scripts/fit_relevance_cached.py FILE.npz [--model-dir assets]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from chatmem.paths import assets_dir
    from chatmem.relevance_train import RelevanceTrainConfig, load_examples, train_relevance

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cache")
    ap.add_argument("--model-dir", default=str(assets_dir()))
    ap.add_argument("--locomo", default="locomo_dev.json", help="what the cache's LoCoMo examples came from (recorded)")
    args = ap.parse_args()
    try:
        exs = load_examples(args.cache)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    train_relevance(Path(args.model_dir), RelevanceTrainConfig(), locomo_path=args.locomo,
                    log=lambda m: print(m, file=sys.stderr), examples=exs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
