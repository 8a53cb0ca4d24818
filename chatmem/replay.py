"""Scripted dialog replays: a chat script or a bAbI file played through I -> G -> O -> R.

Chat script syntax (one utterance per line):

    # a comment line; text after " #" is a comment too
    Mary went to the kitchen.
    Where is Mary? => kitchen        # expected answer after " => "
    What is John carrying? => apple,football

The whole file is read and checked before anything is written, so a bad line never leaves
a half-replayed memory behind.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from chatmem import ChatmemError
from chatmem.babi import BabiFormatError, looks_like_babi, parse_lines
from chatmem.input import MAX_UTTERANCE_CHARS, InputError, Utterance, json_line, make_utterance, parse, printable, read_lines
from chatmem.util import count

_SEP = re.compile(r"(?:^|\s)=>(?=\s|$)")
# Other arrows after a question mark: meant as an expected answer, and would otherwise pass silently.
_ODD_SEP = re.compile(r"\?\s*(?:->|-->|==>|=>|=|→|⇒|=&gt;)\s*\S")


@dataclass
class Turn:
    line: int
    utterances: list[Utterance]
    expected: list[str] | None = None
    new_story: bool = False            # a bAbI story starts here: it wants an empty memory


# Lines no dialog script has: JSON (an export, a log) and markup. Refused, naming the line, so that a wrong file
# never becomes memories.
_NOT_SCRIPT = re.compile(r"^\s*(?:[\[{].*[\]},:]\s*$|\{\s*\"|<[A-Za-z!?/][^>]*>)")


@dataclass
class Result:
    question: str
    answer: str
    words: list[str]
    expected: list[str] | None
    support: list[str]
    scores: list[float]
    expected_support: list[str] | None = None
    support_ok: bool | None = None
    confident: bool = True
    said: str = ""                     # R's answer as given: a span keeps its casing and spaces

    @property
    def guessed(self) -> bool | None:
        """R's best words match, whether or not the bot was confident enough to say them."""
        return None if self.expected is None else self.words == self.expected

    @property
    def correct(self) -> bool | None:
        """What the user was told matches: "I'm not sure, I remember ..." is not an answer."""
        return None if self.expected is None else self.confident and self.words == self.expected

    def to_json(self) -> dict:
        d = {"question": self.question, "answer": (self.said or ",".join(self.words)) if self.confident and self.words else self.answer,
             "expected": ",".join(self.expected) if self.expected is not None else None,
             "correct": self.correct, "support": self.support, "confident": self.confident,
             "best_guess": ",".join(self.words)}
        if self.expected_support is not None:
            d["expected_support"] = self.expected_support
        return d


def normalize_answer(text: str) -> list[str]:
    return [w for w in (p.strip().lower() for p in text.replace(" ", ",").split(",")) if w]


def read_text(path: Path) -> list[str]:
    # A line may hold 2,000 characters of up to 4 UTF-8 bytes each, a comment and an expected answer.
    lines = read_lines(path, 4 * MAX_UTTERANCE_CHARS + 1024)
    if not any(l.strip() and not l.lstrip().startswith("#") for l in lines):
        raise ChatmemError(f"{path} is empty: nothing to replay")
    return lines


def parse_script(lines: list[str], source: str) -> list[Turn]:
    turns = []
    for n, raw in enumerate(lines, 1):
        if _NOT_SCRIPT.match(raw):
            what = "markup" if raw.lstrip().startswith("<") else "JSON (an export? load one with `chatmem memory import`)"
            raise ChatmemError(f"{source}:{n}: this looks like {what}, not a dialog script (one sentence or question "
                               f"a line, 'question => answer' to check an answer); nothing was replayed")
        if len(raw) > MAX_UTTERANCE_CHARS:
            raise ChatmemError(f"{source}:{n}: line is {len(raw):,} characters; the limit is {MAX_UTTERANCE_CHARS:,}")
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if " #" in line:
            line = line.split(" #", 1)[0].rstrip()
        expected = None
        sep = _SEP.search(line)
        if sep:                       # "=>" after a space or tab, or at the start of the line
            line, exp = line[: sep.start()].strip(), line[sep.end():]
            expected = normalize_answer(exp)
            if not line:
                raise ChatmemError(f"{source}:{n}: nothing before '=>': write the question, e.g. 'Where is Mary? => kitchen'")
            if not expected:
                raise ChatmemError(f"{source}:{n}: nothing after '=>': write the expected answer, e.g. 'Where is Mary? => kitchen'")
        elif _ODD_SEP.search(line):
            raise ChatmemError(f"{source}:{n}: an expected answer is written 'question => answer', "
                               f"e.g. 'Where is Mary? => kitchen'")
        try:
            utts = parse(line)
        except InputError as exc:
            raise ChatmemError(f"{source}:{n}: {exc}") from None
        if expected is not None and not utts[-1].is_question:
            raise ChatmemError(f"{source}:{n}: an expected answer ('=> ...') must follow a question")
        turns.append(Turn(n, utts, expected))
    return turns


def babi_turns(samples) -> list[Turn]:
    """A bAbI file as a script: each story's sentences, each question after the sentences it may see, with its
    answer to check; the first line of each story is marked, since each story wants an empty memory."""
    from chatmem.data import story_groups

    turns = []
    for g in story_groups(samples):
        story, asked = g[-1].story, 0
        for k in range(len(story) + 1):
            if k:
                turns.append(Turn(0, [make_utterance(story[k - 1])], new_story=k == 1))
            while asked < len(g) and len(g[asked].story) == k:
                turns.append(Turn(g[asked].line, [make_utterance(g[asked].question)], list(g[asked].answer),
                                  new_story=k == 0 and asked == 0))
                asked += 1
    return turns


def load_turns(path: Path, source: str) -> tuple[list[Turn], bool]:
    """A dialog script or a bAbI file, read and checked whole: (its turns, whether it is bAbI). Anything else
    (an export, a log, a binary) is refused with a message naming the line."""
    lines = read_text(path)
    if looks_like_babi(lines):
        try:
            samples = parse_lines(lines, source)
        except BabiFormatError as exc:
            raise ChatmemError(str(exc)) from None
        if not samples:
            raise ChatmemError(f"{source}: a bAbI file with no questions")
        return babi_turns(samples), True
    return parse_script(lines, source), False


class Printer:
    """Human transcript or JSON Lines on stdout; a progress bar on stderr when it is a terminal."""

    def __init__(self, as_json: bool, total: int):
        from chatmem.util import progress_bar

        self.as_json = as_json
        self.bar = progress_bar(total, "replaying", "utt")

    def out(self, text: str) -> None:
        if not self.as_json:
            text = printable(text)      # expected answers and rows are shown, never sent raw to the terminal
        if self.bar.disable:
            print(text, flush=True)
        else:
            self.bar.write(text)
            sys.stdout.flush()

    def stored(self, memories, updates: dict[int, int] | None = None) -> None:
        """`updates`: new memory id -> the older one G linked it to (it supersedes it)."""
        if not self.as_json:
            for m in memories:
                said = f" (updates [{updates[m.id]}])" if updates and m.id in updates else ""
                self.out(f"  stored [{m.id}] {m.text}{said}")
        self.bar.update(len(memories))

    def skipped(self, u: Utterance, act: str) -> None:
        self.bar.update(1)
        if not self.as_json:
            self.out(f"  not stored ({act}): {u.text}")

    def answered(self, r: Result) -> None:
        self.bar.update(1)
        if self.as_json:
            self.out(json_line(r.to_json()))
            return
        mark = "" if r.correct is None else ("  ✓" if r.correct else f"  ✗ expected {','.join(r.expected)}")
        self.out(f"> {r.question}\n  {r.answer}{mark}")
        for k, (t, s) in enumerate(zip(r.support, r.scores), 1):
            self.out(f"    ▶{k} {t}  (score {s:.2f})")

    def summary(self, results: list[Result]) -> None:
        self.bar.close()
        checked = [r for r in results if r.correct is not None]
        correct = sum(bool(r.correct) for r in checked)
        sup = [r.support_ok for r in results if r.support_ok is not None]
        guessed = sum(bool(r.guessed) for r in checked)
        s = {"questions": len(results), "correct": correct,
             "accuracy": round(correct / len(checked), 4) if checked else None,
             "support_accuracy": round(sum(sup) / len(sup), 4) if sup else None,
             # as `chatmem eval` counts: R's best words, also where the bot said it was unsure
             "best_guess_accuracy": round(guessed / len(checked), 4) if checked else None}
        if self.as_json:
            print(json.dumps({"summary": s}), flush=True)
        else:
            acc = (f", {100 * s['accuracy']:.1f}% correct ({correct}/{len(checked)}; best guesses "
                   f"{100 * s['best_guess_accuracy']:.1f}%)") if checked else ""
            sa = f", supporting facts {100 * s['support_accuracy']:.1f}%" if sup else ""
            print(f"replayed {count(len(results), 'question')}{acc}{sa}", flush=True)


def _result(u: Utterance, ans, expected) -> Result:
    # A span answer ("Karim Marchetti") compares word by word, as expected answers are read; both in lower case
    # (bAbI's "Fred" against R's "fred")
    expected = None if expected is None else normalize_answer(",".join(expected))
    return Result(u.text, ans.text, normalize_answer(",".join(ans.words)), expected, [s.memory.text for s in ans.supports],
                  [s.score for s in ans.supports], confident=ans.confident,
                  said=",".join(ans.said_words))


CHUNK = 64      # utterances encoded at a time: the first answers print while the rest is still to encode


def replay_script(turns: list[Turn], bot, printer: Printer) -> list[Result]:
    """Play a script as the app would: facts stored (in batches between questions), questions and requests
    answered, chit-chat and commands not stored (chatmem.dialogue_act). Encoded CHUNK utterances at a time."""
    from chatmem.dialogue_act import ANSWERED, classify
    from chatmem.input import encode

    results = []
    pending: list[Utterance] = []

    def flush():
        if pending:
            stored = bot.store(pending)
            printer.stored(stored, {lk.new: lk.old for lk in getattr(bot, "linked", [])})
            pending.clear()

    bot.load(encoder=False)
    flat = [(u, t.expected if k == len(t.utterances) - 1 else None) for t in turns for k, u in enumerate(t.utterances)]
    for start in range(0, len(flat), CHUNK):
        chunk = flat[start:start + CHUNK]
        utts = encode([u for u, _ in chunk], bot.encoder)
        for u, (_, exp), act in zip(utts, chunk, classify(bot._loaded.act, utts)):
            if act == "fact":
                pending.append(u)
                continue
            flush()
            if act in ANSWERED:
                r = _result(u, bot.answer(u), exp)
                results.append(r)
                printer.answered(r)
            else:
                printer.skipped(u, act)
        flush()
    return results


def replay_babi(samples, bot_factory, printer: Printer, cache: Path | None = None) -> list[Result]:
    from chatmem.data import story_groups
    from chatmem.util import minilm_cached

    results = []
    groups = story_groups(samples)
    texts = list(dict.fromkeys([t for g in groups for s in g for t in s.story] + [s.question for g in groups for s in g]))
    first = bot_factory()
    # bAbI files repeat: their embeddings are cached on disk (.npy), as `chatmem eval` does.
    vecs = minilm_cached(texts, first.encoder, cache)
    utt = {t: Utterance(u.text, u.tokens, u.is_question, v)
           for t, u, v in zip(texts, (make_utterance(t) for t in texts), vecs)}
    for g in groups:
        bot = bot_factory()             # each story starts with an empty memory
        # The whole story is stored first, then its questions are answered in one batch, each seeing
        # only the memories written before it; the transcript keeps the file's order.
        stored = bot.store([utt[t] for t in g[-1].story])
        answers = bot.answer_many([utt[s.question] for s in g], [len(s.story) for s in g])
        written = 0
        for s, ans in zip(g, answers):
            printer.stored(stored[written: len(s.story)])
            written = len(s.story)
            r = _result(utt[s.question], ans, list(s.answer))
            r.expected_support = [s.story[i] for i in s.support]
            gold_ids = {int(bot.memory.ids[i]) for i in s.support}
            r.support_ok = {sp.memory.id for sp in ans.supports} == gold_ids
            results.append(r)
            printer.answered(r)
    return results


def run_replay(args) -> int:
    from chatmem.bot import Bot
    from chatmem.memory import EphemeralMemory, SQLiteMemory
    from chatmem.paths import cache_dir, data_dir

    path = Path(args.file)
    lines = read_text(path)
    if looks_like_babi(lines):
        try:
            samples = parse_lines(lines, str(path))
        except BabiFormatError as exc:
            raise ChatmemError(str(exc)) from None
        if not samples:
            raise ChatmemError(f"{path}: a bAbI file with no questions")
        proto = Bot(EphemeralMemory()).load(encoder=False)     # the encoder loads only if the cache misses
        factory = lambda: _share(Bot(EphemeralMemory(), session="babi"), proto)  # noqa: E731
        printer = Printer(args.json, sum(len(s.story) for s in samples) + len(samples))
        results = replay_babi(samples, factory, printer, cache_dir(args.data_dir))
    else:
        turns = parse_script(lines, str(path))
        if args.fresh:
            memory = EphemeralMemory()
        else:
            memory = SQLiteMemory(data_dir(args.data_dir))
        try:
            bot = Bot(memory, session=f"replay:{path.name}").load()
            printer = Printer(args.json, sum(len(t.utterances) for t in turns))
            results = replay_script(turns, bot, printer)
        finally:
            memory.close()
    printer.summary(results)
    if args.check and any(r.correct is False for r in results):
        return 1
    return 0


def _share(bot, proto):
    """Reuse one loaded model and encoder across many per-story bots."""
    bot._loaded = proto._loaded
    bot.encoder = proto.encoder
    return bot
