"""Stories and conversations planted together as in a big memory (chatmem/crowd.py): labels follow the renaming."""

import re

import numpy as np

from chatmem import generator
from chatmem.babi import Sample
from chatmem.crowd import BABI_PEOPLE, crowd_conversation, crowded_babi, crowds


def _labels_hold(c):
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
    return facts, answered


def test_crowd_conversation_keeps_its_labels():
    convs = generator.generate(30, seed=3, split="train")
    _labels_hold(crowd_conversation(convs, np.random.default_rng(0), size=600))


def test_crowds_plant_every_group_of_conversations_in_a_memory_of_its_own():
    convs = generator.generate(40, seed=3, split="train")
    groups = crowds(convs, np.random.default_rng(0), per=24)
    assert len(groups) == 2                      # 24 + 16: none left out, none over `per`
    one = crowd_conversation(convs, np.random.default_rng(0))
    facts = [sum(not t.question for t in c.turns) for c in groups]
    assert sum(facts) == sum(not t.question for t in one.turns) and facts[1] < facts[0]
    _labels_hold(groups[0])


def test_mentions_name_people_before_their_conversation_and_keep_every_label():
    convs = generator.generate(30, seed=3, split="train")
    plain = crowd_conversation(convs, np.random.default_rng(0), size=600)
    c = crowd_conversation(convs, np.random.default_rng(0), size=600, mentions=20)
    facts, answered = _labels_hold(c)
    extra = [t for t in c.turns if t.kind == "chitchat" and t.text not in {u.text for u in plain.turns}]
    assert len(facts) - len(extra) == len([t for t in plain.turns if not t.question]) and len(extra) > 100
    for q in answered:             # the same fact supports each question as before, now further on
        assert c.turns[q.answer_support].text in {t.text for t in plain.turns}
    for q in answered[:40]:        # a person's mentions all come before the first fact that states her facts
        for name in {w for w in re.findall(r"\b[A-Z][a-z]+\b", q.text) if w in c.turns[q.support[0]].text}:
            said = [i for i, t in enumerate(facts) if re.search(rf"\b{name}\b", t.text)]
            told = [i for i in said if facts[i] not in extra]
            assert all(i < min(told) for i in said if facts[i] in extra)


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
