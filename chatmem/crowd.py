"""Stories and conversations as they look in a big memory: many of them planted together.

A person's memory holds years of facts of the same few kinds about many people ("X's shirt size is M.").
Trained on one story or conversation at a time, O's relevance term and R never meet a look-alike fact
about someone else; here they do. Each story's or conversation's people (and bAbI's objects) are renamed
to invented words of its own, so no two of them answer for each other, and the questions are asked after
the last memory. Used by chatmem.relevance_train and chatmem.span_train (training splits only);
scripts/bench_memory.py measures the same situation on test and held-out data.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable, Container

import numpy as np

BABI_PEOPLE = ("Mary", "Sandra", "Daniel", "John", "Fred", "Bill", "Lily", "Julius", "Greg", "Brian", "Bernhard",
               "Jeff", "Julie", "Jason", "Antoine", "Winona", "Jessica", "Gertrude", "Emily", "Sumit", "Yann")
BABI_OBJECTS = ("football", "apple", "milk")
CROWD_SYLLABLES = ("ba", "dor", "ek", "fi", "gal", "hu", "im", "jas", "kor", "lem", "mu", "nad", "ob", "pir", "sel",
                   "tam", "ur", "vek", "wen", "yo")
CROWD_STORES = (2_000, 9_000)   # memories per store: one where the relevance term ranks every memory, one above
                                # Bot.POOL_ALL where it ranks the word-hash candidates


def invented(rng: np.random.Generator, k: int, avoid: Container[str] = ()) -> list[str]:
    """k distinct invented words, none in `avoid`: names and things no lexicon holds."""
    out: dict[str, None] = {}
    while len(out) < k:
        w = "".join(rng.choice(CROWD_SYLLABLES, size=rng.choice((2, 3))))
        if w not in avoid:
            out.setdefault(w, None)
    return list(out)


def renamer(mapping: dict[str, str]) -> Callable[[str], str]:
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, mapping)) + r")\b")
    return lambda t: pattern.sub(lambda m: mapping[m.group(1)], t)


def crowded_babi(samples, rng: np.random.Generator) -> list[list[tuple[str, float, bool, list[int]]]]:
    """bAbI stories as they look in a big memory: each story's people and objects renamed to invented
    words of its own, stories planted whole one after another in random order, a few sentences naming
    each story's people before any story begins (so every answer still holds), and each story's question
    asked after the last memory. Turns as `relevance_train.collect_dialog` reads them; one stream per size
    in CROWD_STORES. The relevance term learns here that a name it has never seen is no conversation: s_O
    matches it."""
    order = rng.permutation(len(samples))
    streams, at = [], 0
    for size in CROWD_STORES:
        stories, used = [], 0
        while used < size and at < len(order):
            s = samples[order[at]]
            at += 1
            fresh = iter(invented(rng, len(BABI_PEOPLE) + len(BABI_OBJECTS)))
            mapping = {w: next(fresh).capitalize() if w[0].isupper() else next(fresh) for w in BABI_PEOPLE + BABI_OBJECTS}
            sub = renamer(mapping)
            story = [sub(t) for t in s.story]
            people = sorted({mapping[p] for p in BABI_PEOPLE if re.search(rf"\b{mapping[p]}\b", " ".join(story))})
            stories.append((story, sub(s.question), list(s.support), people))
            used += len(story)
        before = [f"{p} went to the {rng.choice(('kitchen', 'garden', 'hallway', 'office', 'bathroom'))}."
                  for _, _, _, people in stories for p in people[:2]]
        turns = [(t, 0.0, False, []) for t in rng.permutation(before).tolist()]
        starts = []
        for story, _, _, _ in stories:
            starts.append(len(turns))
            turns += [(t, 0.0, False, []) for t in story]
        turns += [(q, 0.0, True, [start + i for i in sup]) for (_, q, sup, _), start in zip(stories, starts)]
        if stories:
            streams.append(turns)
    return streams


MENTIONS = ("{p} went to the office.", "{p} went back to the kitchen.", "{p} journeyed to the garden.",
            "I had coffee with {p}.", "{p} called me this morning.", "{p} says hello.", "I ran into {p} in town.",
            "{p} sent me a photo.", "{p} picked up the post.")


def _with_mentions(facts: list, questions: list, starts: list[tuple[int, list[str]]], mentions: int,
                   rng: np.random.Generator) -> tuple[list, list]:
    """Up to `mentions` sentences naming each conversation's people, at random places before its first fact
    (none of them answers anything: every label still holds), with every index moved along. A person one talks
    about every day is named in hundreds of memories: to BM25 her name is then a common word, and the term must
    still find her facts, not another person's look-alike ones (scripts/bench_memory.py)."""
    from chatmem.generator import Turn

    extra: list[tuple[int, str]] = []
    for start, people in starts:
        for person in people:
            for _ in range(int(rng.integers(0, mentions + 1))):
                extra.append((int(rng.integers(0, start + 1)), str(rng.choice(MENTIONS)).format(p=person)))
    extra.sort(key=lambda e: e[0])
    at = np.searchsorted(np.array([e[0] for e in extra], dtype=np.int64), np.arange(len(facts)), side="right")
    moved = lambda i: None if i is None else int(i + at[i])       # noqa: E731 (a fact's new index)
    out = []
    k = 0
    for i, f in enumerate(facts):
        while k < len(extra) and extra[k][0] == i:
            out.append(Turn(extra[k][1], "chitchat", f.created, False, False))
            k += 1
        out.append(replace(f, supersedes=moved(f.supersedes)))
    qs = [replace(q, support=[moved(j) for j in q.support], answer_support=moved(q.answer_support)) for q in questions]
    return out, qs


def crowd_conversation(convs, rng: np.random.Generator, size: int = 6_000, dated: bool = False, mentions: int = 0):
    """Generated conversations planted one after another (each an hour after the last, write times kept
    in order) until `size` statements (before any mentions), as one chatmem.generator.Conversation: every statement, then the
    questions that name one of the conversation's people (renamed), with their labels moved along.
    Questions about "my sister" are left out (any conversation's could answer), and so are "When did I ...?"
    questions answered by a write time unless `dated` (their answer dates did not move with the write
    times: right for the supporting facts O must find, wrong for R's answers). `mentions`: see _with_mentions."""
    from chatmem import lexicon as lx
    from chatmem.generator import Conversation

    known = set(lx.FIRST_NAMES) | set(lx.SURNAMES)
    facts, questions = [], []
    starts: list[tuple[int, list[str]]] = []
    given: set[str] = set()
    clock = None
    for c in convs:
        if len(facts) >= size:
            break
        found = sorted({w for t in c.turns for w in re.findall(r"\b[A-Z][a-z]+\b", f"{t.text} {t.answer or ''}")
                        if w in known})
        if not found or not c.turns:
            continue
        new = [w.capitalize() for w in invented(rng, len(found), given)]     # no two conversations share a name
        given.update(w.lower() for w in new)
        sub = renamer(dict(zip(found, new)))
        named = re.compile(r"\b(" + "|".join(new) + r")\b")
        starts.append((len(facts), new))
        shift = 0.0 if clock is None else clock + 3600.0 - c.turns[0].created
        at: dict[int, int] = {}
        for i, t in enumerate(c.turns):
            if not t.question:
                at[i] = len(facts)
                facts.append(replace(t, text=sub(t.text), created=t.created + shift,
                                     supersedes=at.get(t.supersedes) if t.supersedes is not None else None))
                clock = t.created + shift
                continue
            q = sub(t.text)
            if not named.search(q) or not all(j in at for j in t.support):
                continue
            if t.answer is None:
                questions.append(replace(t, text=q, support=[at[j] for j in t.support]))
                continue
            if t.answer_support is None and dated:
                questions.append(replace(t, text=q, support=[at[j] for j in t.support]))
            if t.answer_support is None or t.answer_support not in at:
                continue
            answer = sub(t.answer)
            start = facts[at[t.answer_support]].text.find(answer)
            if start >= 0:
                questions.append(replace(t, text=q, answer=answer, support=[at[j] for j in t.support],
                                         answer_support=at[t.answer_support], answer_start=start,
                                         answer_end=start + len(answer)))
    if mentions:
        facts, questions = _with_mentions(facts, questions, starts, mentions, rng)
    end = clock or 0.0
    return Conversation(facts + [replace(q, created=end) for q in questions], seed=-1, split="train")


def crowds(convs, rng: np.random.Generator, per: int = 200, **kw) -> list:
    """`crowd_conversation` over consecutive groups of `per` conversations (about 5,800 statements each, under
    its size): more crowded memories to train on than one, each no bigger."""
    return [crowd_conversation(convs[i: i + per], rng, **kw) for i in range(0, len(convs), per)]
