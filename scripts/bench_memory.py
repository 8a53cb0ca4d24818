#!/usr/bin/env python
"""Memory at scale: answer latency, accuracy, open time, RSS and ingest rate vs memory size.

    .venv/bin/python scripts/bench_memory.py [--sizes 1e3,1e4,1e5,1e6] [--json FILE] [--plot FILE]

Per size it builds (once, cached under --store-dir) a SQLite memory of N statements: two bAbI-style
stories of five facts each, planted at random places among distractor statements ("<name> went to the
kitchen.", "<name> picked up the key." ...). Distractors reuse a pool of MiniLM-encoded sentences with
other names put in (the text and tokens carry the new name, the embedding is the pool sentence's), so
building a million of them does not take hours of encoding. Distractors never mention the stories'
people or objects, so the stories' answers hold whatever N is.

Then, each in its own process (so that open time and RSS are its own), three ways of answering the
stories' questions after the last memory:

  brute      the full model over every memory (the O(n²) "bridge" feature makes this infeasible past
             --brute-max memories: skipped there, with the reason printed)
  retrieval  chatmem's default: word-hashing candidates (chatmem/retrieval.py), the full model on them
  faiss      the speed reference: FAISS flat inner-product search over the stored MiniLM vectors
             (question, then its top hits' vectors for a second hop), the full model on the hits

Latency is Bot.answer on a pre-encoded question (p50/p95 over every question asked --repeats times);
"with encode" adds the question's MiniLM encoding. Open time is opening the store plus building the
method's index; from 50,000 memories a store opens from its snapshot (chatmem/snapshot.py: ids, embeddings
and word index, written when the store is closed), and a store that has none is first opened once without
it (reported as first_open_s). RSS is the process's peak resident set. Ingest is single statements written one
transaction each (Bot.store, pre-encoded) with the method's index kept up to date; they are then
forgotten again, and the index must no longer return them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POOL_VERSION = 1
SEED = 20141015

STORIES = [
    (["Mary moved to the bathroom.", "Sandra journeyed to the garden.", "Mary picked up the football.",
      "Mary went to the kitchen.", "Sandra went back to the hallway."],
     [("Where is Mary?", ["kitchen"]), ("Where is the football?", ["kitchen"]), ("Where is Sandra?", ["hallway"]),
      ("What is Mary carrying?", ["football"])]),
    (["John grabbed the apple.", "Daniel went to the garden.", "John journeyed to the bedroom.",
      "Daniel moved to the hallway."],
     [("Where is John?", ["bedroom"]), ("Where is the apple?", ["bedroom"]), ("Where is Daniel?", ["hallway"]),
      ("Is Daniel in the hallway?", ["yes"]), ("What is John carrying?", ["apple"])]),
]
PLACES = ["kitchen", "garden", "hallway", "bathroom", "office", "bedroom"]
OBJECTS = ["key", "book", "cup", "hat", "ball"]           # the stories' objects (football, apple) never occur
MOVES = ["went to", "journeyed to", "travelled to", "moved to", "went back to"]
TAKES = ["picked up", "grabbed", "got", "took"]
DROPS = ["dropped", "discarded", "put down", "left"]
BASE_NAMES = ["Bill", "Fred", "Julie", "Emma"]
STORY_NAMES = {"mary", "sandra", "john", "daniel"}


def distractor_names(k: int = 500) -> list[str]:
    syl = ["ka", "lo", "mi", "ra", "ne", "to", "vi", "su", "da", "re", "po", "li", "an", "er", "is", "ul"]
    rng = random.Random(SEED)
    out: dict[str, None] = {}
    while len(out) < k:
        w = "".join(rng.choice(syl) for _ in range(rng.choice((2, 3))))
        if w not in STORY_NAMES:
            out.setdefault(w.capitalize(), None)
    return list(out)


def pool_sentences() -> list[str]:
    out = []
    for b in BASE_NAMES:
        out += [f"{b} {v} the {p}." for v in MOVES for p in PLACES]
        out += [f"{b} {v} the {o}." for v in TAKES + DROPS for o in OBJECTS]
    return out


def load_pool(store_dir: Path, encoder):
    from chatmem.input import tokenize

    path = store_dir / f"pool-v{POOL_VERSION}.npz"
    texts = pool_sentences()
    if path.exists():
        emb = np.load(path)["emb"]
    else:
        emb = encoder.encode(texts)
        np.savez(path, emb=emb)
    return texts, [tokenize(t) for t in texts], emb


def distractors(pool, names, count: int, rng: random.Random):
    """(text, tokens, embedding) of `count` distractor statements."""
    texts, toks, emb = pool
    for _ in range(count):
        k = rng.randrange(len(texts))
        name = rng.choice(names)
        base = toks[k][0]
        yield (name + texts[k][len(base):], (name.lower(),) + tuple(toks[k][1:]), emb[k])


# -- building a store ----------------------------------------------------------------------------

def build_store(n: int, directory: Path, encoder, pool) -> float:
    """Write n statements through SQLiteMemory.write (batches of 5,000); returns statements/s."""
    from chatmem.input import Utterance, encode, make_utterance
    from chatmem.memory import SQLiteMemory

    directory.mkdir(parents=True, exist_ok=True)
    for f in [*directory.glob("memory.sqlite3*"), *directory.glob("memory.snapshot*")]:
        f.unlink()
    rng = random.Random(SEED + n)
    facts = [t for story, _ in STORIES for t in story]
    slots = sorted(rng.sample(range(n), len(facts)))
    planted = dict(zip(slots, encode([make_utterance(t) for t in facts], encoder)))
    gen = distractors(pool, distractor_names(), n, rng)
    mem = SQLiteMemory(directory)
    t0 = time.perf_counter()
    batch = []
    for i in range(n):
        if i in planted:
            batch.append(planted[i])
            next(gen)
        else:
            text, toks, e = next(gen)
            batch.append(Utterance(text, toks, False, e))
        if len(batch) == 5000 or i == n - 1:
            mem.write(batch, "bench")
            batch = []
            if n >= 100_000 and (i + 1) % 100_000 == 0:
                print(f"  built {i + 1:,} / {n:,}", file=sys.stderr, flush=True)
    rate = n / (time.perf_counter() - t0)
    mem.close()
    (directory / "built.json").write_text(json.dumps({"n": n, "seed": SEED, "pool": POOL_VERSION, "rate": rate}))
    return rate


# -- the methods --------------------------------------------------------------------------------

class FaissRetriever:
    """Flat inner-product search (FAISS) over the stored MiniLM vectors; no copy, nothing to keep in sync."""

    def __init__(self, k1: int = 48, expand: int = 8, k2: int = 16, recent: int = 16):
        import faiss

        self.faiss = faiss
        self.k1, self.expand, self.k2, self.recent = k1, expand, k2, recent

    def sync(self, memory) -> None:
        pass

    def candidates(self, memory, tokens, embedding=None):
        n = len(memory)
        if embedding is None or n <= 300:
            return None
        xb = memory.embeddings
        _, hits = self.faiss.knn(np.asarray(embedding, dtype=np.float32)[None], xb, min(self.k1, n),
                                 metric=self.faiss.METRIC_INNER_PRODUCT)
        first = hits[0][hits[0] >= 0]
        _, more = self.faiss.knn(np.ascontiguousarray(xb[first[: self.expand]]), xb, min(self.k2, n),
                                 metric=self.faiss.METRIC_INNER_PRODUCT)
        rows = np.concatenate([first, more.ravel(), np.arange(max(0, n - self.recent), n)])
        return np.unique(rows[rows >= 0])


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(args) -> dict:
    """Open a store that has no snapshot (every row read), build its word index, and write the snapshot."""
    from chatmem.memory import SQLiteMemory
    from chatmem.retrieval import WordHashRetriever

    t0 = time.perf_counter()
    mem = SQLiteMemory(Path(args.store_dir) / f"n{args.size}")
    t1 = time.perf_counter()
    WordHashRetriever().sync(mem)
    t2 = time.perf_counter()
    mem.save_snapshot()
    t3 = time.perf_counter()
    mem.close()
    return {"open_s": t1 - t0, "index_s": t2 - t1, "snapshot_s": t3 - t2}


def worker(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from chatmem.bot import Bot
    from chatmem.input import MiniLMEncoder, Utterance, encode, make_utterance
    from chatmem.memory import SQLiteMemory
    from chatmem.retrieval import AllMemories, WordHashRetriever

    n, method = args.size, args.method
    directory = Path(args.store_dir) / f"n{n}"
    encoder = MiniLMEncoder().load()
    pool = load_pool(Path(args.store_dir), encoder)
    from chatmem import checkpoint
    from chatmem.paths import assets_dir

    loaded = checkpoint.load(assets_dir())
    t0 = time.perf_counter()
    mem = SQLiteMemory(directory)
    t_sql = time.perf_counter() - t0
    retriever = {"brute": AllMemories, "retrieval": WordHashRetriever, "faiss": FaissRetriever}[method]()
    t1 = time.perf_counter()
    if hasattr(retriever, "sync"):
        retriever.sync(mem)
    t_index = time.perf_counter() - t1
    bot = Bot(mem, encoder=encoder)
    bot._loaded = loaded
    bot.retriever = retriever
    questions = [(q, exp) for _, qs in STORIES for q, exp in qs]
    utts = [make_utterance(q) for q, _ in questions]
    enc_utts = encode(utts, encoder)
    repeats = 1 if method == "brute" else args.repeats
    lat, lat_enc, answers = [], [], {}
    if method != "brute":
        bot.answer(encode([make_utterance("Where is Bill?")], encoder)[0])   # warm-up (lazy imports), not timed
    for r in range(repeats):
        for (q, exp), u, eu in zip(questions, utts, enc_utts):
            t = time.perf_counter()
            a = bot.answer(eu)
            dt = time.perf_counter() - t
            t = time.perf_counter()
            encode([u], encoder)
            de = time.perf_counter() - t
            lat.append(dt * 1000)
            lat_enc.append((dt + de) * 1000)
            answers[q] = a.words
    correct = sum(answers[q] == exp for q, exp in questions)
    # ingest: single statements, one transaction each, the method's index kept in sync; then forget them
    rng = random.Random(SEED - n)
    new = [Utterance(t, k, False, e) for t, k, e in distractors(pool, distractor_names(), args.ingest, rng)]
    t = time.perf_counter()
    written = []
    for u in new:
        written += bot.store([u])
        if hasattr(retriever, "sync"):
            retriever.sync(mem)
    ingest = len(new) / (time.perf_counter() - t)
    for m in written:
        mem.forget(m.id)
    if isinstance(retriever, WordHashRetriever):
        retriever.sync(mem)
        assert not any(m.id in retriever for m in written), "forgotten memories still in the index"
        assert len(mem) == n
    rss = rss_peak_mb()
    mem.close()
    return {"size": n, "method": method, "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "p50_ms_with_encode": float(np.percentile(lat_enc, 50)), "accuracy": correct / len(questions),
            "same_as_brute": None, "open_s": t_sql + t_index, "rss_mb": rss, "ingest_per_s": ingest,
            "sqlite_load_s": t_sql, "index_build_s": t_index, "questions": len(lat),
            "answers": {q: answers[q] for q, _ in questions}}


# -- the driver ---------------------------------------------------------------------------------

def parse_sizes(text: str) -> list[int]:
    return [int(float(s)) for s in text.split(",") if s.strip()]


def skipped(n: int, method: str, reason: str) -> dict:
    return {"size": n, "method": method, "p50_ms": None, "p95_ms": None, "p50_ms_with_encode": None,
            "accuracy": None, "same_as_brute": None, "open_s": None, "rss_mb": None, "ingest_per_s": None,
            "skipped": reason}


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(results: list[dict]) -> None:
    head = f"{'size':>9} {'method':<9} {'p50 ms':>8} {'p95 ms':>8} {'+enc ms':>8} {'acc':>5} {'=brute':>6} " \
           f"{'open s':>7} {'RSS MB':>7} {'ingest/s':>8}"
    print(head)
    print("-" * len(head))
    for r in results:
        same = "-" if r["same_as_brute"] is None else ("yes" if r["same_as_brute"] else "NO")
        print(f"{r['size']:>9,} {r['method']:<9} {fmt(r['p50_ms'], '8.1f')} {fmt(r['p95_ms'], '8.1f')} "
              f"{fmt(r['p50_ms_with_encode'], '8.1f')} {fmt(r['accuracy'], '5.2f')} {same:>6} "
              f"{fmt(r['open_s'], '7.2f')} {fmt(r['rss_mb'], '7.0f')} {fmt(r['ingest_per_s'], '8.0f')}"
              + (f"   skipped: {r['skipped']}" if r.get("skipped") else ""))


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, style in (("brute", "o-"), ("retrieval", "s-"), ("faiss", "^-")):
        pts = [(r["size"], r["p50_ms"], r["p95_ms"]) for r in results if r["method"] == method and r["p50_ms"] is not None]
        if pts:
            x, p50, p95 = zip(*pts)
            line, = ax.plot(x, p50, style, label=f"{method} p50")
            ax.plot(x, p95, style, alpha=0.35, color=line.get_color(), label=f"{method} p95")
    ax.axhline(50, color="grey", ls=":", lw=1, label="50 ms target")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("memories")
    ax.set_ylabel("answer latency, ms (question pre-encoded)")
    ax.set_title("chatmem: answer latency vs memory size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1e3,1e4,1e5,1e6")
    ap.add_argument("--methods", default="brute,retrieval,faiss")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--plot", default=str(ROOT / "docs" / "bench_memory.png"))
    ap.add_argument("--store-dir", default=os.environ.get("CHATMEM_BENCH_DIR", "/tmp/chatmem-bench"))
    ap.add_argument("--brute-max", type=float, default=1e3,
                    help="largest size brute force is run at (its bridge feature is O(n²) time and memory)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ingest", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (tiny tensors: a second thread only adds OpenMP spinning)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached stores")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        import faiss  # noqa: F401
    except ImportError:
        print("bench_memory: faiss is not installed; run `.venv/bin/pip install faiss-cpu` "
              "(or `pip install -e \".[bench]\"`)", file=sys.stderr)
        return 2
    from chatmem import checkpoint
    from chatmem.paths import assets_dir

    if not (assets_dir() / checkpoint.WEIGHTS).exists():
        print(f"bench_memory: no trained model in {assets_dir()} (run `chatmem train`)", file=sys.stderr)
        return 2
    if args.worker:
        print(json.dumps(prepare(args) if args.prepare else worker(args)))
        return 0

    from chatmem.input import MiniLMEncoder

    store_dir = Path(args.store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    encoder = MiniLMEncoder().load()
    pool = load_pool(store_dir, encoder)
    sizes = parse_sizes(args.sizes)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    results = []
    for n in sizes:
        d = store_dir / f"n{n}"
        meta = d / "built.json"
        ok = meta.exists() and json.loads(meta.read_text()).get("pool") == POOL_VERSION
        if args.rebuild or not ok:
            print(f"building a memory of {n:,} statements in {d} ...", file=sys.stderr, flush=True)
            rate = build_store(n, d, encoder, pool)
            print(f"  bulk ingest {rate:,.0f} statements/s (batches of 5,000)", file=sys.stderr)
        from chatmem.memory import SNAPSHOT_MIN, SNAPSHOT_NAME

        first_open = None
        if n >= SNAPSHOT_MIN and not (d / SNAPSHOT_NAME).exists():
            # A store without a snapshot (made by an older chatmem, or after a forget and no clean close) is read
            # row by row once; closing it writes the snapshot the timed runs open from.
            print(f"  {n:,}: first open without a snapshot ...", file=sys.stderr, flush=True)
            cmd = [sys.executable, __file__, "--worker", "--prepare", "--size", str(n), "--store-dir", str(store_dir)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode == 0:
                first_open = json.loads(p.stdout.strip().splitlines()[-1])
                print(f"  {n:,}: opened in {first_open['open_s']:.1f} s (index {first_open['index_s']:.1f} s), "
                      f"snapshot written in {first_open['snapshot_s']:.1f} s", file=sys.stderr)
        brute_answers = None
        for method in methods:
            if method == "brute" and n > args.brute_max:
                ref = [r for r in results if r["method"] == "brute" and r.get("p50_ms")]
                est = (f"; at {ref[-1]['size']:,} it took {ref[-1]['p50_ms'] / 1000:.1f} s per question (p50), "
                       f"so about {ref[-1]['p50_ms'] / 1000 * (n / ref[-1]['size']) ** 2:,.0f} s here") if ref else ""
                reason = (f"brute force over {n:,} memories not run: the full model's bridge feature is O(n²) per hop "
                          f"and reference (n×n float32 = {n * n * 4 / 2**30:,.1f} GiB){est}; --brute-max "
                          f"{int(args.brute_max):,}")
                print(f"  {n:,} brute: skipped ({reason})", file=sys.stderr)
                results.append(skipped(n, method, reason))
                continue
            print(f"  {n:,} {method} ...", file=sys.stderr, flush=True)
            cmd = [sys.executable, __file__, "--worker", "--size", str(n), "--method", method,
                   "--store-dir", str(store_dir), "--repeats", str(args.repeats), "--ingest", str(args.ingest),
                   "--threads", str(args.threads)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                print(p.stderr[-3000:], file=sys.stderr)
                results.append(skipped(n, method, f"worker failed (exit {p.returncode})"))
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            if method == "brute":
                brute_answers = r["answers"]
            if first_open and method == "retrieval":
                r["first_open_s"] = first_open["open_s"] + first_open["index_s"]
            results.append(r)
        for r in results:
            if r["size"] == n and r["method"] != "brute" and brute_answers is not None and r.get("answers"):
                r["same_as_brute"] = r["answers"] == brute_answers
    print_table(results)
    for r in results:
        if r.get("answers"):
            wrong = {q: a for q, a in r["answers"].items()
                     if a != dict(qa for _, qs in STORIES for qa in qs)[q]}
            if wrong:
                print(f"{r['size']:,} {r['method']}: wrong answers {wrong}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "cpu_threads": args.threads,
                                               "stores": str(store_dir)}, indent=1))
    if args.plot:
        plot(results, Path(args.plot))
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
