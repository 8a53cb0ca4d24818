"""O and R: training on fixture stories, the shipped model, and its failure modes."""

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.stories import write_fixture  # noqa: E402

from chatmem import checkpoint  # noqa: E402
from chatmem.bot import Bot  # noqa: E402
from chatmem.memory import EphemeralMemory  # noqa: E402
from chatmem.paths import assets_dir  # noqa: E402

HAVE_ASSETS = (assets_dir() / checkpoint.WEIGHTS).exists()
needs_assets = pytest.mark.skipif(not HAVE_ASSETS, reason="no trained model in assets/ (run `chatmem train`)")


@pytest.fixture(scope="module")
def fixture_model(tmp_path_factory):
    """A model trained for a few seconds on our own small stories."""
    from conftest import HashEncoder

    from chatmem.train import TrainConfig, train

    root = tmp_path_factory.mktemp("fx")
    data = write_fixture(root / "babi")
    import os

    os.environ["CHATMEM_CACHE"] = str(root / "cache")
    cfg = TrainConfig(babi_dir=str(data), tasks=[1, 2], epochs=12, eval_every=4, batch=32, val_fraction=0.1)
    train(cfg, root / "model", log=lambda m: None, encoder=HashEncoder())
    return root


def test_fixture_model_reaches_100_percent(fixture_model):
    from conftest import HashEncoder

    from chatmem.babi import load_task
    from chatmem.data import build_table
    from chatmem.evaluate import predict, summarize
    from chatmem.input import tokenize
    from chatmem.train import all_texts
    from chatmem.util import minilm_cached

    loaded = checkpoint.load(fixture_model / "model")
    samples = [s for t in (1, 2) for s in load_task(fixture_model / "babi", t, "test")]
    texts = all_texts(samples)
    tok = {t: tokenize(t) for t in texts}
    table = build_table(texts, loaded.vocab, tok.__getitem__, lambda t: minilm_cached(t, HashEncoder()))
    preds = predict(loaded.model, loaded.vocab, samples, table)
    summary = summarize(preds)
    assert summary["tasks"]["1"]["accuracy"] == 1.0, summary
    assert summary["tasks"]["2"]["accuracy"] == 1.0, summary
    assert summary["tasks"]["1"]["support_accuracy"] == 1.0, summary
    # Pruning beam chains that can no longer win (evaluation's speed-up) changes no answer, support or score.
    full = predict(loaded.model, loaded.vocab, samples, table, prune=False)
    assert [(p.answer, p.support) for p in preds] == [(p.answer, p.support) for p in full]
    assert [p.score for p in preds] == pytest.approx([p.score for p in full], abs=1e-4)


def test_training_can_go_on_from_a_checkpoint(fixture_model, tmp_path):
    """TrainConfig.warm_from starts from the checkpoint's O and R (at a learning rate of nothing they stay), and
    refuses one trained with another vocabulary."""
    import torch
    from conftest import HashEncoder

    from chatmem.train import TrainConfig, train

    base = dict(babi_dir=str(fixture_model / "babi"), epochs=1, eval_every=1, batch=32, val_fraction=0.1,
                warm_from=str(fixture_model / "model"))
    train(TrainConfig(tasks=[1, 2], lr=1e-12, **base), tmp_path / "m", log=lambda m: None, encoder=HashEncoder())
    before, after = checkpoint.load(fixture_model / "model").model, checkpoint.load(tmp_path / "m").model
    for (k, v), w in zip(before.state_dict().items(), after.state_dict().values()):
        assert torch.allclose(v, w, atol=1e-6), k
    with pytest.raises(ValueError, match="another vocabulary"):
        train(TrainConfig(tasks=[1], **base), tmp_path / "n", log=lambda m: None, encoder=HashEncoder())


def test_checkpoint_is_safetensors_and_json(fixture_model):
    d = fixture_model / "model"
    assert sorted(p.name for p in d.iterdir()) == ["config.json", "model.safetensors", "vocab.json"]
    cfg = json.loads((d / "config.json").read_text())
    assert set(cfg["sha256"]) == {"model.safetensors", "vocab.json"}
    assert cfg["train"]["seed"] == 1234


def test_tampered_weights_are_refused(fixture_model, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(fixture_model / "model", d)
    data = bytearray((d / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (d / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(checkpoint.AssetError, match="checksum"):
        checkpoint.load(d)


def test_missing_and_corrupt_assets_give_clear_errors(fixture_model, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(fixture_model / "model", d)
    (d / "vocab.json").unlink()
    with pytest.raises(checkpoint.AssetError, match="vocab.json is missing"):
        checkpoint.load(d)
    shutil.copy(fixture_model / "model" / "vocab.json", d / "vocab.json")
    (d / "config.json").write_text("{not json")
    with pytest.raises(checkpoint.AssetError, match="config.json is damaged"):
        checkpoint.load(d)


def test_weights_of_another_shape_are_refused_in_one_line(fixture_model, tmp_path, monkeypatch):
    from chatmem import hop2

    d = tmp_path / "m"
    shutil.copytree(fixture_model / "model", d)
    loaded = checkpoint.load(d)
    checkpoint.save(d, loaded.model, loaded.vocab, loaded.config, hop2=hop2.SecondHop(hop2.Hop2Config()))
    monkeypatch.setattr(hop2, "NS", hop2.NS + 3)     # a version whose STOP reads more features
    with pytest.raises(checkpoint.AssetError, match="another version of chatmem") as err:
        checkpoint.load(d)
    assert "\n" not in str(err.value) and "hop2" in str(err.value)


# -- the shipped model -------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped(real_encoder):
    proto = Bot(EphemeralMemory(), encoder=real_encoder).load()

    def fresh():
        b = Bot(EphemeralMemory(), encoder=real_encoder)
        b._loaded = proto._loaded
        return b
    return fresh


def _tell(bot, text):
    bot.observe(text)


def _declines(bot, *questions):
    """Each question is answered "I don't know that.", not guessed."""
    for q in questions:
        a = bot.ask(q)
        assert not a.confident and a.text.startswith("I don't know that."), (q, a.text)


@needs_assets
def test_shipped_model_answers_a_babi_style_story(shipped):
    bot = shipped()
    _tell(bot, "Mary moved to the bathroom. John went to the hallway. Daniel went back to the office.")
    a = bot.ask("Where is John?")
    assert a.words == ["hallway"]
    assert [s.memory.text for s in a.supports] == ["John went to the hallway."]
    assert a.supports[0].hop == 1 and a.confident


@needs_assets
def test_time_awareness_uses_the_latest_move(shipped):
    bot = shipped()
    _tell(bot, "Mary went to the kitchen. John went to the garden. Mary journeyed to the office. "
               "Sandra moved to the hallway.")
    a = bot.ask("Where is Mary?")
    assert a.words == ["office"]
    assert a.supports[0].memory.text == "Mary journeyed to the office."


@needs_assets
def test_unseen_names_and_places(shipped):
    bot = shipped()
    _tell(bot, "Zoltan went to the observatory. Priya travelled to the greenhouse.")
    assert bot.ask("Where is Zoltan?").words == ["observatory"]
    assert bot.ask("Where is Priya?").words == ["greenhouse"]


@needs_assets
def test_unseen_objects_two_supporting_facts(shipped):
    bot = shipped()
    _tell(bot, "Zoltan picked up the telescope. Zoltan went to the observatory. Priya went to the kitchen.")
    a = bot.ask("Where is the telescope?")
    assert a.words == ["observatory"]
    assert {s.memory.text for s in a.supports} == {"Zoltan picked up the telescope.", "Zoltan went to the observatory."}


@needs_assets
def test_empty_memory_says_so(shipped):
    a = shipped().ask("Where is Mary?")
    assert a.supports == [] and "don't remember" in a.text


@needs_assets
def test_unfamiliar_question_answers_with_a_memory_not_a_guess(shipped):
    bot = shipped()
    _tell(bot, "Mary went to the kitchen. John went to the garden.")
    a = bot.ask("What is the capital of France?")
    assert not a.confident
    assert a.text.startswith("I don't know that. The closest thing I remember: ")      # nothing shares a word
    assert a.text.endswith(a.supports[0].memory.text)
    assert isinstance(a.score, float)


@needs_assets
def test_why_is_answered_from_a_told_reason_and_declined_without_one(shipped):
    """R answers "why" with the reason a memory gives, and says it does not know where the memory gives none,
    rather than copying its place or its month."""
    bot = shipped()
    _tell(bot, "Priya moved to Singapore in June to be nearer her sister.")
    a = bot.ask("Why did Priya move to Singapore?")
    assert a.confident and a.text == "to be nearer her sister"
    assert bot.ask("Where does Priya live?").text == "Singapore"
    bot = shipped()
    _tell(bot, "Priya moved to Singapore in June.")
    _declines(bot, "Why did Priya move to Singapore?", "What does Priya love most about Singapore?")


@needs_assets
def test_a_detail_told_after_a_fact_is_answered_and_one_never_told_is_declined(shipped):
    """"Who is my eye test with?" from "... at 10:20 with Dr. Haversham.": a question R used to decline whatever the
    memory said, as it had only ever met it unanswerable; asked of a fact that does not tell it, still declined."""
    bot = shipped()
    _tell(bot, "I lent my tent to Magnus until the end of August.")
    _tell(bot, "My eye test is on 9 June at 10:20 with Dr. Haversham.")
    _tell(bot, "Kasia lives in Gdansk with her boyfriend Piotr.")
    assert bot.ask("When is Magnus giving my tent back?").text == "the end of August"
    assert bot.ask("Who is my eye test with?").text == "Dr. Haversham"
    assert bot.ask("Who does Kasia live with?").text == "Piotr"
    bot = shipped()
    _tell(bot, "My eye test is on 9 June at 10:20.")
    _tell(bot, "Kasia lives in Gdansk.")
    _declines(bot, "Who is my eye test with?", "Who does Kasia live with?")


@needs_assets
def test_a_clitic_is_neither_a_match_nor_an_answer(shipped):
    """The "'s" of "What's my job?" (or "What’s", typed on a phone) is no match for the possessive of "My sister's
    husband ...": O cited that memory and the Bot declined. And R never answers a clitic: "What does Chidi do?"
    beside "he's a pilot" was answered "'s"."""
    bot = shipped()
    _tell(bot, "I work as a ferry dispatcher at the Kestrel Bay terminal.")
    _tell(bot, "My sister's husband is called Teodor and he lives in Harrowgate.")
    _tell(bot, "Brother is Chidi, he's a pilot.")
    for q in ("What's my job?", "What’s my job?", "whats my job"):
        a = bot.ask(q)
        assert a.text == "ferry dispatcher" and a.supports[0].memory.id == 1, (q, a.text)
    assert all(w[:1].isalnum() for w in bot.ask("What does Chidi do?").words)


@needs_assets
def test_r_s_word_vectors_of_a_memory_do_not_outlive_it(shipped):
    """R's token vectors are kept between questions only while the memory is unchanged, and dropped on forget."""
    bot = shipped()
    _tell(bot, "My safe combination is 12-34-56.")
    _tell(bot, "The wifi password is maple-tree-42.")
    assert bot.ask("What is my safe combination?").text == "12-34-56"
    held = lambda: [t for t in (bot._tv[1].seen if bot._tv else ()) if "12-34-56" in t]   # noqa: E731
    assert held()
    bot.forget_caches()
    assert not held()
    bot.ask("What is my safe combination?")
    [m] = [m for m in bot.memory.all() if "12-34-56" in m.text]
    bot.memory.forget(m.id)
    bot.ask("What is the wifi password?")
    assert not held()


@needs_assets
def test_batched_answers_equal_one_at_a_time(shipped):
    """A replay stores a whole story, then asks each question at its place in it, in one batch."""
    story = ["Mary went to the kitchen.", "John went to the garden.", "Mary moved to the office.",
             "John journeyed to the hallway."]
    questions = [("Where is Mary?", 1), ("Where is John?", 2), ("Where is Mary?", 3), ("Where is John?", 4)]
    one = shipped()
    singles = []
    for k, text in enumerate(story):
        _tell(one, text)
        singles += [one.ask(q).text for q, at in questions if at == k + 1]
    batch = shipped()
    _tell(batch, " ".join(story))
    from chatmem.input import make_utterance

    got = batch.answer_many([make_utterance(q) for q, _ in questions], [at for _, at in questions])
    assert [a.text for a in got] == singles == ["kitchen", "garden", "office", "hallway"]


def test_derived_where_is_person_questions():
    from chatmem.babi import Sample, where_is_person

    story = ("John moved to the office.", "Mary went back to the kitchen.", "John picked up the apple there.")
    s = Sample(2, story, "Where is the apple?", ("office",), (2, 0))
    derived = where_is_person([s])
    assert derived[0] is s
    assert derived[1:] == [Sample(2, story, "Where is John?", ("office",), (0,), 0)]
    moved_last = Sample(1, story[:2], "Where is Mary?", ("kitchen",), (1,))
    assert where_is_person([moved_last]) == [moved_last]          # nothing to add: the latest is a move


def test_score_o_with_a_kept_table_gives_the_same_numbers():
    """O keeps s_O's view of the sentence table across hops (MemNN.o_table): bit for bit what score_o computes
    from the table itself."""
    import torch

    from chatmem.features import F_O, L, MAX_HOPS, N_REFS
    from chatmem.model import MemNN, ModelConfig

    torch.manual_seed(0)
    model = MemNN(ModelConfig(vocab_size=40, n_answers=6)).eval()
    S, H, C = 9, 3, 7
    gid = torch.randint(0, 40, (S, L))
    mini = torch.randn(S, 384)
    table = model.o_table(gid, mini)
    for hop in range(3):
        args = (torch.randint(0, S, (H,)), torch.randint(-1, S, (H, 2)), torch.randint(-1, S, (H, MAX_HOPS)),
                torch.full((H,), hop), torch.randint(-1, S, (H, C)), torch.rand(H, C, F_O),
                torch.rand(H, C, N_REFS, L) > 0.5)
        with torch.inference_mode():
            assert torch.equal(model.score_o(gid, mini, *args), model.score_o(gid, mini, *args, table=table))


def test_renamed_stories_keep_their_shape_with_words_no_vocabulary_has():
    from chatmem.babi import Sample, rename

    story = ("Mary went to the kitchen.", "John took the apple there.")
    s = [Sample(1, story, "Where is Mary?", ("kitchen",), (0,)), Sample(1, story, "Where is the apple?", ("kitchen",), (1, 0))]
    known = {"mary", "john", "kitchen", "apple", "went", "to", "the"}
    r = rename(s, {"mary", "john", "kitchen", "apple"}, known, seed=3)
    mary, kitchen = r[0].story[0].split()[0], r[0].answer[0]
    assert mary[0].isupper() and mary.lower() not in known and kitchen not in known
    assert r[0].story[0] == f"{mary} went to the {kitchen}." and r[0].question == f"Where is {mary}?"
    assert r[1].story == r[0].story and r[1].answer == (kitchen,)        # one renaming for the whole story
    assert rename(s, {"mary", "john", "kitchen", "apple"}, known, seed=3) == r


def test_people_are_entities_whatever_the_case_of_their_answers():
    """bAbI answers "Mary" where its stories' tokens say "mary", and most people are never answers: both were left
    out of word dropout, so O and R never met an unknown person and renamed people failed task 5 (32%)."""
    from chatmem.babi import Sample, proper_names
    from chatmem.features import Vocab

    story = ("Mary went to the kitchen.", "John gave the apple to Mary.", "The kitchen is north of the hall.")
    samples = [Sample(5, story, "Who did John give the apple to?", ("Mary",), (1,))]
    assert proper_names(samples) == ["john", "mary"]         # "The" is a function word, "kitchen" is lower case too
    toks = [tuple(w.lower() for w in t.rstrip(".").split()) for t in story]
    vocab = Vocab.build(toks, [("who", "did", "john", "give", "the", "apple", "to")], [("Mary",), ("kitchen",)],
                        proper_names(samples))
    assert vocab.entities == ["john", "kitchen", "mary"]
    dropped = {vocab.words[i] for i in vocab.entity_ids()}
    assert dropped == {"Mary", "mary", "john", "kitchen"}
    # the story's "mary" is the answer "Mary", as "kitchen" is "kitchen": a copy of it and the dictionary word agree
    ans_of = vocab.answer_of()
    assert ans_of[vocab.index["mary"]] == ans_of[vocab.index["Mary"]] == vocab.answer_index["Mary"]
    assert ans_of[vocab.index["john"]] == -1


def test_r_learns_to_copy_a_name_it_may_not_know():
    """R's copy target of "Mary" is the story's "mary": with none, a dropped name taught R nothing."""
    import numpy as np

    from chatmem.babi import Sample
    from chatmem.data import build_table, encode_samples
    from chatmem.features import Vocab

    story = ("Mary went to the kitchen.", "John gave the apple to Mary.")
    s = Sample(5, story, "Who did John give the apple to?", ("Mary",), (1,))
    tok = {t: tuple(w.lower() for w in t.rstrip(".?").split()) for t in story + (s.question,)}
    vocab = Vocab.build([tok[t] for t in story], [tok[s.question]], [s.answer], ["john", "mary"])
    table = build_table(list(tok), vocab, tok.__getitem__, lambda ts: np.zeros((len(ts), 384), np.float32))
    enc = encode_samples([s], vocab, table)
    assert int(np.asarray(enc.r["gold_lid"])[0]) >= 0


def test_a_copied_name_is_the_right_answer_whatever_its_case():
    from chatmem.babi import Sample
    from chatmem.evaluate import Prediction

    s = Sample(5, ("Zolbaku gave the milk to Nyti.",), "Who did Zolbaku give the milk to?", ("Nyti",), (0,))
    assert Prediction(s, ["nyti"], [0], 1.0).correct and not Prediction(s, ["zolbaku"], [0], 1.0).correct


def test_renamed_answers_follow_the_story_whatever_their_case():
    from chatmem.babi import Sample, rename

    story = ("Fred gave the milk to Jeff.",)
    r = rename([Sample(5, story, "Who did Fred give the milk to?", ("Jeff",), (0,))], {"fred", "jeff"},
               {"fred", "jeff", "gave", "the", "milk", "to"}, seed=3)[0]
    jeff = r.story[0].rstrip(".").split()[-1]
    assert jeff[0].isupper() and jeff.lower() != "jeff" and r.answer == (jeff,)


def test_renamed_plurals_stay_plurals_of_the_invented_word():
    """Task 15's "Wolves are afraid of mice." renamed keeps both plurals of the words its singulars became."""
    from chatmem.babi import Sample, rename

    story = ("Wolves are afraid of mice.", "Sheep are afraid of wolves.", "Gertrude is a sheep.", "Jo is a wolf.")
    s = [Sample(15, story, "What is gertrude afraid of?", ("wolf",), (2, 1))]
    known = {"wolf", "mouse", "sheep", "gertrude", "jo", "is", "a", "are", "afraid", "of"}
    r = rename(s, {"wolf", "mouse", "sheep"}, known, seed=3)[0]
    wolf, sheep = r.answer[0], r.story[2].split()[-1].rstrip(".")
    plural = lambda w: w + ("es" if w.endswith("s") else "s")   # noqa: E731
    assert r.story[1] == f"{plural(sheep).capitalize()} are afraid of {plural(wolf)}."
    assert r.story[3] == f"Jo is a {wolf}." and r.story[0].startswith(f"{plural(wolf).capitalize()} are afraid of ")


def test_a_save_without_the_relevance_term_or_span_model_leaves_none_and_keeps_the_carried_parts(tmp_path):
    """checkpoint.save's contract: act, update, budget and hop2 carry over when not given; the relevance term and
    the span model do not (they read O's vocabulary), so a merge that forgets them is visible, not half-right."""
    import shutil

    from chatmem import checkpoint
    from chatmem.paths import assets_dir

    for f in ("config.json", "model.safetensors", "vocab.json"):
        shutil.copy(assets_dir() / f, tmp_path / f)
    a = checkpoint.load(tmp_path)
    checkpoint.save(tmp_path, a.model, a.vocab, dict(a.config))
    b = checkpoint.load(tmp_path)
    assert b.relevance is None and b.span is None
    assert all(getattr(b, n) is not None for n in checkpoint.CARRIED)
    # a retrained O's save (its own record only) keeps the carried parts' training records for the model card
    checkpoint.save(tmp_path, a.model, a.vocab, {"train": a.config["train"]})
    c = checkpoint.load(tmp_path).config
    assert all(c[f"{n}_train"] == a.config[f"{n}_train"] for n in checkpoint.CARRIED if f"{n}_train" in a.config)
    assert "act_train" in c and "relevance_train" not in c
