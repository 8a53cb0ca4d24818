"""R's span answers and O's relevance term: word offsets, span targets, shapes, and the checkpoint round trip."""

import numpy as np
import pytest

from chatmem.relevance import NF, NQ, Candidates, Relevance, RelevanceConfig, counter_df, match_features, prior
from chatmem.span import (MAX_SPAN, SUPPORTS, SpanConfig, SpanR, SpanVocab, batch_tensors, choose, note_target,
                          predict, span_input, target_index, words)
from chatmem.when import date_text, r_text, time_note

MAY_8 = 1_683_554_160.0      # 8 May 2023, 13:56 UTC


def test_words_keep_codes_times_and_names_whole():
    t = "Henrike Vos: the code is cobalt-19, from 4:30pm (40 Quay Road)."
    got = [t[a:b] for a, b in words(t)]
    assert got == ["Henrike", "Vos", "the", "code", "is", "cobalt-19", "from", "4:30pm", "40", "Quay", "Road"]


def test_markup_is_no_word_and_no_span_runs_across_it():
    import torch

    t = "My locker is [red]42[/red], the code is <b>55 31</b> and [shares a photo of a dog]."
    got = [t[a:b] for a, b in words(t)]
    assert got == ["My", "locker", "is", "42", "the", "code", "is", "55", "31", "and", "shares", "a", "photo", "of",
                   "a", "dog"]
    rich = "My favourite opera is [bold red]Tosca[/], [not italic]Aida[/] [on sale] too."
    assert [rich[a:b] for a, b in words(rich)] == ["My", "favourite", "opera", "is", "Tosca", "Aida", "on", "sale",
                                                   "too"]
    vocab = SpanVocab.build([t], min_count=1)
    x = span_input(vocab, ("what", "is", "the", "code"), np.zeros(384, np.float32), [t])
    for seed in range(30):          # untrained models pick spans anywhere: none may hold a tag
        torch.manual_seed(seed)
        [sp] = predict(SpanR(SpanConfig(len(vocab.words))).eval(), [x])
        assert sp is not None and not any(m in sp.text for m in ("<", ">", "[red", "[/red", "red]")), sp.text


def test_target_index_covers_the_answer_words():
    vocab = SpanVocab.build(["I keep the key behind the bread bin."], min_count=1)
    x = span_input(vocab, ("where", "is", "the", "key"), np.zeros(384, np.float32), ["I keep the key behind the bread bin."])
    y = target_index(x, 0, 15, 35)          # "behind the bread bin"
    k, rest = divmod(y, 96 * MAX_SPAN)
    w, ln = divmod(rest, MAX_SPAN)
    assert (k, w, ln) == (0, 4, 3)
    long = "I keep the spare key just behind the old bread bin."
    x = span_input(vocab, ("where", "is", "the", "key"), np.zeros(384, np.float32), [long])
    assert target_index(x, 0, 0, len(long)) is None          # eleven words: longer than a span may be


def test_span_model_predicts_a_span_of_the_memory_with_its_casing():
    texts = ["My dentist is called Henrike Vos.", "Bruno lives at 40 Quay Road."]
    vocab = SpanVocab.build(texts, min_count=1)
    model = SpanR(SpanConfig(len(vocab.words))).eval()
    x = span_input(vocab, ("who", "is", "my", "dentist"), np.zeros(384, np.float32), texts)
    [sp] = predict(model, [x])
    assert sp is not None and sp.text == texts[sp.support][sp.start:sp.end] and sp.text.strip()
    assert 0.0 <= sp.prob <= 1.0 and 0.0 <= sp.null_prob <= 1.0 and sp.support < min(SUPPORTS, len(texts))


def test_time_note_gives_the_write_date_and_resolves_relative_times():
    assert date_text(MAY_8) == "8 May 2023"
    assert time_note("The door code is 2290.", MAY_8) == "8 May 2023"        # "2290" is not a date
    assert time_note("I went to a support group yesterday.", MAY_8) == "8 May 2023 | yesterday: 7 May 2023"
    assert time_note("I finished my screenplay last Friday.", MAY_8).endswith("last friday: 5 May 2023")
    assert time_note("We went camping last weekend!", MAY_8).endswith("the weekend before 8 May 2023")
    assert time_note("Last year I visited Rome.", MAY_8).endswith("last year: 2022")
    assert time_note("May I ask you something?", MAY_8) == "8 May 2023"     # "May" alone is no time
    assert time_note("x", float("inf")) == ""                                # a write time no date can show
    text, body = r_text("Bruno has my drill.", MAY_8)
    assert text[body:] == "Bruno has my drill." and text.startswith("8 May 2023")


def test_span_targets_in_the_time_note_and_in_the_memory_map_back():
    texts = ["I went to the dentist yesterday.", "My dentist is called Henrike Vos."]
    vocab = SpanVocab.build(texts, min_count=1)
    x = span_input(vocab, ("when", "did", "i", "go"), np.zeros(384, np.float32), texts, [MAY_8, MAY_8 - 86400 * 30])
    at = note_target(x, 0, "7 May 2023")
    assert at is not None and x.texts[0][at[0]:at[1]] == "7 May 2023"
    y_note = target_index(x, 0, *at, in_note=True)
    y_body = target_index(x, 1, 21, 32)                                  # "Henrike Vos" in the memory's own text
    assert y_note is not None and y_body is not None and y_note != y_body
    assert x.flags[0, 0, 12] == 1 and x.flags[1, -1, 12] == 0            # the note's words are flagged as such
    assert x.flags[0, 0, 13] == 1 and x.flags[1, 0, 13] == 0             # the first support is the newer
    note, body = _forced(x, y_note), _forced(x, y_body)        # R's best span decoded from each target
    assert note.in_note and note.text == "7 May 2023" and note.support == 0
    assert not body.in_note and body.text == "Henrike Vos" and texts[1][body.start:body.end] == "Henrike Vos"


def _forced(x, y):
    """predict() with a span model whose only good span is the flat index `y`."""
    import torch

    class Fixed(SpanR):
        def forward(self, *args):
            scores = torch.full((1, SUPPORTS, 96, MAX_SPAN), -1e4)
            scores.view(-1)[y] = 10.0
            return scores, torch.zeros(1)

    return predict(Fixed(SpanConfig(3)).eval(), [x])[0]


def test_choose_follows_the_gate_and_the_span_threshold():
    from chatmem.span import Span

    sure = Span(0, 0, 5, "Bruno", 0.9, 0.01)
    unsure = Span(0, 0, 5, "Bruno", 0.3, 0.2)
    assert choose(["kitchen"], 3.0, True, True, sure, True, 0.5).words == ["Bruno"]
    c = choose(["dr."], 3.0, True, True, unsure, True, 0.5)     # the gate read the word answer's confidence
    assert c.words == ["Bruno"] and not c.confident                    # "I'm not sure", never a confident "dr."
    assert choose(["kitchen"], 3.0, True, True, sure, False, 0.5).words == ["kitchen"]    # the gate said no
    c = choose(["on"], 0.1, False, True, Span(0, 0, 5, "Bruno", 0.2, 0.6), True, 0.5)
    assert not c.confident and not c.related                            # "no answer" won: guess nothing
    c = choose(["kids"], 6.7, False, True, Span(0, 0, 5, "Hill Street", 0.0, 1.0), False, 0.5)
    assert not c.confident and not c.related      # the gate kept the unsure word, but "no answer" won: "I don't know"
    c = choose(["7"], 6.0, False, True, Span(0, 0, 1, "4", 0.6, 0.3), False, 0.5)
    assert not c.confident and c.related          # real doubt: "I'm not sure"


def test_no_answer_wins_from_its_fitted_cut():
    """"What colour is my car?" from "My car is a green Skoda Fabia.": the best span "green" has 0.30 of the
    probability, the spans around it some more, "no answer" 0.45. Without a cut "no answer" wins over the best
    span; from a cut of 0.8 it does not, and the span is said where it passes the threshold."""
    from chatmem.span import Span, no_answer

    shared = Span(0, 10, 15, "green", 0.30, 0.45)
    assert no_answer(shared) and not no_answer(shared, 0.8) and no_answer(shared, 0.45)
    c = choose(["skoda"], 0.2, False, True, shared, True, 0.5)
    assert not c.confident and not c.related                            # "I don't know that."
    c = choose(["skoda"], 0.2, False, True, shared, True, 0.25, 0.8)
    assert c.words == ["green"] and c.confident and c.related
    c = choose(["skoda"], 0.2, False, True, Span(0, 0, 3, "Rex", 0.05, 0.9), True, 0.25, 0.8)
    assert not c.confident and not c.related                            # past the cut: nothing answers it


def test_the_threshold_fit_picks_a_no_answer_cut_where_spans_share_their_probability(monkeypatch):
    """Right spans with 0.35 of the probability and "no answer" at 0.5 (their neighbours hold the rest), the
    unanswerable questions' "no answer" at 0.97: only a cut between the two answers the first and declines the
    second; without one, every right answer is declined. Cuts are tried only where offered
    (SpanTrainConfig.null_cuts; train_span offers them for stores of one conversation's size)."""
    from types import SimpleNamespace

    import chatmem.span_train as st
    from chatmem.span import Span

    def ex(answer):
        return st.SpanExample("q", ("q",), ["m"], [0.0], None, answer, "single")

    exs = [ex("Bruno") for _ in range(20)] + [ex(None) for _ in range(10)]
    spans = [Span(0, 0, 5, "Bruno", 0.35, 0.5)] * 20 + [Span(0, 0, 5, "Bruno", 0.02, 0.97)] * 10
    monkeypatch.setattr(st, "_spans", lambda *a: spans)
    monkeypatch.setattr(st, "use_span", lambda *a: True)
    monkeypatch.setattr(st, "gate_features", lambda *a: None)
    loaded = SimpleNamespace(span=None, span_vocab=None, vocab=SimpleNamespace(index={}))
    tau, _, cut, cal = st.choose_threshold(loaded, exs, np.zeros((30, 384), np.float32))
    assert cut is None and cal["answerable_right"] == 0.0           # no cut offered: the plain comparison
    cuts = (None, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
    tau, _, cut, cal = st.choose_threshold(loaded, exs, np.zeros((30, 384), np.float32), cuts=cuts)
    assert cut == 0.6 and tau <= 0.35            # of those that serve as well, the readiest to decline
    assert cal["answerable_right"] == 1.0 and cal["unanswerable_declined"] == 1.0 and cal["null_cut"] == cut


def test_two_answers_that_agree_are_said_when_either_is_sure():
    """"Remind me where Mary is.": the dictionary is unsure of "kitchen" (a request shape it never saw), the span
    says "kitchen" for sure; the gate's choice of the unsure one must not wrap the answer in "I'm not sure"."""
    from chatmem.span import Span

    sure, unsure = Span(0, 0, 7, "kitchen", 0.99, 0.0), Span(0, 0, 7, "kitchen", 0.3, 0.2)
    c = choose(["kitchen"], 6.4, False, True, sure, False, 0.5)
    assert c.words == ["kitchen"] and c.confident and c.span is sure
    c = choose(["kitchen"], 6.4, True, True, unsure, True, 0.5)            # the gate took the unsure span
    assert c.confident
    assert not choose(["hall"], 6.4, False, True, sure, False, 0.5).confident    # they differ: the gate decides
    assert not choose(["kitchen"], 6.4, False, False, sure, False, 0.5).confident   # memories not about it
    nothing = Span(0, 0, 3, "Rex", 0.2, 0.7)                   # "What is my cat called?": the span says no answer
    assert not choose(["rex"], 6.0, True, True, nothing, True, 0.5).confident


def test_a_price_with_its_sign_and_thousands_is_one_word():
    """"£640" is said as told, not "640"; "$1,200" stays whole; a comma between words still parts them."""
    from chatmem.span import words

    def said(t):
        return [t[a:b] for a, b in words(t)]

    assert said("I bought a new bike for £640.") == ["I", "bought", "a", "new", "bike", "for", "£640"]
    assert said("It was $1,200, ouch, and €35.50 more.") == ["It", "was", "$1,200", "ouch", "and", "€35.50", "more"]
    assert said("Paris, London and £ 5") == ["Paris", "London", "and", "5"]
    assert said("I paid for it,100 quid") == ["I", "paid", "for", "it", "100", "quid"]     # a comma after a word parts
    assert said("8 May 2023 | I paid [red]$42[/red].") == ["8", "May", "2023", "I", "paid", "$42"]


def test_a_price_said_by_both_answers_agrees_whatever_its_sign():
    """The dictionary answers "640" (the question's tokens split "£" off), the span "£640": the same answer, said
    as the span, with its sign, when either is sure."""
    from chatmem.span import Span

    c = choose(["640"], 6.0, False, True, Span(0, 0, 4, "£640", 0.9, 0.05), False, 0.5)
    assert c.words == ["£640"] and c.confident
    assert not choose(["641"], 6.0, False, True, Span(0, 0, 4, "£640", 0.9, 0.05), False, 0.5).confident


def test_no_span_runs_across_a_sentence_end_and_a_possessive_is_not_part_of_a_name():
    from chatmem.span import blocked, sentence_ends, words

    t = "Folake lives above the fire station. Talk soon, Dr. Okafor said at St. Mary's."
    offs = words(t)
    got = [t[a:b] for a, b in offs]
    assert got[:8] == ["Folake", "lives", "above", "the", "fire", "station", "Talk", "soon"]
    assert "Mary's" in got                                          # no word after it: the place's own name
    ends = sentence_ends(t, offs)
    assert [got[j] for j, e in enumerate(ends) if e] == ["station", "Mary's"]    # not after "Dr" or "St"
    no = blocked(t, offs)
    assert no[2, 3] == 0 and no[2, 4] == 1      # "above the fire station" / "above ... station. Talk"
    assert no[8, 2] == 0                          # "Dr. Okafor said": an abbreviation ends no sentence
    u = "I have Oisin Shah's bunting."
    assert [u[a:b] for a, b in words(u)] == ["I", "have", "Oisin", "Shah", "bunting"]
    v = "The red one is Tom's. Mine is at Trader Joe's."       # no word follows: the "'s" stays
    got = [v[a:b] for a, b in words(v)]
    assert got == ["The", "red", "one", "is", "Tom's", "Mine", "is", "at", "Trader", "Joe's"]
    assert sentence_ends(v, words(v))[4]
    w = "The kids' school is St. Brendan's on Hill Street, next to Oisin Shah's bakery."
    got = [w[a:b] for a, b in words(w)]
    assert "Brendan's" in got and "Shah" in got      # a saint's place before "on"; before "bakery" an owner
    x = "Mary's in Paris and Colm's the one with my ladder."
    assert [x[a:b] for a, b in words(x)][:2] == ["Mary", "in"] and "Colm" in [x[a:b] for a, b in words(x)]
    n = "8 May 2023 | My code is 42."                          # a time note, then the memory from 13
    assert blocked(n, words(n), 13)[2, 1] and not blocked(n, words(n), 13)[3, 1]

def test_match_features_read_the_whole_memory():
    long = tuple(f"w{i}" for i in range(40)) + ("ukulele",)     # the shared word is the 41st: past 12 positions
    mems = [long, ("nothing", "here")]
    F = match_features(("who", "plays", "ukulele"), mems, counter_df(mems), 2, np.array([0.0, 1.0]), np.array([0.1, 0.2]))
    assert F.shape == (2, NF)
    assert F[0, 1] > 0 and F[1, 1] == 0          # BM25 sees the word at position 41
    assert F[0, 4] == pytest.approx(0.5)          # covers one of the question's two content words


def test_relevance_term_and_alpha_shapes():
    rel = Relevance(RelevanceConfig()).eval()
    toks = [("mary", "went", "home"), ("the", "cat", "sat")]
    c = Candidates.story(toks, np.eye(2, 384, dtype=np.float32), known={"mary", "home"})
    assert c.question_features(("where", "is", "mary")).shape == (NQ,)
    r, alpha = prior(rel, ("where", "is", "mary"), np.ones(384, np.float32) / 20, c)
    assert r.shape == (2,) and 0.0 < alpha < 1.0


def test_checkpoint_keeps_the_parts_and_refuses_a_changed_file(tmp_path):
    import torch

    from chatmem import checkpoint
    from chatmem.features import Vocab
    from chatmem.model import MemNN, ModelConfig

    vocab = Vocab(["<pad>", "<unk>", "mary"], ["<stop>", "yes"], [])
    model = MemNN(ModelConfig(len(vocab.words), len(vocab.answers)))
    rel = Relevance(RelevanceConfig())
    sv = SpanVocab(["<pad>", "<unk>", "the"])
    span = SpanR(SpanConfig(len(sv.words)))
    checkpoint.save(tmp_path, model, vocab, {"span_threshold": 0.7}, relevance=rel, span=span, span_vocab=sv)
    got = checkpoint.load(tmp_path)
    assert got.span_vocab.words == sv.words and got.config["span_threshold"] == 0.7
    assert torch.equal(got.relevance.U.weight, rel.U.weight) and torch.equal(got.span.gate.weight, span.gate.weight)
    data = bytearray((tmp_path / checkpoint.VOCAB).read_bytes())
    data[-2:-1] = b" "
    (tmp_path / checkpoint.VOCAB).write_bytes(bytes(data))
    with pytest.raises(checkpoint.AssetError):
        checkpoint.load(tmp_path)


def test_a_saved_part_is_carried_over_unless_dropped(tmp_path):
    """A stage that saves some parts keeps the others already in the checkpoint; a part that no longer fits (the
    second hop after the relevance term's features changed) is dropped, not carried into a model that fails to load."""
    from chatmem import checkpoint
    from chatmem.features import Vocab
    from chatmem.hop2 import Hop2Config, SecondHop
    from chatmem.model import MemNN, ModelConfig

    vocab = Vocab(["<pad>", "<unk>", "mary"], ["<stop>", "yes"], [])
    model = MemNN(ModelConfig(len(vocab.words), len(vocab.answers)))
    checkpoint.save(tmp_path, model, vocab, {}, hop2=SecondHop(Hop2Config()))
    checkpoint.save(tmp_path, model, vocab, {}, relevance=Relevance(RelevanceConfig()))
    assert checkpoint.load(tmp_path).hop2 is not None
    checkpoint.save(tmp_path, model, vocab, {}, relevance=Relevance(RelevanceConfig()), drop=("hop2",))
    got = checkpoint.load(tmp_path)
    assert got.hop2 is None and got.relevance is not None and "hop2" not in got.config


def test_threshold_counts_the_questions_o_cited_nothing_for(monkeypatch):
    """The Bot declines a question O cites nothing for, whatever the threshold: those count among the declined,
    else the threshold is tuned on the hard unanswerable questions alone and doubts right answers."""
    from types import SimpleNamespace

    import chatmem.span_train as st
    from chatmem.span import Span

    def ex(answer):
        return st.SpanExample("q", ("q",), ["m"], [0.0], None, answer, "single")

    right, unanswerable = ex("Bruno"), ex(None)
    spans = [Span(0, 0, 5, "Bruno", 0.5, 0.1), Span(0, 0, 5, "Bruno", 0.5, 0.1)]
    monkeypatch.setattr(st, "_spans", lambda *a: spans)
    monkeypatch.setattr(st, "use_span", lambda *a: True)
    monkeypatch.setattr(st, "gate_features", lambda *a: None)
    loaded = SimpleNamespace(span=None, span_vocab=None, vocab=SimpleNamespace(index={}))
    tau, _, _, cal = st.choose_threshold(loaded, [right, unanswerable], np.zeros((2, 384), np.float32))
    assert tau > 0.5 and cal["answerable_right"] == 0.0           # only the hard one: declined by doubting all
    nothing = [ex(None) for _ in range(9)]                          # O cited nothing: the Bot declines these
    for e in nothing:
        e.supports = []
    tau, _, _, cal = st.choose_threshold(loaded, [right, unanswerable], np.zeros((2, 384), np.float32), nothing)
    assert tau <= 0.5 and cal["answerable_right"] == 1.0 and cal["unanswerable_declined"] == 0.9
    assert cal["questions"] == 11


def test_where_the_curve_is_flat_the_threshold_is_the_highest_that_answers_as_well(monkeypatch):
    """40 answerable questions, 39 answered at 0.9 and one at 0.3; 10 unanswerable at 0.2 or 0.6. Exactly the
    best (all 40 right) needs a threshold up to 0.30, which declines only the 0.2s; within FLAT of it (39 of 40
    with FLAT at 0.05) the highest threshold under 0.9 declines every unanswerable one."""
    from types import SimpleNamespace

    import chatmem.span_train as st
    from chatmem.span import Span

    def ex(answer):
        return st.SpanExample("q", ("q",), ["m"], [0.0], None, answer, "single")

    exs = [ex("Bruno") for _ in range(40)] + [ex(None) for _ in range(10)]
    probs = [0.9] * 39 + [0.3] + [0.2] * 9 + [0.6]
    monkeypatch.setattr(st, "_spans", lambda *a: [Span(0, 0, 5, "Bruno", p, 0.1) for p in probs])
    monkeypatch.setattr(st, "use_span", lambda *a: True)
    monkeypatch.setattr(st, "gate_features", lambda *a: None)
    monkeypatch.setattr(st, "DECLINE", 0.85)
    loaded = SimpleNamespace(span=None, span_vocab=None, vocab=SimpleNamespace(index={}))
    monkeypatch.setattr(st, "FLAT", 0.0)
    tau, _, _, cal = st.choose_threshold(loaded, exs, np.zeros((50, 384), np.float32))
    assert tau <= 0.3 and cal["answerable_right"] == 1.0 and cal["unanswerable_declined"] == 0.9
    monkeypatch.setattr(st, "FLAT", 0.05)
    tau, _, _, cal = st.choose_threshold(loaded, exs, np.zeros((50, 384), np.float32))
    assert 0.6 < tau <= 0.9 and cal["answerable_right"] == 39 / 40 and cal["unanswerable_declined"] == 1.0


def test_a_memory_near_the_question_counts_as_about_it_where_no_word_is_shared(monkeypatch):
    """"What is my job?" shares no content word with "I am a researcher.", but they are near (MiniLM cosine
    0.37); "What is the capital of France?" and "Mary went to the kitchen." are not (0.08). The span is sure of
    both; the fitted nearness answers the first kind and still declines the second."""
    from types import SimpleNamespace

    import chatmem.span_train as st
    from chatmem.span import Span

    def ex(answer, near):
        return st.SpanExample("q", ("q",), ["m"], [0.0], None, answer, "single", related=False, near=near)

    exs = [ex("researcher", 0.37) for _ in range(10)] + [ex(None, 0.08) for _ in range(10)]
    monkeypatch.setattr(st, "_spans", lambda *a: [Span(0, 0, 10, "researcher", 0.9, 0.05) for _ in exs])
    monkeypatch.setattr(st, "use_span", lambda *a: True)
    monkeypatch.setattr(st, "gate_features", lambda *a: None)
    loaded = SimpleNamespace(span=None, span_vocab=None, vocab=SimpleNamespace(index={}))
    tau, near, _, cal = st.choose_threshold(loaded, exs, np.zeros((20, 384), np.float32))
    assert 0.08 < near <= 0.37 and cal["related_cos"] == near
    assert cal["answerable_right"] == 1.0 and cal["unanswerable_declined"] == 1.0
    for e in exs[:10]:                 # were the answerable ones far too, nearness could not tell them apart
        e.near = 0.08
    tau, near, _, cal = st.choose_threshold(loaded, exs, np.zeros((20, 384), np.float32))
    assert near > 0.08 and cal["answerable_right"] == 0.0 and cal["unanswerable_declined"] == 1.0


def test_nearness_is_the_cosine_of_the_nearest_cited_memory():
    from chatmem.bot import nearness

    q = np.array([1.0, 0.0], np.float32)
    assert nearness(q, np.array([[0.0, 1.0], [0.6, 0.8]], np.float32)) == pytest.approx(0.6)
    assert nearness(q, np.zeros((0, 2), np.float32)) == -1.0


def test_the_gate_learns_from_questions_nothing_answers(monkeypatch):
    """Nothing answers "What is my cat called?": a confident dictionary guess is wrong there and the span's "no
    answer" right, so the gate sees that question (before, it saw only questions with an answer). Each answer is
    judged as the Bot would say it: an unsure dictionary word or an unrelated span is declining."""
    from types import SimpleNamespace

    import chatmem.span_train as st
    from chatmem.span import Span

    def ex(answer, words, confident):
        e = st.SpanExample("q", ("q",), ["m"], [0.0], None, answer, "unanswerable" if answer is None else "single")
        e.dict_words, e.dict_confident = words, confident
        return e

    unrelated = ex(None, ["kitchen"], False)
    unrelated.related = False
    exs = [ex(None, ["landlord", "pieter"], True),     # the guess: the span, saying "no answer", is right
           ex(None, ["kitchen"], False),               # the dictionary is unsure, the span answers: dictionary right
           ex(None, [], False),                        # both decline: no disagreement
           ex("Bruno", ["dr."], True),                 # answerable: the span right
           ex("mexquari", ["mexquari"], False),        # an unsure word the sure span agrees with: said either way
           unrelated]                                  # memories not about the question: the span declines too
    spans = [Span(0, 0, 5, "Pieter", 0.1, 0.8), Span(0, 0, 5, "Bruno", 0.7, 0.1), Span(0, 0, 5, "x", 0.1, 0.9),
             Span(0, 0, 5, "Bruno", 0.6, 0.2), Span(0, 0, 5, "mexquari", 1.0, 0.0), Span(0, 0, 5, "Bruno", 0.7, 0.1)]
    monkeypatch.setattr(st, "_spans", lambda *a: spans)
    monkeypatch.setattr(st, "gate_features", lambda *a: np.zeros(8, np.float32))
    loaded = SimpleNamespace(span=None, span_vocab=None, vocab=SimpleNamespace(index={}))
    X, y = st.gate_data(loaded, exs, np.zeros((6, 384), np.float32))
    assert y.tolist() == [1.0, 0.0, 1.0] and X.shape == (3, 8)


def test_a_warm_start_goes_on_from_the_shipped_span_model():
    """`SpanTrainConfig.warm_start`: fine-tuning starts from the given weights (and its own seed's start is not
    used); with no epochs the model is the one given."""
    import torch

    import chatmem.span_train as st
    from chatmem.span import SpanConfig, SpanR

    torch.manual_seed(0)
    given = SpanR(SpanConfig(vocab_size=20))
    got = st.fit([], np.zeros(0, dtype=np.int64), st.SpanTrainConfig(epochs=0, sem=0), 20, log=lambda m: None,
                 init=given)
    assert all(torch.equal(a, b) for a, b in zip(got.state_dict().values(), given.state_dict().values()))
    fresh = st.fit([], np.zeros(0, dtype=np.int64), st.SpanTrainConfig(epochs=0, sem=0), 20, log=lambda m: None)
    assert not all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), given.state_dict().values()))
    cfg = st.SpanTrainConfig()     # a fine-tune: at a lower learning rate, never longer than training anew
    assert cfg.warm_start and cfg.warm_lr < cfg.lr and cfg.warm_epochs <= cfg.epochs


def test_words_read_their_pieces_vectors_and_a_model_that_did_not_read_them_goes_on_unchanged():
    """chatmem.span.word_vectors: a word's contextual vector is the mean of its pieces'; and a warm start from a
    span model without them (SpanConfig.sem 0) begins as that model: the new inputs start with no weight."""
    import torch

    from chatmem.span import N_SIMS, word_vectors
    from chatmem.span_train import SpanTrainConfig, fit

    t = "Zofia is born on 19 October."
    pieces = (np.array([[0, 1], [1, 3], [3, 5], [6, 8], [9, 13]]), np.arange(10, dtype=np.float32).reshape(5, 2))
    v = word_vectors(words(t), pieces)
    assert v.shape == (6, 2) and np.allclose(v[0], [2, 3]) and np.allclose(v[1], [6, 7]) and not v[4:].any()

    def tv(texts):      # three "pieces" per text, of vectors that depend on the text
        rng = np.random.default_rng(len(texts[0]))
        return [(np.array([[0, 2], [2, 5], [5, 9]]), rng.normal(size=(3, 384)).astype(np.float32)) for _ in texts]

    vocab = SpanVocab.build([t], min_count=1)
    q = np.ones(384, np.float32) / np.sqrt(384)
    x = span_input(vocab, ("when", "is", "zofia", "s", "birthday"), q, [t], None, "When is Zofia's birthday?", tv)
    assert len(x.vecs) == 1 and x.vecs[0].shape == (6, 384) and x.sims.shape == (SUPPORTS, 96, N_SIMS)
    assert np.abs(x.sims).max() <= 1 + 1e-5 and x.sims[0, :6].any() and not x.sims[1:].any()
    torch.manual_seed(0)
    old = SpanR(SpanConfig(len(vocab.words))).eval()
    new = fit([x], np.array([0]), SpanTrainConfig(epochs=0, sem=384), len(vocab.words), log=lambda m: None, init=old)
    assert new.cfg.sem == 384
    with torch.no_grad():
        before, _ = old(*batch_tensors([x])[:5])
        after, _ = new(*batch_tensors([x]))
    assert torch.allclose(before, after, atol=1e-5)


def test_a_warm_start_keeps_the_old_word_ids_and_learns_the_new_words():
    import torch

    from chatmem.span_train import SpanTrainConfig, fit

    old = SpanVocab.build(["the key is in the box"], min_count=1)
    new = old.extended(["how old is Biscuit", "Biscuit is seven years old", "the box"], min_count=1)
    assert new.words[: len(old.words)] == old.words and {"old", "years", "seven"} <= set(new.words[len(old.words):])
    torch.manual_seed(0)
    init = SpanR(SpanConfig(len(old.words))).eval()
    t = "Biscuit is seven years old."
    x = span_input(new, ("how", "old", "is", "biscuit"), np.zeros(384, np.float32), [t])
    y = np.array([target_index(x, 0, 11, 16)])
    model = fit([x], y, SpanTrainConfig(epochs=1, lr=0.0), len(new.words), log=lambda m: None, init=init)
    E, E0 = model.E.weight.detach(), init.E.weight.detach()
    assert torch.equal(E[: len(old.words)], E0)                    # nothing moved at lr 0: the old words kept
    assert all(torch.equal(E[new.index[w]], E0[1]) for w in ("old", "years"))   # new words start as <unk>


def test_a_cache_of_r_s_examples_made_with_other_settings_is_not_used(tmp_path):
    """The span stage's cache of what O cited: read back as written, but never when the conversations were made
    another way (a share typed casually or told two statements to a turn), nor when it does not say how."""
    import json

    from chatmem import span_train as st

    e = st.SpanExample("Where is the van?", ("where", "is", "the", "van"), ["I parked the van in bay 12."], [1.0],
                       (0, 20, 26), "bay 12", "single", [("i", "parked", "the", "van", "in", "bay", "12")])
    sets = {"train": (600, 1234), "tune": (100, 1236)}
    made = st.data_settings(st.SpanTrainConfig(), sets)
    st.save_examples(tmp_path / "c.json", {"tune": [e]}, made)
    assert st.load_examples(tmp_path / "c.json", made) == {"tune": [e]}
    assert st.load_examples(tmp_path / "c.json", st.data_settings(st.SpanTrainConfig(compound=0.0), sets)) == {}
    # nor for another stage's sets (none for training where only the gate and threshold refit)
    assert st.load_examples(tmp_path / "c.json", st.data_settings(st.SpanTrainConfig(), {**sets, "train": (0, 1234)})) == {}
    # nor where the second calibration's stores were made another way (planted together, or one long memory)
    assert st.load_examples(tmp_path / "c.json", st.data_settings(st.SpanTrainConfig(long_per_store=1), sets)) == {}
    assert st.load_examples(tmp_path / "c.json", st.data_settings(st.SpanTrainConfig(long_turns=(100, 200)), sets)) == {}
    (tmp_path / "old.json").write_text(json.dumps({"tune": [vars(e)]}))
    assert st.load_examples(tmp_path / "old.json", made) == {}
    # nor one whose examples lack a field this version reads (written before `near`)
    before = {**made, "fields": [f for f in made["fields"] if f != "near"]}
    st.save_examples(tmp_path / "b.json", {"tune": [e]}, before)
    assert st.load_examples(tmp_path / "b.json", made) == {}


def test_the_no_answer_cut_holds_for_stores_as_big_as_it_was_fitted_on():
    """Fitted on single conversations (up to 37 memories here) and on a few planted together (up to 110), each cut
    and its threshold hold for stores up to that size; a bigger store (LoCoMo's long conversations, many more
    look-alike facts) keeps the threshold fitted without a cut."""
    from types import SimpleNamespace

    from chatmem.bot import NOT_NEAR, Bot
    from chatmem.memory import EphemeralMemory

    bot = Bot(EphemeralMemory(), encoder=object())
    small = {"memories": 37, "threshold": 0.05, "related_cos": 0.2, "null_cut": 0.95,
             "calibration": {"answerable_right": 0.86, "unanswerable_declined": 0.88}}
    medium = {**small, "memories": 110, "threshold": 0.3, "null_cut": None}
    bot._loaded = SimpleNamespace(config={"span_threshold": 0.5, "span_related_cos": 0.15,
                                          "span_stores": [small, medium]})
    assert bot.span_calibration(1) == bot.span_calibration(37) == (0.05, 0.2, 0.95)
    assert bot.span_calibration(38) == bot.span_calibration(110) == (0.3, 0.2, None)
    assert bot.span_calibration(111) == (0.5, 0.15, None)
    bot._loaded = SimpleNamespace(config={})                            # a model from before: the plain comparison
    assert bot.span_calibration(5) == (0.5, NOT_NEAR, None)


def test_the_second_calibration_reads_one_long_memory_or_several_planted_together():
    """"tune_long": conversations planted `long_per_store` to a store, or at 1 one person's memory of `long_turns`
    turns, each question in its place."""
    from chatmem import span_train as st

    long_ = st._set_conversations(st.SpanTrainConfig(long_per_store=1, long_turns=(100, 140)), "tune_long", 3, 7)
    assert len(long_) == 3 and all(100 <= len(c.turns) <= 140 for c in long_)
    planted = st._set_conversations(st.SpanTrainConfig(), "tune_long", 6, 7)
    assert len(planted) == 2
    assert all(len(c.turns) <= 60 for c in st._set_conversations(st.SpanTrainConfig(), "tune", 5, 7))
