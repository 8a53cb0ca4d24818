"""G's superseded links on the generator's held-out conversations (valid split, the same ones as
scripts/eval_generated.py): the links' precision and recall against the generator's labels, and answer
accuracy with and without the link (O's learned penalty on superseded memories), in the same run.

    .venv/bin/python scripts/eval_update.py [--n 150] [--seed 99] [--json docs/eval_update.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    import torch

    from chatmem import checkpoint, generator
    from chatmem.bot import Bot
    from chatmem.input import MiniLMEncoder
    from chatmem.memory import EphemeralMemory
    from chatmem.paths import assets_dir
    from chatmem.span_train import _dialog_answers
    from chatmem.train import minilm_cached, progress_bar
    from chatmem.update_train import _tokenize_all, embed_all, generated_stories, precision_recall

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    loaded = checkpoint.load(assets_dir())
    if loaded.update is None:
        print("the model has no update part: run `chatmem train --stage update`", file=sys.stderr)
        return 2
    convs = generator.generate(args.n, seed=args.seed, split="valid")
    encoder = MiniLMEncoder()
    stories = generated_stories(convs)
    vec, where = embed_all(stories, encoder)
    pr = precision_recall(loaded.update, stories, vec, where, _tokenize_all(stories))
    t0 = time.perf_counter()
    acc = {}
    for linked in (True, False):
        rows = []
        bar = progress_bar(len(convs), f"answers, link {'on' if linked else 'off'}", "conv")
        for c in convs:
            bot = Bot(EphemeralMemory(), encoder=encoder)
            bot._loaded = loaded
            bot.link_updates = linked
            v = minilm_cached([t.text for t in c.turns], encoder)
            for _, t, _, a in _dialog_answers(bot, c, v):
                if t.qkind != "unanswerable":
                    rows.append((t.qkind, a.confident and bool(a.words) and a.words == [t.answer]))
            bar.update(1)
        bar.close()
        acc["with_link" if linked else "without_link"] = {
            "answerable": float(np.mean([r for _, r in rows])),
            "update": float(np.mean([r for k, r in rows if k == "update"])),
            "questions": len(rows), "update_questions": sum(k == "update" for k, _ in rows)}
    print(f"{args.n} held-out generated conversations (valid split, seed {args.seed}), "
          f"{time.perf_counter() - t0:.0f} s")
    print(f"links: precision {100 * pr['precision']:.1f}%  recall {100 * pr['recall']:.1f}%  "
          f"({pr['links']} made, {pr['labelled']} labelled; threshold {loaded.update.cfg.threshold:.2f}, "
          f"O's penalty {loaded.update.cfg.penalty})")
    for k in ("answerable", "update"):
        w, wo = acc["with_link"][k], acc["without_link"][k]
        print(f"answered right, {k:<10} questions: with the link {100 * w:.1f}%  without {100 * wo:.1f}%  "
              f"({100 * (w - wo):+.1f} points)")
    if args.json:
        Path(args.json).write_text(json.dumps({"links": pr, "answers": acc}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
