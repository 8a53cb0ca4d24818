"""The bAbI data (v1.2 format): numbered lines; a question line holds
`question<TAB>answer<TAB>supporting line ids`. A line numbered 1 starts a new story."""

from __future__ import annotations

import random
import re
from typing import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from chatmem import ChatmemError

MAX_LINE_CHARS = 2000


class BabiFormatError(ChatmemError):
    pass


@dataclass(frozen=True)
class Sample:
    """One question of a story. `story` holds the statements before it, oldest first;
    `support` indexes into `story` in the labelled (hop) order."""

    task: int
    story: tuple[str, ...]
    question: str
    answer: tuple[str, ...]
    support: tuple[int, ...]
    line: int = 0  # line number of the question in its file


_LINE = re.compile(r"^(\d+) (.*)$")


def parse_lines(lines, source: str = "<bAbI>", task: int = 0) -> list[Sample]:
    samples: list[Sample] = []
    story: list[str] = []
    line_to_mem: dict[int, int] = {}
    last_id = 0
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            raise BabiFormatError(f"{source}:{n}: line is {len(line):,} characters; the limit is {MAX_LINE_CHARS:,}")
        m = _LINE.match(line)
        if not m:
            raise BabiFormatError(f"{source}:{n}: expected '<number> <text>', got {line[:60]!r}")
        lid, rest = int(m.group(1)), m.group(2)
        if lid == 1 or lid <= last_id:
            story, line_to_mem = [], {}
        last_id = lid
        if "\t" in rest:
            parts = rest.split("\t")
            if len(parts) < 3 or not parts[1].strip():
                raise BabiFormatError(f"{source}:{n}: question line needs 'question<TAB>answer<TAB>supporting ids'")
            question, answer, sup = parts[0].strip(), parts[1].strip(), parts[2].split()
            try:
                sup_ids = [int(s) for s in sup]
            except ValueError:
                raise BabiFormatError(f"{source}:{n}: supporting ids must be numbers, got {parts[2]!r}") from None
            for s in sup_ids:
                if s not in line_to_mem:
                    raise BabiFormatError(f"{source}:{n}: supporting id {s} does not name a statement of this story")
            samples.append(Sample(task, tuple(story), question, tuple(a for a in answer.split(",") if a),
                                  tuple(line_to_mem[s] for s in sup_ids), n))
        elif rest.rstrip().endswith("?"):
            raise BabiFormatError(f"{source}:{n}: a question needs '<TAB>answer<TAB>supporting ids' after it")
        elif not rest.strip():
            raise BabiFormatError(f"{source}:{n}: an empty statement")
        else:
            line_to_mem[lid] = len(story)
            story.append(rest.strip())
    return samples


def read_file(path: Path, task: int = 0) -> list[Sample]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BabiFormatError(f"cannot read {path}: {exc.strerror}") from None
    if b"\x00" in data:
        raise BabiFormatError(f"{path} looks like a binary file, not a bAbI text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BabiFormatError(f"{path} is not UTF-8 text") from None
    return parse_lines(text.splitlines(), str(path), task)


def looks_like_babi(lines: list[str]) -> bool:
    """Numbered lines, story ids starting at 1, and questions written with tabs: a chat script whose lines
    happen to start with numbers has no tabs (or uses '=>')."""
    body = [l.rstrip("\r\n") for l in lines if l.strip()]
    return (bool(body) and all(_LINE.match(l) for l in body[:20]) and body[0].startswith("1 ")
            and any("\t" in l for l in body) and not any(" =>" in l for l in body[:20]))


def task_file(babi_dir: Path, task: int, split: str) -> Path:
    babi_dir = Path(babi_dir)
    hits = sorted(babi_dir.glob(f"qa{task}_*_{split}.txt"))
    if not hits:
        raise BabiFormatError(f"no qa{task}_*_{split}.txt in {babi_dir} (expected the bAbI v1.2 layout, e.g. tasks_1-20_v1-2/en)")
    return hits[0]


def load_task(babi_dir: Path, task: int, split: str) -> list[Sample]:
    return read_file(task_file(babi_dir, task, split), task)


def parse_tasks(spec: str) -> list[int]:
    """'1-20', '1,2,17' or '3' -> sorted task numbers."""
    out: set[int] = set()
    try:
        for part in spec.split(","):
            if "-" in part:
                a, b = part.split("-", 1)
                out.update(range(int(a), int(b) + 1))
            elif part.strip():
                out.add(int(part))
    except ValueError:
        raise ChatmemError(f"bad task list {spec!r}: use e.g. 1-20 or 1,2,17") from None
    if not out or min(out) < 1 or max(out) > 20:
        raise ChatmemError(f"bad task list {spec!r}: tasks are numbered 1 to 20")
    return sorted(out)


def split_validation(samples: list[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Carve validation questions out of the training files: the same fraction of each task's
    stories (whole stories, so no story is in both halves)."""
    import random

    rng = random.Random(seed)
    val_keys = set()
    for task in sorted({s.task for s in samples}):
        keys = sorted({s.story[:1] for s in samples if s.task == task})
        rng.shuffle(keys)
        val_keys.update((task, k) for k in keys[: max(1, int(len(keys) * fraction))])
    train = [s for s in samples if (s.task, s.story[:1]) not in val_keys]
    val = [s for s in samples if (s.task, s.story[:1]) in val_keys]
    return train, val


_MOVE = re.compile(r"^(\w+) (?:went|moved|journeyed|travelled)(?: back)? to the (\w+)\.$")
_HANDLE = re.compile(r"^(\w+) (?:got|picked up|grabbed|took|dropped|discarded|put down|left) the \w+(?: there)?\.$")


def where_is_person(samples: Sequence[Sample]) -> list[Sample]:
    """Training questions derived from the stories themselves (no test data): after "John picked up the
    football.", "Where is John?" is still answered by John's latest move, not by his latest mention.
    bAbI never asks this (task 1 has no objects, task 2 asks only about objects), so without it a model
    answers "football". Each derived question follows the sample it comes from, sharing its story."""
    out: list[Sample] = []
    for s in samples:
        out.append(s)
        if not s.story:
            continue
        handled = _HANDLE.match(s.story[-1])
        if not handled:
            continue
        person = handled.group(1)
        for i in range(len(s.story) - 2, -1, -1):
            moved = _MOVE.match(s.story[i])
            if moved and moved.group(1) == person:
                out.append(Sample(s.task, s.story, f"Where is {person}?", (moved.group(2),), (i,), s.line))
                break
    return out


SYLLABLES = ["zo", "lu", "bak", "ri", "qua", "mex", "ti", "vor", "ny", "pel", "gus", "dra", "fe", "wim", "oth"]


def invented_words(vocab_words: set[str], rng: random.Random, k: int) -> list[str]:
    """`k` different words made of SYLLABLES, none of them in `vocab_words`."""
    out: dict[str, None] = {}
    while len(out) < k:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3))))
        if w not in vocab_words:
            out.setdefault(w, None)
    return list(out)


# bAbI's plural forms of its entities (task 15): renamed, they stay plurals of the invented word ("Wolves are
# afraid of mice." -> "Zolus are afraid of lupels."), as a person would write them
_PLURALS = {"mice": "mouse", "wolves": "wolf", "cats": "cat"}


def _plural_of(w: str, after: str, entities: set[str]) -> str | None:
    """The singular entity `w` is the plural of, or None. "Sheep" is a plural where a verb in the plural follows."""
    base = _PLURALS.get(w)
    if base is None and w in entities and after.startswith(" are "):
        base = w
    return base if base in entities else None


def _plural(w: str) -> str:
    return w + "es" if w.endswith("s") else w + "s"


def proper_names(samples: Sequence[Sample]) -> list[str]:
    """Words the statements only ever write with a capital, function words aside, in lower case: in bAbI, its 21
    people ("mary", "gertrude", "yann"; "sheep" of "Sheep are afraid..." is also written "a sheep")."""
    from chatmem.features import STOP_WORDS

    capital: set[str] = set()
    lower: set[str] = set()
    for text in {t for s in samples for t in s.story}:
        for w in re.findall(r"[A-Za-z]+", text):
            (capital if w[0].isupper() else lower).add(w.lower())
    return sorted(capital - lower - STOP_WORDS)


def rename(samples: Sequence[Sample], entities: set[str], vocab_words: set[str], seed: int) -> list[Sample]:
    """The same samples with each story's entities replaced consistently by invented words ("Mary" ->
    "Zolbaku" everywhere in that story, answers included; "mice" -> "lupels" where "mouse" -> "lupel"):
    stories only exact matches can answer."""
    from chatmem.data import story_groups

    rng = random.Random(seed)
    out = []
    for group in story_groups(samples):
        mapping = dict(zip(sorted(entities), invented_words(vocab_words, rng, len(entities))))

        def sub(text: str) -> str:
            def one(m: re.Match) -> str:
                w = m.group(0)
                base = _plural_of(w.lower(), text[m.end():], entities)
                new = mapping.get(w.lower()) if base is None else _plural(mapping[base])
                if new is None:
                    return w
                return new.capitalize() if w[0].isupper() else new
            return re.sub(r"[A-Za-z]+", one, text)

        for s in group:
            out.append(replace(s, story=tuple(sub(t) for t in s.story), question=sub(s.question),
                               answer=tuple(sub(a) for a in s.answer)))
    return out
