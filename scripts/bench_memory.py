#!/usr/bin/env python
"""Memory at scale: hundreds of planted stories among N distractors that mention the same people and things.

    .venv/bin/python scripts/bench_memory.py [--sizes 1e3,1e4,1e5,1e6] [--json FILE] [--plot FILE]

The stories (built once, encoded once, cached under --store-dir):

- bAbI test questions of tasks 1, 2, 3, 6, 11, 12 and 13 (--per-task of each, seeded): each question with the
  story before it is one story, its people and objects renamed to names no other story uses (so 500 stories
  that all star Mary and the football cannot answer for each other);
- held-out generated conversations (chatmem/generator.py, valid split): every statement is planted, and the
  questions asked are those about a named person of that conversation whose supporting statements name them
  and are not superseded later.

Per size N a SQLite memory is built of N distractors with every story planted whole at a random place. A
distractor mentions a story's people and things only before that story's first fact, so every answer still
holds; places (kitchen, garden ...) are everybody's. Distractors that name a story's people are MiniLM-encoded
for real (a few per story); the rest reuse a pool of encoded sentences with other names put in (text and
tokens carry the new name, the embedding is the pool sentence's), so a million of them take no encoding.

The reference is the same questions asked of each story alone (an empty memory, no distractors). Each size
is then asked every question after the last memory, in its own process per method (open time and RSS are
its own):

  retrieval  chatmem's default (chatmem/retrieval.py + Bot's relevance cascade)
  faiss      the speed reference: a FAISS flat inner-product search over the stored vectors chooses O's
             candidates (question, then its hits' neighbours for a second hop); latency ratio is retrieval/faiss.
             It answers every k-th question only (--faiss-questions, a flat search takes seconds at 1e6); its
             reference accuracy is that of the same questions

Latency is Bot.answer on a pre-encoded question; "with encode" adds the question's MiniLM encoding. After
answering, the retrieval worker measures ingest (batched: Memory.write of --ingest-batch pre-encoded rows in
batches of 1,000; single: Bot.store of one statement at a time, one transaction each) and forgetting three
canary memories planted first, in the middle and last (each with a conversation-log turn quoting it); the
raw files (database, WAL, snapshot) are then searched for the canaries' text.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VERSION = 3             # of the stories, pool and layout: a change rebuilds the cached stores
SEED = 20141015
TASKS = (1, 2, 3, 6, 11, 12, 13)
BABI_PEOPLE = ("Mary", "John", "Sandra", "Daniel")
BABI_THINGS = ("football", "apple", "milk")
PLACES = ["kitchen", "garden", "hallway", "bathroom", "office", "bedroom"]
MOVES = ["went to", "journeyed to", "travelled to", "moved to", "went back to"]
TAKES = ["picked up", "grabbed", "got", "took"]
DROPS = ["dropped", "discarded", "put down", "left"]
POOL_NAMES = ["Bill", "Fred", "Julie", "Emma"]
POOL_THINGS = ["key", "book", "cup", "hat", "ball"]
PER_STORY = 6           # really encoded distractors that name each story's people or things
CANARY = "Quillon{k} buried the zephyrite{k} under the old mill."


@dataclass
class Story:
    source: str                                   # "babi-<task>" or "generated"
    facts: list[str]
    questions: list[tuple[str, list[str], list[int]]]   # (question, expected words, supporting fact indices)
    people: list[str] = field(default_factory=list)
    things: list[str] = field(default_factory=list)


# -- the stories -------------------------------------------------------------------------------

def invented_words(k: int, rng: random.Random, avoid: set[str]) -> list[str]:
    syl = ["ka", "lo", "mi", "ra", "ne", "to", "vi", "su", "da", "re", "po", "li", "an", "er", "is", "ul",
           "bo", "fe", "gu", "ha", "jo", "ke", "mo", "ny", "pa", "qui", "sa", "te", "wo", "ze"]
    out: dict[str, None] = {}
    while len(out) < k:
        w = "".join(rng.choice(syl) for _ in range(rng.choice((2, 3, 3))))
        if w not in avoid:
            out.setdefault(w, None)
    return list(out)


def babi_stories(babi_dir: Path, per_task: int, rng: random.Random, names: list[str], things: list[str]) -> list[Story]:
    from chatmem.babi import read_file
    from chatmem.crowd import renamer

    out = []
    for t in TASKS:
        path = glob.glob(str(babi_dir / f"qa{t}_*_test.txt"))[0]
        for s in rng.sample(read_file(Path(path), t), per_task):
            mapping = {p: names.pop() for p in BABI_PEOPLE} | {o: things.pop() for o in BABI_THINGS}
            sub = renamer(mapping)
            facts = [sub(f) for f in s.story]
            used = " ".join(facts)
            people = [v for k, v in mapping.items() if k in BABI_PEOPLE and v in used]
            objs = [v for k, v in mapping.items() if k in BABI_THINGS and v in used]
            out.append(Story(f"babi-{t}", facts, [(sub(s.question), [mapping.get(a, a) for a in s.answer],
                                                   list(s.support))], people, objs))
    return out


def generated_stories(n: int, seed: int, names: list[str]) -> list[Story]:
    """Held-out generated conversations, their people renamed to names no other story uses; only questions
    about a named person whose supporting statements name them (a question about "my sister" could be
    answered by any of the conversations)."""
    from chatmem import lexicon as lx
    from chatmem.crowd import renamer
    from chatmem.generator import generate
    from chatmem.replay import normalize_answer

    known = set(lx.FIRST_NAMES) | set(lx.SURNAMES)
    out = []
    for c in generate(n, seed, "valid"):
        found = sorted({w for t in c.turns for w in re.findall(r"\b[A-Z][a-z]+\b", t.text + " " + (t.answer or ""))
                        if w in known})
        if not found:
            continue
        mapping = {w: names.pop() for w in found}
        sub = renamer(mapping)
        text = [sub(t.text) for t in c.turns]
        facts_at = {i: k for k, i in enumerate(i for i, t in enumerate(c.turns) if not t.question)}
        superseded = {t.supersedes for t in c.turns if t.supersedes is not None}
        new = set(mapping.values())
        qs = []
        for i, t in enumerate(c.turns):
            if not (t.question and t.answer and t.support and t.qkind in ("single", "who", "two_hop", "update")):
                continue
            if t.text.split()[0] in ("Remind", "Tell") or any(s in superseded or s not in facts_at for s in t.support):
                continue
            named = [w for w in re.findall(r"\b[A-Z][a-z]+\b", text[i]) if w in new]
            if named and all(any(w in text[s] for w in named) for s in t.support):
                qs.append((text[i], normalize_answer(sub(t.answer)), [facts_at[s] for s in t.support]))
        if qs:
            out.append(Story("generated", [text[i] for i in facts_at], qs, sorted(new), []))
    return out


def make_stories(args) -> list[Story]:
    rng = random.Random(SEED)
    from chatmem import checkpoint
    from chatmem.paths import assets_dir

    vocab = set(json.loads((assets_dir() / "vocab.json").read_text())["words"]) \
        if (assets_dir() / "vocab.json").exists() else set()
    n_babi = args.per_task * len(TASKS)
    words = invented_words(7 * n_babi + 12 * args.generated, rng, vocab | {"quillon", "zephyrite"})
    names = [w.capitalize() for w in words[: 4 * n_babi]]
    things = words[4 * n_babi: 7 * n_babi]
    stories = babi_stories(Path(args.babi_dir), args.per_task, rng, names, things)
    stories += generated_stories(args.generated, SEED, [w.capitalize() for w in words[7 * n_babi:]])
    del checkpoint
    return stories


def distractor_templates(people: list[str], things: list[str], rng: random.Random, k: int) -> list[str]:
    """k sentences about a story's people and things (bAbI-like moves, takes and drops)."""
    out = []
    for _ in range(k):
        p = rng.choice(people) if people else rng.choice(POOL_NAMES)
        if things and rng.random() < 0.5:
            out.append(f"{p} {rng.choice(TAKES + DROPS)} the {rng.choice(things)}.")
        else:
            out.append(f"{p} {rng.choice(MOVES)} the {rng.choice(PLACES)}.")
    return out


def pool_sentences() -> list[str]:
    out = []
    for b in POOL_NAMES:
        out += [f"{b} {v} the {p}." for v in MOVES for p in PLACES]
        out += [f"{b} {v} the {o}." for v in TAKES + DROPS for o in POOL_THINGS]
    return out


@dataclass
class Prepared:
    stories: list[Story]
    fact_utts: list[list]           # per story, encoded Utterances of its facts
    question_utts: list[list]       # per story, encoded Utterances of its questions
    near_utts: list[list]           # per story, encoded distractors naming its people and things
    pool: tuple                     # (texts, tokens, embeddings) of the generic pool
    generic_names: list[str]
    key: str = ""                   # of the stories and distractor sentences: a built store holds these


def prepare_stories(args, encoder) -> Prepared:
    """Stories, their distractor sentences and the generic pool, tokenised and encoded (cached)."""
    from chatmem.input import Utterance, make_utterance

    store_dir = Path(args.store_dir)
    stories = make_stories(args)
    rng = random.Random(SEED + 1)
    near = [distractor_templates(s.people, s.things, rng, PER_STORY) for s in stories]
    pool = pool_sentences()
    texts = [t for s in stories for t in s.facts] + [q for s in stories for q, _, _ in s.questions] + \
        [t for ts in near for t in ts] + pool
    key = hashlib.sha256(json.dumps([VERSION, texts]).encode()).hexdigest()[:16]
    cache = store_dir / f"encoded-{key}.npz"
    uniq = sorted(set(texts))
    saved = np.load(cache) if cache.exists() else None
    if saved is not None and "tokens" in saved.files:
        emb, toks = saved["emb"], json.loads(str(saved["tokens"]))
    else:
        if saved is None:
            print(f"encoding {len(uniq):,} story and distractor sentences ...", file=sys.stderr, flush=True)
        emb = saved["emb"] if saved is not None else encoder.encode(uniq)
        toks = [list(make_utterance(t).tokens) for t in uniq]       # spaCy once, not in every worker
        np.savez(cache, emb=emb, tokens=np.array(json.dumps(toks)))
    at = {t: i for i, t in enumerate(uniq)}

    def utt(t: str):
        return Utterance(t, tuple(toks[at[t]]), t.endswith("?"), emb[at[t]])

    used = {w.lower() for s in stories for w in s.people + s.things}
    generic = [w.capitalize() for w in invented_words(800, random.Random(SEED + 2), used)]
    pool_utts = [utt(t) for t in pool]
    return Prepared(stories, [[utt(t) for t in s.facts] for s in stories],
                    [[utt(q) for q, _, _ in s.questions] for s in stories], [[utt(t) for t in ts] for ts in near],
                    ([u.text for u in pool_utts], [u.tokens for u in pool_utts], np.stack([u.embedding for u in pool_utts])),
                    generic, key)


# -- building a store ----------------------------------------------------------------------------

def generic_distractors(pool, names, rng: random.Random):
    texts, toks, emb = pool
    while True:
        k = rng.randrange(len(texts))
        name = rng.choice(names)
        yield name + texts[k][len(toks[k][0]):], (name.lower(),) + tuple(toks[k][1:]), emb[k]


def build_store(n: int, directory: Path, prep: Prepared) -> dict:
    """Write n distractors with every story planted whole at a random place (Memory.write, batches of 5,000)."""
    from chatmem.input import Utterance
    from chatmem.memory import SQLiteMemory

    directory.mkdir(parents=True, exist_ok=True)
    for f in [*directory.glob("memory.sqlite3*"), *directory.glob("memory.snapshot*"), directory / "layout.json"]:
        f.unlink(missing_ok=True)
    rng = random.Random(SEED + n)
    S = len(prep.stories)
    order = list(range(S))
    rng.shuffle(order)
    starts = sorted(rng.randrange(n + 1) for _ in range(S))     # story order[j] goes in before distractor starts[j]
    canary_at = {0: 0, n // 2: 1, n - 1: 2}
    gen = generic_distractors(prep.pool, prep.generic_names, rng)
    mem = SQLiteMemory(directory)
    mem.reserve(n + sum(map(len, prep.fact_utts)))       # one matrix of the final size: no copy as it grows
    layout: dict[int, list[int]] = {}
    batch: list = []
    written = 0
    t0 = time.perf_counter()
    canaries = []

    def flush():
        nonlocal batch, written
        if batch:
            ms = mem.write([u for u, _ in batch], "bench")
            for m, (_, tag) in zip(ms, batch):
                if tag is not None:
                    layout.setdefault(tag, []).append(m.id)
            written += len(batch)
            batch = []

    j = 0
    for d in range(n + 1):
        while j < S and starts[j] == d:
            s = order[j]
            batch += [(u, s) for u in prep.fact_utts[s]]
            j += 1
        if d == n:
            break
        if d in canary_at:
            k = canary_at[d]
            text = CANARY.format(k=k)
            _, toks, e = next(gen)
            batch.append((Utterance(text, tuple(text.lower().rstrip(".").split()), False, e), f"canary{k}"))
            canaries.append(text)
            continue
        if j < S and rng.random() < 0.5:       # name the people or things of a story that has not begun yet
            u = rng.choice(prep.near_utts[order[rng.randrange(j, S)]])
            batch.append((u, None))
        else:
            text, toks, e = next(gen)
            batch.append((Utterance(text, toks, False, e), None))
        if len(batch) >= 5000:
            flush()
            if n >= 100_000 and d % 100_000 < 5000:
                print(f"  built {d:,} / {n:,}", file=sys.stderr, flush=True)
    flush()
    rate = written / (time.perf_counter() - t0)
    for k, text in enumerate(canaries):       # the conversation log quotes each canary
        mem.log_turn("user", text, "bench")
        mem.log_turn("bot", f"I'll remember that: {text}", "bench")
    mem.close()
    (directory / "layout.json").write_text(json.dumps({str(k): v for k, v in layout.items()}))
    info = {"n": n, "memories": written, "version": VERSION, "stories": prep.key, "rate": rate, "rss_build_mb": rss_peak_mb(),
            "canaries": canaries}
    (directory / "built.json").write_text(json.dumps(info))
    return info


# -- asking ------------------------------------------------------------------------------------

def score(prep: Prepared, answers: list, ids_of) -> tuple[float, float, list[bool]]:
    """Accuracy and support accuracy over every question; ids_of(story) gives its facts' memory ids."""
    from chatmem.replay import normalize_answer

    ok, sup = [], []
    k = 0
    for si, s in enumerate(prep.stories):
        ids = ids_of(si)
        for _, exp, support in s.questions:
            a = answers[k]
            k += 1
            if a is None:                  # not asked (the FAISS reference answers a sample)
                continue
            ok.append(normalize_answer(",".join(a.words)) == normalize_answer(",".join(exp)))
            sup.append({m.memory.id for m in a.supports} == {ids[i] for i in support})
    return float(np.mean(ok)), float(np.mean(sup)), ok


def by_source(prep: Prepared, ok: list[bool], asked: list[bool] | None = None) -> dict:
    src = [s.source for s in prep.stories for _ in s.questions]
    if asked is not None:
        src = [x for x, a in zip(src, asked) if a]
    return {k: {"accuracy": float(np.mean([o for o, s in zip(ok, src) if s == k])), "questions": src.count(k)}
            for k in sorted(set(src))}


def reference(prep: Prepared, loaded, encoder) -> dict:
    """Each story alone, in an empty memory: the accuracy distractors should not take away."""
    from chatmem.bot import Bot
    from chatmem.memory import EphemeralMemory

    answers, id_lists = [], []
    for s, facts, qs in zip(prep.stories, prep.fact_utts, prep.question_utts):
        bot = Bot(EphemeralMemory(), encoder=encoder)
        bot._loaded = loaded
        id_lists.append([m.id for m in bot.memory.write(facts, "reference")])
        answers += [bot.answer(q) for q in qs]
    acc, sup, ok = score(prep, answers, lambda si: id_lists[si])
    return {"accuracy": acc, "support_accuracy": sup, "by_source": by_source(prep, ok), "correct": ok}


class FaissRetriever:
    """Flat inner-product search (FAISS) over the stored MiniLM vectors; no copy, nothing to keep in sync."""

    def __init__(self, k1: int = 48, expand: int = 8, k2: int = 16, recent: int = 16):
        import faiss

        self.faiss = faiss
        self.k1, self.expand, self.k2, self.recent = k1, expand, k2, recent
        self.postings: dict = {}

    def sync(self, memory) -> None:
        from chatmem.retrieval import WordHashRetriever

        if not hasattr(self, "_words"):         # the relevance term reads word counts from a word index
            self._words = WordHashRetriever()
        self._words.sync(memory)
        self.postings = self._words.postings

    def candidates(self, memory, tokens, embedding=None):
        n = len(memory)
        if embedding is None or n <= 300:
            return None
        self.sync(memory)
        if getattr(self, "_xb_n", None) != n:      # a store on disk reads older rows from its file: one copy here
            self._xb, self._xb_n = np.ascontiguousarray(np.asarray(memory.embeddings[:n], dtype=np.float32)), n
        xb = self._xb
        _, hits = self.faiss.knn(np.asarray(embedding, dtype=np.float32)[None], xb, min(self.k1, n),
                                 metric=self.faiss.METRIC_INNER_PRODUCT)
        first = hits[0][hits[0] >= 0]
        _, more = self.faiss.knn(np.ascontiguousarray(xb[first[: self.expand]]), xb, min(self.k2, n),
                                 metric=self.faiss.METRIC_INNER_PRODUCT)
        rows = np.concatenate([first, more.ravel(), np.arange(max(0, n - self.recent), n)])
        return np.unique(rows[rows >= 0])


def rss_peak_mb() -> float:
    """This process's peak RSS: VmHWM, of its own address space. (Linux carries ru_maxrss across exec, so a
    worker started from a parent of 616 MB reported 616 MB at every size.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_hits(directory: Path, texts: list[str]) -> dict[str, list[str]]:
    """Which raw files of the store still hold any of `texts` (searched as bytes, chunk by chunk)."""
    found: dict[str, list[str]] = {}
    needles = [t.encode() for t in texts] + [t.split()[1].encode() for t in texts]   # the text and its rare word
    for f in sorted(directory.iterdir()):
        if not f.name.startswith("memory."):
            continue
        tail = b""
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 24):
                buf = tail + chunk
                for nd in needles:
                    if nd in buf:
                        found.setdefault(f.name, []).append(nd.decode())
                tail = buf[-256:]
    return {k: sorted(set(v)) for k, v in found.items()}


def worker(args) -> dict:
    import torch

    torch.set_num_threads(1)
    from chatmem import checkpoint
    from chatmem.bot import Bot
    from chatmem.input import MiniLMEncoder, Utterance, encode
    from chatmem.memory import SQLiteMemory
    from chatmem.paths import assets_dir
    from chatmem.retrieval import WordHashRetriever

    n, method = args.size, args.method
    directory = Path(args.store_dir) / f"n{n}"
    encoder = MiniLMEncoder().load()
    prep = prepare_stories(args, encoder)
    loaded = checkpoint.load(assets_dir())
    layout = json.loads((directory / "layout.json").read_text())
    built = json.loads((directory / "built.json").read_text())
    t0 = time.perf_counter()
    mem = SQLiteMemory(directory)
    retriever = {"retrieval": WordHashRetriever, "faiss": FaissRetriever}[method]()
    retriever.sync(mem)
    open_s = time.perf_counter() - t0
    mem.refresh()                                  # waits for the snapshot's embeddings checksum, if still running
    verified_s = time.perf_counter() - t0
    bot = Bot(mem, encoder=encoder)
    bot._loaded = loaded
    bot.retriever = retriever
    bot.answer(prep.question_utts[0][0])          # warm-up (lazy imports), not timed
    lat, enc, answers = [], [], []
    nq = sum(map(len, prep.question_utts))
    every = max(1, -(-nq // args.faiss_questions)) if method == "faiss" else 1
    k = -1
    for qs in prep.question_utts:
        for q in qs:
            k += 1
            if k % every:
                answers.append(None)
                continue
            t = time.perf_counter()
            answers.append(bot.answer(q))
            lat.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            encode([Utterance(q.text, q.tokens, True)], encoder)
            enc.append(1000 * (time.perf_counter() - t))
    acc, sup, ok = score(prep, answers, lambda si: layout[str(si)])
    asked = [a is not None for a in answers]
    rss_answer = rss_peak_mb()
    out = {"size": n, "method": method, "memories": len(mem), "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95),
           "p50_ms_with_encode": pct(np.add(lat, enc), 50), "p95_ms_with_encode": pct(np.add(lat, enc), 95),
           "accuracy": acc, "support_accuracy": sup, "questions": len(lat), "stories": len(prep.stories),
           "open_s": open_s, "open_verified_s": verified_s, "snapshot_warnings": getattr(mem, "warnings", []),
           "rss_mb": rss_answer, "rss_build_mb": built["rss_build_mb"],
           "by_source": by_source(prep, ok, asked), "correct": ok, "asked": asked}
    if method == "retrieval":
        out |= ingest_and_forget(args, mem, bot, prep, layout, built)
    else:                                          # measured once per size, by the retrieval worker
        out |= {"ingest_per_s": None, "forget_ms": None}
    mem.close()
    if method == "retrieval":
        out["raw_files_hold_forgotten_text"] = raw_hits(directory, built["canaries"])
    return out


def ingest_and_forget(args, mem, bot, prep: Prepared, layout: dict, built: dict) -> dict:
    """Ingest rates (not counting encoding) and the cost of forgetting the first, middle and last canary."""
    from chatmem.input import Utterance

    rng = random.Random(SEED - args.size)
    gen = generic_distractors(prep.pool, prep.generic_names, rng)
    rows = [Utterance(t, k, False, e) for t, k, e in (next(gen) for _ in range(args.ingest_batch))]
    t = time.perf_counter()
    for k in range(0, len(rows), 1000):
        mem.write(rows[k: k + 1000], "bench")
    batched = len(rows) / (time.perf_counter() - t)
    single_rows = [Utterance(t, k, False, e) for t, k, e in (next(gen) for _ in range(args.ingest_single))]
    t = time.perf_counter()
    for u in single_rows:
        bot.store([u])
        bot.retriever.sync(mem)
    single = len(single_rows) / (time.perf_counter() - t)
    forget = {}
    for k, where in enumerate(("first", "middle", "last")):
        mid = layout[f"canary{k}"][0]
        t = time.perf_counter()
        ok = mem.forget(mid)
        forget[where] = 1000 * (time.perf_counter() - t)
        assert ok and mid not in bot.retriever, "a forgotten memory is still held"
    t = time.perf_counter()
    bot.answer(prep.question_utts[0][0])
    after = 1000 * (time.perf_counter() - t)
    return {"ingest_per_s": batched, "ingest_single_per_s": single, "forget_ms": max(forget.values()),
            "forget_ms_by_place": forget, "first_answer_after_forget_ms": after}


def pct(v, q) -> float:
    return float(np.percentile(v, q))


# -- the driver ---------------------------------------------------------------------------------

def parse_sizes(text: str) -> list[int]:
    return [int(float(s)) for s in text.split(",") if s.strip()]


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(results: list[dict]) -> None:
    head = (f"{'size':>9} {'method':<9} {'p50 ms':>7} {'p95 ms':>7} {'+enc p95':>8} {'acc':>5} {'ref':>5} {'sup':>5} "
            f"{'open s':>6} {'RSS bld':>7} {'RSS':>6} {'ingest/s':>8} {'forget ms':>9} {'x faiss':>7}")
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['size']:>9,} {r['method']:<9} {fmt(r.get('p50_ms'), '7.1f')} {fmt(r.get('p95_ms'), '7.1f')} "
              f"{fmt(r.get('p95_ms_with_encode'), '8.1f')} {fmt(r.get('accuracy'), '5.3f')} "
              f"{fmt(r.get('reference_accuracy'), '5.3f')} {fmt(r.get('support_accuracy'), '5.3f')} "
              f"{fmt(r.get('open_s'), '6.2f')} {fmt(r.get('rss_build_mb'), '7.0f')} {fmt(r.get('rss_mb'), '6.0f')} "
              f"{fmt(r.get('ingest_per_s'), '8.0f')} {fmt(r.get('forget_ms'), '9.1f')} {fmt(r.get('p95_vs_faiss'), '7.2f')}"
              + (f"   skipped: {r['skipped']}" if r.get("skipped") else ""))


def markdown_table(results: list[dict]) -> str:
    """The README's table, next to the issue's targets."""
    def f(v, spec):
        return "-" if v is None else format(v, spec)
    lines = ["| distractors | memories | method | accuracy (stories alone) | support | p50 / p95 ms | p95 ms with encoding "
             "| open s | RSS MB build / answer | ingest /s batched / single | forget ms first / middle / last "
             "| p95 vs FAISS |", "|" + "---|" * 12]
    for r in results:
        fb = r.get("forget_ms_by_place") or {}
        lines.append(
            f"| {r['size']:,} | {f(r.get('memories'), ',')} | {r['method']} | {f(r.get('accuracy'), '.1%')} "
            f"({f(r.get('reference_accuracy'), '.1%')}) | {f(r.get('support_accuracy'), '.1%')} "
            f"| {f(r.get('p50_ms'), '.0f')} / {f(r.get('p95_ms'), '.0f')} | {f(r.get('p95_ms_with_encode'), '.0f')} "
            f"| {f(r.get('open_s'), '.2f')} | {f(r.get('rss_build_mb'), ',.0f')} / {f(r.get('rss_mb'), ',.0f')} "
            f"| {f(r.get('ingest_per_s'), ',.0f')} / {f(r.get('ingest_single_per_s'), ',.0f')} "
            f"| {' / '.join(f(fb.get(k), '.0f') for k in ('first', 'middle', 'last')) if fb else '-'} "
            f"| {f(r.get('p95_vs_faiss'), '.2f')} |")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ref_x = ref_line = None
    for method, style in (("retrieval", "s-"), ("faiss", "^-")):
        pts = [(r["size"], r["p50_ms"], r["p95_ms"], r["accuracy"], r["reference_accuracy"]) for r in results
               if r["method"] == method and r.get("p50_ms") is not None]
        if pts:
            x, p50, p95, acc, ref = zip(*pts)
            line, = ax.plot(x, p50, style, label=f"{method} p50")
            ax.plot(x, p95, style, alpha=0.35, color=line.get_color(), label=f"{method} p95")
            ax2.plot(x, [100 * a for a in acc], style, color=line.get_color(), label=f"{method}, with distractors")
            if method == "retrieval":             # the FAISS rows' reference is that of their sample only
                ref_x, ref_line = x, [100 * a for a in ref]
    ax.axhline(50, color="grey", ls=":", lw=1, label="50 ms target")
    if ref_line:
        ax2.plot(ref_x, ref_line, "k--", lw=1, label="stories alone (reference)")
    for a in (ax, ax2):
        a.set_xscale("log")
        a.set_xlabel("distractor memories")
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("answer latency, ms (question pre-encoded)")
    ax2.set_ylabel("accuracy, %")
    fig.suptitle("chatmem: planted stories among distractors that name their people and things")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def run_child(args, extra: list[str]) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", "--store-dir", args.store_dir, "--babi-dir", args.babi_dir,
           "--per-task", str(args.per_task), "--generated", str(args.generated),
           "--faiss-questions", str(args.faiss_questions), "--ingest-batch",
           str(args.ingest_batch), "--ingest-single", str(args.ingest_single), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    from chatmem.paths import default_babi_dir

    if os.environ.get("PYTHONHASHSEED") != "0":
        # chatmem.generator's conversations depend on set order: one hash seed for the driver and every worker
        os.execve(sys.executable, [sys.executable, __file__, *(sys.argv[1:] if argv is None else argv)],
                  os.environ | {"PYTHONHASHSEED": "0"})

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1e3,1e4,1e5,1e6")
    ap.add_argument("--methods", default="retrieval,faiss")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--plot", default=str(ROOT / "docs" / "bench_memory.png"))
    ap.add_argument("--store-dir", default=os.environ.get("CHATMEM_BENCH_DIR", "/tmp/chatmem-bench"))
    ap.add_argument("--babi-dir", default=None, help="bAbI en/ directory (default: chatmem's bAbI path)")
    ap.add_argument("--per-task", type=int, default=75, help="bAbI test questions (stories) per task")
    ap.add_argument("--generated", type=int, default=150, help="generated conversations to draw questions from")
    ap.add_argument("--faiss-questions", type=int, default=180,
                    help="questions the FAISS reference answers (every k-th; a flat search takes seconds at 1e6)")
    ap.add_argument("--ingest-batch", type=int, default=20_000)
    ap.add_argument("--ingest-single", type=int, default=100)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached stores")
    ap.add_argument("--table", metavar="JSON", help="print the README's table of a results file and exit")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.table:
        print(markdown_table(json.loads(Path(args.table).read_text())["results"]))
        return 0
    if args.babi_dir is None:
        d = default_babi_dir()
        args.babi_dir = str(d / "en" if (d / "en").is_dir() else d) if d else ""
    try:
        import faiss  # noqa: F401
    except ImportError:
        print("bench_memory: faiss is not installed; run `.venv/bin/pip install faiss-cpu` "
              "(or `pip install -e \".[bench]\"`)", file=sys.stderr)
        return 2
    if not glob.glob(str(Path(args.babi_dir) / "qa1_*_test.txt")):
        print(f"bench_memory: no bAbI test files in {args.babi_dir!r} (--babi-dir)", file=sys.stderr)
        return 2
    store_dir = Path(args.store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    if args.worker:
        from chatmem.input import MiniLMEncoder

        if args.build:          # its own process: the build's peak RSS is its own
            prep = prepare_stories(args, _NoEncoder())
            out = build_store(args.size, store_dir / f"n{args.size}", prep)
        elif args.reference:
            import torch

            torch.set_num_threads(1)
            from chatmem import checkpoint
            from chatmem.paths import assets_dir

            enc = MiniLMEncoder().load()
            out = reference(prepare_stories(args, enc), checkpoint.load(assets_dir()), enc)
        else:
            out = worker(args)
        print(json.dumps(out))
        return 0

    from chatmem.input import MiniLMEncoder

    prep = prepare_stories(args, MiniLMEncoder())        # encodes once, cached for the workers
    nq = sum(len(s.questions) for s in prep.stories)
    print(f"{len(prep.stories)} stories ({sum(s.source == 'generated' for s in prep.stories)} generated "
          f"conversations), {nq} questions, {sum(len(s.facts) for s in prep.stories):,} facts", file=sys.stderr)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    ref = run_child(args, ["--reference"]) if methods else {"accuracy": None, "support_accuracy": None}
    if ref is None:
        return 1
    if methods:
        print(f"reference (each story alone): accuracy {ref['accuracy']:.3f}, support {ref['support_accuracy']:.3f}",
              file=sys.stderr)
    results = []
    for n in parse_sizes(args.sizes):
        d = store_dir / f"n{n}"
        meta = d / "built.json"
        built = json.loads(meta.read_text()) if meta.exists() else {}
        ok = built.get("version") == VERSION and built.get("stories") == prep.key and (d / "layout.json").exists()
        if args.rebuild or not ok:
            print(f"building {n:,} distractors with the stories in {d} ...", file=sys.stderr, flush=True)
            info = run_child(args, ["--build", "--size", str(n)])
            if info is None:
                return 1
            print(f"  {info['memories']:,} memories, batched ingest {info['rate']:,.0f}/s (with SQLite commit, "
                  f"batches of 5,000), peak RSS {info['rss_build_mb']:,.0f} MB", file=sys.stderr)
        rows = {}
        for method in methods[::-1]:             # retrieval last: it forgets
            print(f"  {n:,} {method} ...", file=sys.stderr, flush=True)
            r = run_child(args, ["--size", str(n), "--method", method])
            if r is None:
                r = {"size": n, "method": method, "skipped": "worker failed"}
            r["reference_accuracy"] = ref["accuracy"]
            if r.get("asked") and not all(r["asked"]):     # the FAISS sample: the reference on the same questions
                r["reference_accuracy"] = float(np.mean([c for c, a in zip(ref["correct"], r["asked"]) if a]))
            r["reference_support_accuracy"] = ref["support_accuracy"]
            rows[method] = r
        if "retrieval" in rows:
            meta.unlink(missing_ok=True)     # the retrieval worker wrote and forgot memories: rebuild next time
            if rows.get("faiss", {}).get("p95_ms"):
                rows["retrieval"]["p95_vs_faiss"] = rows["retrieval"]["p95_ms"] / rows["faiss"]["p95_ms"]
        for method in ("retrieval", "faiss"):
            if method in rows:
                results.append(rows[method])
        print_table(results)
        if args.json:
            Path(args.json).write_text(json.dumps({"results": results, "cpu_threads": 1, "stores": str(store_dir),
                                                   "reference": ref}, indent=1))
    if args.plot:
        plot(results, Path(args.plot))
        print(f"plot: {args.plot}")
    return 0


class _NoEncoder:
    """The build reads the cached encodings; it never loads the encoder."""

    def encode(self, texts):
        raise RuntimeError("the stories must be encoded before the build (run the driver)")


if __name__ == "__main__":
    sys.exit(main())
