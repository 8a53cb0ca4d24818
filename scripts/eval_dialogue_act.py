"""Which utterances chatmem stores as facts: precision and recall of "stored as fact" on the hand-written
labelled set (tests/fixtures/dialogue_acts.tsv, never trained on; and the same lines in lower case without final
punctuation, as people type to a bot) and on a generated held-out split (the
generator's validation lexicon, a seed training never used; and typed casually too), for the shipped act classifier and, in the same
run, the rule it replaced (every sentence that is not a question is stored).

    .venv/bin/python scripts/eval_dialogue_act.py [--model assets] [--json docs/eval_dialogue_act.json] [--errors]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HAND = ROOT / "tests" / "fixtures" / "dialogue_acts.tsv"


def read_labelled(path: Path) -> list[tuple[str, str]]:
    from chatmem.dialogue_act import ACTS

    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        act, text = line.split("\t", 1)
        if act not in ACTS:
            raise SystemExit(f"{path}:{n}: unknown act {act!r}")
        pairs.append((text, act))
    return pairs


def main() -> int:
    import torch

    from chatmem import checkpoint
    from chatmem.dialogue_act import ACTS, classify, fact_scores, generated, mistyped, to_utterances
    from chatmem.generator import casual_text
    from chatmem.input import MiniLMEncoder
    from chatmem.paths import assets_dir

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", metavar="DIR", help="model directory (default: assets/)")
    ap.add_argument("--json", metavar="FILE", default=str(ROOT / "docs" / "eval_dialogue_act.json"))
    ap.add_argument("--generated", type=int, default=60, help="held-out generated conversations")
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--errors", action="store_true", help="print the hand-written utterances it gets wrong")
    args = ap.parse_args()

    loaded = checkpoint.load(Path(args.model) if args.model else assets_dir())
    if loaded.act is None:
        raise SystemExit("this checkpoint has no act classifier: run `chatmem train --stage act`")
    enc = MiniLMEncoder()
    def typed(pairs):
        """The same lines as people type to a bot: lower case, no final punctuation ("whats the wifi password")."""
        return [(casual_text(t, lower=True, bare=True), a) for t, a in pairs if t.strip(" .?!")]

    hand = read_labelled(HAND)
    sets = {"hand-written": hand, "hand-written, typed casually": typed(hand)}
    if args.generated:
        gen = generated(args.generated, args.seed, "valid")
        slip = random.Random(args.seed)
        sets.update({"generated held-out": gen, "generated held-out, typed casually": typed(gen),
                     # and with a slip in one word: "wat school does finn go to"
                     "generated held-out, one word mistyped": [(mistyped(slip, t), a) for t, a in typed(gen)]})
    out = {"model": str(args.model or assets_dir()), "sets": {}}
    rows = []
    for name, pairs in sets.items():
        utts, _ = to_utterances(pairs, enc)
        gold = [a for _, a in pairs]
        pred = {"act classifier": classify(loaded.act, utts), "rule (every statement stored)": classify(None, utts)}
        out["sets"][name] = {}
        for method, p in pred.items():
            s = fact_scores(p, gold)
            out["sets"][name][method] = s
            rows.append((name, method, s))
        if args.errors and name.startswith("hand-written"):
            for (t, g), p in zip(pairs, pred["act classifier"]):
                if p != g:
                    print(f"  {g:>9} -> {p:<9} {t}")
        confusion = {g: {p: 0 for p in ACTS} for g in ACTS}
        for g, p in zip(gold, pred["act classifier"]):
            confusion[g][p] += 1
        out["sets"][name]["confusion"] = confusion
    print(f"{'set':<38} {'method':<30} {'n':>5} {'facts':>6} {'stored':>7} {'precision':>10} {'recall':>7} "
          f"{'acts':>6} {'chit-chat stored':>17} {'requests stored':>16}")
    for name, method, s in rows:
        print(f"{name:<38} {method:<30} {s['n']:>5} {s['facts']:>6} {s['stored']:>7} {s['precision']:>10.3f} "
              f"{s['recall']:>7.3f} {s['act_accuracy']:>6.3f} {s['chitchat_stored']:>17} {s['requests_stored']:>16}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
