"""LoCoMo: the reader, the authors' scoring rules (hand-computed values) and a tiny end-to-end run."""

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from chatmem.locomo import (LocomoFormatError, Question, best_span, f1_multi, f1_score, load, normalize_answer,
                            parse_session_time, score_answer)
from tests.conftest import ROOT, run_cli

FIXTURE = Path(__file__).parent / "fixtures" / "locomo_tiny.json"


def test_loader_turns_times_captions_and_evidence():
    [conv] = load(FIXTURE)
    assert conv.sample_id == "tiny-1" and conv.speakers == ("Odile", "Ferran")
    assert [t.dia_id for t in conv.turns] == ["D1:1", "D1:2", "D1:3", "D1:4", "D2:1", "D2:2", "D2:3"]
    assert conv.turns[2].memory_text == ("Odile: I went to a rock climbing gym yesterday with my sister. "
                                         "[shares a photo of a woman climbing an indoor wall]")
    assert conv.turns[0].memory_text == "Ferran: Hi Ferran! How was your week?".replace("Ferran: ", "Odile: ")
    assert conv.turns[0].created == dt.datetime(2023, 5, 8, 13, 56, tzinfo=dt.timezone.utc).timestamp()
    assert conv.turns[4].created == dt.datetime(2023, 6, 20, 10, 4, tzinfo=dt.timezone.utc).timestamp()
    ev = [q.evidence for q in conv.questions]
    assert ev[1] == ("D2:1",)                    # 'D:2:1' mended
    assert ev[2] == ("D1:3", "D2:3")             # 'D1:3; D2:3' split
    assert ev[3] == ("D1:3",) and "D9:9" in conv.dropped_evidence   # no such turn
    assert ev[6] == ()                           # 'D' names nothing
    assert conv.questions[5].answer is None and conv.questions[5].category == 5


@pytest.mark.parametrize("text", ["not json", "{}", "[1, 2]", '[{"conversation": {"session_1": "x", '
                                                             '"session_1_date_time": "1:56 pm on 8 May, 2023"}}]',
                                  '[{"conversation": {"session_1": [], "session_1_date_time": "yesterday"}}]'])
def test_malformed_files_are_one_line_errors(tmp_path, text):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(LocomoFormatError):
        load(p)


def test_session_time_formats():
    assert parse_session_time("10:04 am on 20 June, 2023") == dt.datetime(2023, 6, 20, 10, 4, tzinfo=dt.timezone.utc).timestamp()
    with pytest.raises(LocomoFormatError):
        parse_session_time("8 May")


def test_normalisation_and_token_f1_by_hand():
    assert normalize_answer("The cat, and a Dog!") == "cat dog"
    assert f1_score("7 May 2023", "7 May, 2023") == 1.0
    # [run, shoe] against [run]: precision 1/2, recall 1 -> 2/3 (Porter: running -> run, shoes -> shoe)
    assert f1_score("the running shoes", "running") == pytest.approx(2 / 3)
    assert f1_score("kitchen", "garden") == 0.0
    assert f1_score("", "garden") == 0.0


def test_category_rules_by_hand():
    # category 1: each gold part takes its best match among the prediction's parts: (1 + 0) / 2
    assert f1_multi("hiking, painting", "painting, swimming") == pytest.approx(0.5)
    q1 = Question("?", "painting, swimming", ("D1:1",), 1)
    assert score_answer(q1, "hiking, painting", False) == pytest.approx(0.5)
    # category 3: the part before ';' only. [no] against [like, no]: p 1, r 1/2 -> 2/3
    q3 = Question("?", "Likely no; because she said so", ("D1:1",), 3)
    assert score_answer(q3, "no", False) == pytest.approx(2 / 3)
    q4 = Question("?", "Pistache", ("D1:1",), 4)
    assert score_answer(q4, "Pistache", False) == 1.0
    assert score_answer(q4, "Pistache", True) == 0.0          # declining a real question scores nothing
    q5 = Question("?", None, ("D1:1",), 5)
    assert score_answer(q5, "", True) == 1.0 and score_answer(q5, "Pistache", False) == 0.0


def test_best_span_upper_bound():
    q = Question("?", "pottery classes", ("D1:2",), 4)
    f1, span = best_span(["Ferran: Busy! I started pottery classes at the community centre."], q)
    assert f1 == 1.0 and span == "pottery classes"
    ten = "one two three four five six seven eight nine ten"
    f1, _ = best_span([ten], Question("?", ten, ("D1:2",), 4))   # spans of at most 8: p 1, r 8/10
    assert f1 == pytest.approx(2 * 0.8 / 1.8)


def test_r_learns_from_locomo_with_the_best_span_of_a_cited_evidence_turn(hash_encoder):
    """R's LoCoMo examples (chatmem.span_train.locomo_examples): a span of an evidence turn O cited that scores at
    least the least F1, its final mark left out; "no answer" for the adversarial category; no example where the
    cited evidence does not say the answer in words."""
    from types import SimpleNamespace

    from chatmem.checkpoint import load as load_model
    from chatmem.paths import assets_dir
    from chatmem.span_train import _best_evidence_span, locomo_examples

    turn = SimpleNamespace(text="Ferran: Busy! I started pottery classes at the community centre.")
    q = Question("What did Ferran start?", "pottery classes", ("D1:2",), 4)
    k, a, b = _best_evidence_span([SimpleNamespace(text="Odile: Hi!"), turn], [1], q, 0.7)
    assert k == 1 and turn.text[a:b] == "pottery classes"
    assert _best_evidence_span([turn], [0], Question("?", "community centre.", ("D1:2",), 4), 0.7)[1:] == \
        (turn.text.index("community"), len(turn.text) - 1)
    assert _best_evidence_span([turn], [0], Question("?", "a violin", ("D1:2",), 4), 0.7) is None
    assert _best_evidence_span([turn], [], q, 0.7) is None          # O cited no evidence turn

    [conv] = load(FIXTURE)
    exs = locomo_examples(load_model(assets_dir()), FIXTURE, hash_encoder, 0.7)
    by_q = {e.question: e for e in exs}
    asked = {q.question: q for q in conv.questions}
    assert set(by_q) <= set(asked)
    assert any(e.target is None for e in exs) and any(e.target is not None for e in exs)
    for e in exs:
        if asked[e.question].category == 5:
            assert e.target is None
        else:
            k, a, b = e.target
            assert score_answer(asked[e.question], e.supports[k][a:b], False) >= 0.7


def test_tiny_end_to_end(hash_encoder):
    from chatmem.bot import Bot
    from chatmem.locomo_eval import evaluate_conversation, format_table, row_json, summarize
    from chatmem.memory import EphemeralMemory

    [conv] = load(FIXTURE)
    bots = []

    def factory():
        bots.append(Bot(EphemeralMemory(), encoder=hash_encoder))
        return bots[-1]

    rows = evaluate_conversation(conv, factory, hash_encoder.encode)
    assert len(rows) == 7
    mem = bots[0].memory
    assert len(mem) == 7 and mem.memory_at(0).text.startswith("Odile: Hi Ferran")
    assert mem.memory_at(4).created == conv.turns[4].created       # written at the session's time, not now
    r = rows[1]                                                     # Odile's cat, evidence D2:1
    assert set(r.ranks) == {"chatmem", "bm25", "minilm"} and all(len(v) == 1 for v in r.ranks.values())
    assert r.ranks["bm25"][0] == 1                                  # 'name', 'odile', 'cat' all in that turn
    assert r.candidates == 7 and r.in_candidates == [True]
    assert all(c in {t.dia_id for t in conv.turns} for row in rows for c in row.cited)
    s = summarize(rows)
    assert s["questions"] == 7 and s["retrieval_questions"] == 5
    assert set(s["categories"]) == {"1", "2", "3", "4", "5", "1-4"}
    assert 0.0 <= s["retrieval"]["bm25"]["recall@1"] <= s["retrieval"]["bm25"]["recall@5"] <= 1.0
    assert "BM25 (bm25s)" in format_table(s)
    json.dumps(row_json(rows[0]))


def test_cli_bad_locomo_file_is_a_one_line_error(tmp_path):
    p = tmp_path / "x.json"
    p.write_bytes(b"\x00\xff binary")
    r = run_cli("eval", "--locomo", str(p), env={"CHATMEM_HOME": str(tmp_path / "h")})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "LoCoMo" in r.stderr and "Traceback" not in r.stderr
