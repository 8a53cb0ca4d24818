"""The command line: memory operations and clear one-line errors."""

import json

import pytest

from conftest import HashEncoder, run_cli

from chatmem.input import encode, parse
from chatmem.memory import SQLiteMemory


def seed(home, text="Mary went to the kitchen. John went to the garden."):
    m = SQLiteMemory(home)
    m.write(encode(parse(text), HashEncoder()), "seed")
    m.close()


def one_line_error(r, needle):
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("chatmem: error:") and r.stderr.count("\n") == 1, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_help_lists_the_commands():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("memory", "train", "eval", "replay", "--data-dir"):
        assert cmd in r.stdout


def test_memory_path_honours_data_dir_and_env(tmp_path):
    assert run_cli("--data-dir", str(tmp_path / "a"), "memory", "path").stdout.strip() == str(tmp_path / "a" / "memory.sqlite3")
    r = run_cli("memory", "path", env={"CHATMEM_HOME": str(tmp_path / "b")})
    assert r.stdout.strip() == str(tmp_path / "b" / "memory.sqlite3")


def test_list_forget_clear(tmp_path):
    seed(tmp_path)
    rows = [json.loads(l) for l in run_cli("--data-dir", str(tmp_path), "memory", "list", "--json").stdout.splitlines()]
    assert [(r["id"], r["text"]) for r in rows] == [(1, "Mary went to the kitchen."), (2, "John went to the garden.")]
    assert set(rows[0]) == {"id", "text", "created", "session", "superseded_by"}   # issue 15: the link
    assert run_cli("--data-dir", str(tmp_path), "memory", "forget", "1").returncode == 0
    one_line_error(run_cli("--data-dir", str(tmp_path), "memory", "forget", "1"), "no memory with id 1")
    one_line_error(run_cli("--data-dir", str(tmp_path), "memory", "clear"), "--yes")
    assert len(SQLiteMemory(tmp_path)) == 1
    assert run_cli("--data-dir", str(tmp_path), "memory", "clear", "--yes").returncode == 0
    assert len(SQLiteMemory(tmp_path)) == 0


def test_export_then_import_recomputes_embeddings(tmp_path):
    seed(tmp_path / "a")
    out = tmp_path / "mem.jsonl"
    assert run_cli("--data-dir", str(tmp_path / "a"), "memory", "export", str(out)).returncode == 0
    r = run_cli("--data-dir", str(tmp_path / "b"), "memory", "import", str(out))
    assert r.returncode == 0, r.stderr
    b = SQLiteMemory(tmp_path / "b")
    assert [m.text for m in b.all()] == ["Mary went to the kitchen.", "John went to the garden."]
    assert abs(float(b.embeddings[0] @ b.embeddings[0]) - 1.0) < 1e-4      # real MiniLM vectors, normalised


def test_import_of_a_bad_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    one_line_error(run_cli("--data-dir", str(tmp_path), "memory", "import", str(bad)), "bad.jsonl:2")
    one_line_error(run_cli("--data-dir", str(tmp_path), "memory", "import", str(tmp_path / "nope.jsonl")), "cannot read")


def test_corrupt_memory_is_named_then_recovered(tmp_path):
    (tmp_path / "memory.sqlite3").write_bytes(b"garbage" * 1000)
    r = run_cli("--data-dir", str(tmp_path), "memory", "list")
    one_line_error(r, str(tmp_path / "memory.sqlite3"))
    assert (tmp_path / "memory.sqlite3").read_bytes() == b"garbage" * 1000
    r = run_cli("--data-dir", str(tmp_path), "memory", "recover")
    assert r.returncode == 0 and "moved the damaged file" in r.stdout
    assert run_cli("--data-dir", str(tmp_path), "memory", "list").returncode == 0


def test_eval_without_data_is_a_clear_error(tmp_path):
    one_line_error(run_cli("eval", "--babi-dir", str(tmp_path / "none")), "does not exist")
    one_line_error(run_cli("eval", "--babi-dir", str(tmp_path), "--tasks", "0-30"), "tasks are numbered 1 to 20")


def test_train_stops_before_it_starts_is_a_clear_error(tmp_path):
    one_line_error(run_cli("train", "--stage", "span", "--last", "babi", "--out", str(tmp_path / "m")), "comes before")
    one_line_error(run_cli("train", "--stage", "span", "--warm-from", str(tmp_path), "--out", str(tmp_path / "m")),
                   "need --stage babi")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("argv", [
    ["memory", "forget", "99999999999999999999"],
    ["memory", "export", "/nonexistent-dir/x.jsonl"],
    ["memory", "recover"],                                   # a healthy file is left alone
])
def test_cli_errors_are_one_line(argv, tmp_path):
    assert run_cli("--data-dir", str(tmp_path), "memory", "list").returncode == 0
    one_line_error(run_cli("--data-dir", str(tmp_path), *argv), "")


def test_data_dir_that_is_a_file_is_one_line(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    one_line_error(run_cli("--data-dir", str(f), "memory", "list"), str(f))


def test_data_dir_also_after_the_command(tmp_path):
    r = run_cli("memory", "path", "--data-dir", str(tmp_path / "x"))
    assert r.returncode == 0 and r.stdout.strip() == str(tmp_path / "x" / "memory.sqlite3")


def test_importing_the_same_export_twice_skips_what_is_there(tmp_path):
    seed(tmp_path / "a")
    out = tmp_path / "mem.jsonl"
    assert run_cli("--data-dir", str(tmp_path / "a"), "memory", "export", str(out)).returncode == 0
    first = run_cli("--data-dir", str(tmp_path / "b"), "memory", "import", str(out))
    assert first.returncode == 0 and first.stdout.strip() == f"imported 2 memories from {out}"
    again = run_cli("--data-dir", str(tmp_path / "b"), "memory", "import", str(out))
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == (f"imported 0 memories from {out}; skipped 2 already in memory "
                                    f"(same text and write time)")
    # the same text written at another time is another memory
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    rows[-1]["created"] = "2020-01-01T00:00:00+00:00"
    out.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    third = run_cli("--data-dir", str(tmp_path / "b"), "memory", "import", str(out))
    assert "imported 1 memory from" in third.stdout and "skipped 1" in third.stdout
    assert [m.text for m in SQLiteMemory(tmp_path / "b").all()] == ["Mary went to the kitchen.",
                                                                     "John went to the garden.",
                                                                     "John went to the garden."]
