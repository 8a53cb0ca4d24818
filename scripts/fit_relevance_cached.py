"""Fit O's relevance term on examples collected earlier (scripts/bench_locomo.py --cache FILE) and write it
into the model, as `chatmem train --stage relevance` would after collecting them itself.

    .venv/bin/python scripts/fit_relevance_cached.py FILE.npz [--model-dir assets]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from chatmem import checkpoint
    from chatmem.paths import assets_dir
    from chatmem.relevance_train import RelevanceTrainConfig, fit, load_examples

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cache")
    ap.add_argument("--model-dir", default=str(assets_dir()))
    args = ap.parse_args()
    t0 = time.perf_counter()
    loaded = checkpoint.load(Path(args.model_dir))
    exs = load_examples(args.cache)
    cfg = RelevanceTrainConfig()
    rel = fit(exs, cfg, log=lambda m: print(m, file=sys.stderr))
    counts: dict[str, int] = {}
    for e in exs:
        counts[e.source.split(":")[0]] = counts.get(e.source.split(":")[0], 0) + 1
    info = {"config": cfg.to_json(), "examples": counts, "seconds": round(time.perf_counter() - t0, 1),
            "locomo": "locomo_dev.json (all 5 development conversations)"}
    loaded = checkpoint.load(Path(args.model_dir))        # again: another stage may have written it meanwhile
    checkpoint.save(Path(args.model_dir), loaded.model, loaded.vocab, {**loaded.config, "relevance_train": info},
                    relevance=rel, span=loaded.span, span_vocab=loaded.span_vocab)
    print(f"relevance term written to {args.model_dir}: {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
