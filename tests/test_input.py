import numpy as np
import pytest

from chatmem.input import MAX_UTTERANCE_CHARS, InputError, clean, is_question, make_utterance, parse, split_sentences, tokenize


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("Mary went to the Kitchen.") == ("mary", "went", "to", "the", "kitchen")
    assert tokenize("Where is John?") == ("where", "is", "john")
    assert tokenize("apple,football") == ("apple", "football")


def test_paragraph_becomes_one_statement_per_sentence():
    text = "Mary went to the kitchen. John picked up the apple. Where is Mary?"
    assert split_sentences(text) == ["Mary went to the kitchen.", "John picked up the apple.", "Where is Mary?"]
    kinds = [u.kind for u in parse(text)]
    assert kinds == ["statement", "statement", "question"]


def test_markup_typed_as_text_does_not_split_a_sentence_at_an_abbreviation():
    """"[bold]Dr. Okafor[/bold]" used to end a sentence after "Dr." (glued to "bold]", no abbreviation), and the
    rest was read as a greeting and not stored."""
    assert split_sentences("My dentist is [bold]Dr. Okafor[/bold].") == ["My dentist is [bold]Dr. Okafor[/bold]."]
    assert split_sentences("[b]Dr. Okafor[/b] is my GP. He is kind.") == ["[b]Dr. Okafor[/b] is my GP.", "He is kind."]
    assert "okafor" in tokenize("My dentist is [bold]Dr. Okafor[/bold].")


@pytest.mark.parametrize("text,expected", [
    ("Where is Mary?", True),
    ("where is john", True),                     # no question mark, question word
    ("is john in the kitchen", True),            # auxiliary first
    ("Mary is in the kitchen?", True),           # declarative word order, but a '?'
    ("I wonder where John is.", False),          # a question word inside a statement
    ("What a day.", False),                      # an exclamation
    ("Is it raining!", False),
    ("Mary is in the kitchen.", False),
    ("How many objects is Mary carrying", True),
    ("Whoever took the apple left.", False),
    ("Did Sandra drop the milk", True),
])
def test_statement_or_question(text, expected):
    assert is_question(text) is expected


def test_empty_and_whitespace_refused():
    for text in ["", "   ", "\n\t", "\x00\x01"]:
        with pytest.raises(InputError, match="empty"):
            parse(text)


def test_huge_line_refused_with_the_limit():
    with pytest.raises(InputError, match=f"{MAX_UTTERANCE_CHARS:,}"):
        parse("a" * 1_000_000)


def test_control_and_bidi_characters_are_stripped():
    assert clean("Mary\x00 went\x1b to the\u202e kitchen.") == "Mary went to the kitchen."
    u = make_utterance("Mary\x07 went home.")
    assert u.text == "Mary went home." and u.tokens == ("mary", "went", "home")


def test_punctuation_only_is_refused():
    with pytest.raises(InputError):
        parse("?!...")


def test_injected_encoder(hash_encoder):
    from chatmem.input import encode

    utts = encode(parse("Mary went to the kitchen. Mary went to the kitchen."), hash_encoder)
    assert utts[0].embedding.shape == (384,)
    assert np.allclose(utts[0].embedding, utts[1].embedding)


@pytest.mark.slow
def test_real_model_related_pair_scores_higher(real_encoder):
    v = real_encoder.encode(["Mary went to the kitchen.", "Mary walked into the kitchen.",
                             "The stock market fell sharply today."])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
