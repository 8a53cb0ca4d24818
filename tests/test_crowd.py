"""Stories and conversations planted together as in a big memory (chatmem/crowd.py): labels follow the renaming."""

import re

import numpy as np

from chatmem import generator
from chatmem.babi import Sample
from chatmem.crowd import BABI_PEOPLE, crowd_conversation, crowded_babi


def test_crowd_conversation_keeps_its_labels():
    convs = generator.generate(30, seed=3, split="train")
    c = crowd_conversation(convs, np.random.default_rng(0), size=600)
    facts = [t for t in c.turns if not t.question]
    questions = [t for t in c.turns if t.question]
    assert len(facts) >= 600 and questions
    assert c.turns[: len(facts)] == facts                       # every statement first, then the questions
    assert all(a.created <= b.created for a, b in zip(facts, facts[1:]))
    answered = [q for q in questions if q.answer is not None]
    assert answered
    for q in answered:
        assert q.answer_support is not None and q.answer_support < len(facts)
        assert c.turns[q.answer_support].text[q.answer_start: q.answer_end] == q.answer
        assert all(j < len(facts) for j in q.support)
    # each conversation's people got names of their own: a question's name is found in its supporting facts only
    for q in answered[:40]:
        names = [w for w in re.findall(r"\b[A-Z][a-z]+\b", q.text) if any(w in c.turns[j].text for j in q.support)]
        assert names, q.text


def test_crowded_babi_renames_every_story_apart():
    story = ("Mary went to the kitchen.", "Mary picked up the football.", "John went to the garden.")
    samples = [Sample(1, story, "Where is the football?", ("kitchen",), (1, 0))] * 400
    streams = crowded_babi(samples, np.random.default_rng(0))
    text = " ".join(t for st in streams for t, _, q, _ in st if not q)
    assert not re.search(r"\b(" + "|".join(BABI_PEOPLE) + r"|football)\b", text)
    for st in streams:
        qs = [t for t in st if t[2]]
        assert qs and all(not t[2] for t in st[: len(st) - len(qs)])
        for q, _, _, support in qs:
            thing = q.split()[-1].rstrip("?")
            assert thing in st[support[0]][0]           # "picked up the <its own thing>"
            assert st[support[1]][0].split()[0] == st[support[0]][0].split()[0]    # the same person moved
