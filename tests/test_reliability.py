"""Acknowledged memories survive SIGKILL; concurrent writers are safe; hostile input never corrupts memory."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, HashEncoder

from chatmem.input import InputError, encode, parse
from chatmem.memory import DB_NAME, SQLiteMemory

WRITER = """
import sys
sys.path.insert(0, "tests")
from conftest import HashEncoder
from chatmem.input import encode, parse
from chatmem.memory import SQLiteMemory
m = SQLiteMemory(sys.argv[1])
enc = HashEncoder()
tag = sys.argv[2]
for i in range(int(sys.argv[3])):
    text = f"{tag} statement number {i} went to the kitchen."
    mem = m.write(encode(parse(text), enc), tag)[0]
    print(mem.id, text, flush=True)       # the acknowledgement, after the commit
"""


def _writer(home, tag, count):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(home), tag, str(count)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)


def _rows(home):
    con = sqlite3.connect(home / DB_NAME)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = con.execute("SELECT id, text FROM memories ORDER BY id").fetchall()
    con.close()
    return rows


def test_sigkill_never_loses_an_acknowledged_memory(tmp_path):
    home = tmp_path / "home"
    rng = random.Random(7)
    acked: list[tuple[int, str]] = []
    for kill in range(20):
        p = _writer(home, f"w{kill}", 100_000)
        first = p.stdout.readline()                   # wait until it is writing, then kill at a random moment
        time.sleep(rng.random() * 0.3)
        p.send_signal(signal.SIGKILL)
        out, _ = p.communicate()
        for line in (first + out).splitlines(keepends=True):
            if not line.endswith("\n"):              # cut off by the kill: not an acknowledgement
                continue
            mid, text = line.rstrip("\n").split(" ", 1)
            acked.append((int(mid), text))
        rows = _rows(home)
        stored = dict(rows)
        for mid, text in acked:
            assert stored.get(mid) == text, f"acknowledged memory {mid} lost after kill {kill}"
        assert all(t.endswith("went to the kitchen.") for _, t in rows)     # nothing half-written
        SQLiteMemory(home).close()                                          # opens normally
    assert len(acked) > 100


def test_concurrent_writers(tmp_path):
    home = tmp_path / "home"
    SQLiteMemory(home).close()
    procs = [_writer(home, f"p{k}", 150) for k in range(3)]
    reader = SQLiteMemory(home)
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    rows = _rows(home)
    assert len(rows) == 450 and len({r[0] for r in rows}) == 450
    for k, out in enumerate(outs):                    # each writer's own order is kept
        ids = [int(l.split(" ", 1)[0]) for l in out.splitlines()]
        assert ids == sorted(ids) and len(ids) == 150
    assert reader.refresh() and len(reader) == 450    # a reader sees the others' writes without restarting
    created = [m.created for m in reader.all()]
    assert created == sorted(created)                 # write times follow id order across processes


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=3000))
def test_any_text_is_stored_or_refused_cleanly(tmp_path_factory, text):
    home = tmp_path_factory.mktemp("h")
    m = SQLiteMemory(home)
    try:
        utts = parse(text)
    except InputError:
        assert len(m) == 0
        return
    stored = m.write(encode([u for u in utts], HashEncoder()), "fuzz")
    again = SQLiteMemory(home)
    assert [x.text for x in again.all()] == [u.text for u in utts] == [x.text for x in stored]
    for u in utts:
        assert "\x00" not in u.text and len(u.text) <= 2000


@pytest.mark.parametrize("text", ["Robert'); DROP TABLE memories;--", "'; DELETE FROM meta; --",
                                  "\u202eevil\u202c", "😀 went to the 🏠.", "מרי הלכה למטבח.", "a\x00b went home."])
def test_hostile_strings(tmp_path, text):
    m = SQLiteMemory(tmp_path)
    m.write(encode(parse(text), HashEncoder()), "s")
    rows = _rows(tmp_path)
    assert len(rows) >= 1
    assert SQLiteMemory(tmp_path).ids.tolist() == [r[0] for r in rows]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=20))
def test_script_parser_never_crashes(lines):
    from chatmem import ChatmemError
    from chatmem.replay import parse_script

    try:
        parse_script(lines, "fuzz.chat")
    except ChatmemError as exc:
        assert "fuzz.chat" in str(exc)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=80),
                          st.builds(lambda i, t, a, s: f"{i} {t}\t{a}\t{s}", st.integers(-3, 30), st.text(max_size=30),
                                    st.text(max_size=10), st.text(max_size=10)),
                          st.builds(lambda i, t: f"{i} {t}", st.integers(0, 30), st.text(max_size=30))), max_size=30))
def test_babi_parser_never_crashes(lines):
    from chatmem.babi import BabiFormatError, parse_lines

    try:
        samples = parse_lines(lines, "fuzz.txt")
    except BabiFormatError as exc:
        assert str(exc).startswith("fuzz.txt")
        return
    for s in samples:
        assert all(0 <= i < len(s.story) for i in s.support)
