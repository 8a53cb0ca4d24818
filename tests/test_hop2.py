"""O's learned second hop (chatmem.hop2): features, STOP after two hops, training, and where the Bot uses it."""

import numpy as np
import torch

from chatmem.hop2 import NF2, NS, Hop2Config, Later, SecondHop, bridge, features
from chatmem.relevance import Candidates


def _cands(texts, enc):
    from chatmem.input import tokenize

    return Candidates.story([tokenize(t) for t in texts], enc.encode(texts))


def test_bridge_is_what_the_first_memory_adds_to_the_question():
    q = ("where", "does", "the", "person", "who", "borrowed", "my", "ladder", "live")
    got = bridge(q, ("i", "lent", "my", "ladder", "to", "kevin", "last", "week"))
    assert "kevin" in got and "ladder" not in got and "my" not in got


def test_features_and_scores_have_one_column_per_memory_and_stop_last(hash_encoder):
    texts = ["I lent my ladder to Kevin.", "Kevin lives at 12 Birch Lane.", "The wifi password is tulip-4471."]
    cands = _cands(texts, hash_encoder)
    q = ("where", "does", "the", "person", "who", "borrowed", "my", "ladder", "live")
    qv = hash_encoder.encode(["Where does the person who borrowed my ladder live?"])[0]
    F, S, xm = features(q, qv, cands, 0)
    assert F.shape == (3, NF2) and S.shape == (NS,) and xm.shape == (384,) and np.isfinite(F).all()
    later = Later(SecondHop(Hop2Config()).eval(), q, qv, cands)
    s2 = later([0], 1)
    assert s2.shape == (4,) and np.isfinite(s2).all()
    s3 = later([0, 1], 2)                 # at most two hops: then only STOP
    assert s3[3] == 0.0 and (s3[:3] < -1e3).all()


def test_stop_sees_whether_o1_holds_every_name_the_question_has(hash_encoder):
    texts = ["Wodate's blood type is O positive.", "Hazeda's blood type is AB positive."]
    cands = _cands(texts, hash_encoder)
    q = ("what", "is", "wodate", "'s", "blood", "type")
    qv = hash_encoder.encode(["What is Wodate's blood type?"])[0]
    _, S_named, _ = features(q, qv, cands, 0, names=("wodate",))
    _, S_other, _ = features(q, qv, cands, 1, names=("wodate",))
    _, S_none, _ = features(q, qv, cands, 0)
    assert S_named[10:13].tolist() == [1.0, 1.0, 0.0]    # o1 holds the name, no other memory does
    assert S_other[10:13].tolist() == [0.0, 1.0, 1.0]
    assert S_none[10:13].tolist() == [0.0, 0.0, 0.0]


def test_second_hop_learns_to_follow_the_bridge_and_to_stop(real_encoder):
    from chatmem import generator
    from chatmem.hop2_train import Hop2TrainConfig, accuracy, collect, fit

    train = collect(generator.generate(200, seed=5, split="train"), real_encoder)
    held = collect(generator.generate(80, seed=6, split="train"), real_encoder)
    cfg = Hop2TrainConfig(epochs=8)
    torch.manual_seed(0)
    before = accuracy(SecondHop(cfg.model).eval(), held)
    after = accuracy(fit(train, cfg, log=lambda m: None), held)
    # 200 conversations, 8 epochs: two-hop 0.45 of 126 questions against 0.1-0.15 untrained (a fifth of the facts sit
    # in long turns, whose chat dilutes the bridge); the full stage (1,200 conversations) reaches 0.65-0.71 on its
    # validation. 40 held-out conversations (66 two-hop questions) moved 0.35-0.48 with the training set's size.
    assert after["stop"] > 0.9 and after["two_hop"] > before["two_hop"] + 0.25, (before, after)


def test_the_bot_takes_a_second_hop_through_a_person_and_leaves_babi_to_s_o(real_encoder):
    from chatmem.bot import Bot
    from chatmem.input import make_utterance
    from chatmem.memory import EphemeralMemory

    bot = Bot(EphemeralMemory(), encoder=real_encoder).load()
    if bot._loaded.hop2 is None:
        import pytest
        pytest.skip("the shipped model has no second hop")
    for t in ["I lent my ladder to Kevin last week.", "My sister Aoife lives in Galway.", "Kevin lives at 12 Birch Lane.",
              "The wifi password is tulip-4471."]:
        bot.observe(t)
    a = bot.ask("Where does the person who borrowed my ladder live?")
    assert [s.memory.text for s in a.supports] == ["I lent my ladder to Kevin last week.", "Kevin lives at 12 Birch Lane."]
    babi = Bot(EphemeralMemory(), encoder=real_encoder).load()
    for t in ["Mary went to the kitchen.", "Mary picked up the football.", "Mary travelled to the garden."]:
        babi.observe(t)
    _, _, _, [q], _ = babi._queries([make_utterance("Where is the football?")], None)
    assert q.later is None and q.prior is None and q.first_stop     # bAbI's own words: s_O alone, every hop
    assert babi.ask("Where is the football?").words == ["garden"]


def test_a_question_in_babi_s_words_about_everyday_memories_gets_the_relevance_term(real_encoder):
    """"Where did we park?": every word of it is bAbI's, but the memories are not, so s_O alone (which reads
    "park" as bAbI's place) must not rank them: it cited "I'm allergic to penicillin." among eleven everyday
    memories. (α, learned, still weighs s_O at 0.87 for such a question: among these five it is cited second.)"""
    from chatmem.bot import Bot
    from chatmem.input import make_utterance
    from chatmem.memory import EphemeralMemory

    bot = Bot(EphemeralMemory(), encoder=real_encoder).load()
    if bot._loaded.relevance is None:
        import pytest
        pytest.skip("the shipped model has no relevance term")
    for t in ["Our babysitter is Tomasz Wierzbicki.", "The garage door code is 5512.", "I'm allergic to penicillin.",
              "We parked on level 5 of the Riverside car park.", "My passport expires in August 2027."]:
        bot.observe(t)
    _, _, _, [q], _ = bot._queries([make_utterance("Where did we park?")], None)
    assert q.prior is not None and q.later is not None
    assert not q.first_stop          # the term's offset is not trained against STOP: R's gate declines instead


def test_in_a_big_store_a_babi_like_story_with_invented_words_is_left_to_s_o(real_encoder):
    """Past a few hundred memories O ranks a retriever's candidates; where those are bAbI-like sentences, s_O
    chains from the first memory as trained (the learned second hop stopped at "Sanera discarded the samiis."
    and R answered "discarded": renamed bAbI task 2 among 1,000 distractors fell to 51%)."""
    import random

    from chatmem.bot import Bot
    from chatmem.input import make_utterance
    from chatmem.memory import EphemeralMemory

    bot = Bot(EphemeralMemory(), encoder=real_encoder).load()
    rng = random.Random(3)
    names = ["Lobo", "Nykaan", "Powoer", "Jodaer", "Safesa", "Mary", "John", "Sandra", "Daniel"]
    places = ["kitchen", "garden", "office", "bedroom", "bathroom"]
    texts = [f"{rng.choice(names)} {rng.choice(['went to', 'moved to', 'journeyed to'])} the {rng.choice(places)}."
             for _ in range(400)]
    texts[150:150] = ["Sanera picked up the samiis.", "Sanera went to the office.", "Sanera discarded the samiis.",
                      "Sanera went back to the hallway."]
    bot.store([make_utterance(t) for t in texts])
    _, _, _, [q], _ = bot._queries([make_utterance("Where is the samiis?")], None)
    assert q.retrieved and q.later is None


def test_in_a_big_store_s_o_ranks_babi_like_candidates_without_the_relevance_term(real_encoder):
    """Where the candidates are sentences s_O knows, its first hop is s_O's as trained, as in a small store: with
    the term added (α 0.9) "Where is the hamimo?" cited an older pick-up instead of the latest drop, and renamed
    bAbI task 2 among a million distractors fell from 99% (alone) to 73% (scripts/bench_memory.py). The term
    still chooses which memories s_O scores."""
    import random

    import numpy as np

    from chatmem.bot import Bot
    from chatmem.input import make_utterance
    from chatmem.memory import EphemeralMemory

    bot = Bot(EphemeralMemory(), encoder=real_encoder).load()
    rng = random.Random(5)
    names = ["Lobo", "Nykaan", "Powoer", "Safesa", "Teguha", "Andake"]
    places = ["kitchen", "garden", "office", "bedroom", "bathroom", "hallway"]
    texts = [f"{rng.choice(names)} {rng.choice(['went to', 'moved to', 'journeyed to'])} the {rng.choice(places)}."
             for _ in range(600)]
    for k in range(0, 500, 25):                   # the object in other people's hands, long before the story
        texts[k] = f"{rng.choice(names)} {rng.choice(['discarded', 'took', 'dropped'])} the hamimo."
    texts += ["Livi took the hamimo there.", "Livi went to the garden.", "Livi discarded the hamimo.",
              "Jodaer picked up the hamimo there.", "Andake went back to the bedroom.", "Jodaer travelled to the kitchen.",
              "Livi journeyed to the bedroom.", "Jodaer discarded the hamimo.", "Andake moved to the office."]
    bot.store([make_utterance(t) for t in texts])
    _, _, _, [q], [rows] = bot._queries([make_utterance("Where is the hamimo?")], None)
    pen = bot._superseded_penalty(np.asarray(rows))           # G's mark is all that is added to s_O
    assert q.retrieved and q.alpha == 1.0 and np.array_equal(q.prior, pen)
    a = bot.ask("Where is the hamimo?")
    assert [s.memory.text for s in a.supports] == ["Jodaer discarded the hamimo.", "Jodaer travelled to the kitchen."]
    assert a.words == ["kitchen"]
    # everyday memories in a big store keep the term
    bot.store([make_utterance(t) for t in ["My cousin Ines works as a nurse in Lyon.", "We parked on level 5."]])
    _, _, _, [q], _ = bot._queries([make_utterance("Where does my cousin work?")], None)
    assert q.retrieved and q.alpha < 1.0


def test_crowd_examples_are_second_hops_over_the_candidates_the_first_hop_hands_on(real_encoder):
    """In a crowd the second hop learns over what `Bot._cascade` hands it: other people's look-alike facts
    among the candidates, its target one of them or STOP."""
    import numpy as np

    from chatmem import checkpoint, generator
    from chatmem.crowd import crowd_conversation
    from chatmem.hop2 import NF2
    from chatmem.hop2_train import collect_crowd
    from chatmem.paths import assets_dir

    loaded = checkpoint.load(assets_dir())
    crowd = crowd_conversation(generator.generate(25, seed=5, split="train"), np.random.default_rng(0), dated=True,
                               mentions=4)
    exs = collect_crowd(loaded, crowd, real_encoder)
    assert len(exs) > 20
    for e in exs:
        C = len(e.feats)
        assert e.feats.shape[1] == NF2 and 0 <= e.first < C and 0 <= e.target <= C and e.target != e.first
    assert {e.qkind for e in exs} & {"newer", "unanswerable"}
    assert sum(e.target == len(e.feats) for e in exs) > 0          # STOP is a target too
