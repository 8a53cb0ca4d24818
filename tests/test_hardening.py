"""Probes from the hardening issue (#14): each one failed before its fix. Real files under tmp_path, no mocks."""

import json
import os
import sqlite3
import stat
import threading

import numpy as np
import pytest

from chatmem import ChatmemError, checkpoint
from chatmem.input import encode, parse
from chatmem.paths import assets_dir
from chatmem.memory import DB_NAME, SNAPSHOT_NAME, SQLiteMemory, StoreError, recover
from conftest import HashEncoder


def _store(path, enc, text="Mary went to the kitchen. My PIN is 4711."):
    m = SQLiteMemory(path)
    m.write(encode(parse(text), enc), "s")
    return m


# -- 1. export ---------------------------------------------------------------------------------------------

def test_export_ignores_a_planted_temp_symlink(tmp_path, hash_encoder):
    m = _store(tmp_path / "home", hash_encoder)
    shared = tmp_path / "shared"
    shared.mkdir()
    stolen = tmp_path / "attacker-owned"
    stolen.write_text("")
    (shared / "mem.jsonl.tmp").symlink_to(stolen)        # the old fixed temp name
    assert m.export_jsonl(shared / "mem.jsonl") == 2
    assert stolen.read_text() == ""
    assert stat.S_IMODE(os.stat(shared / "mem.jsonl").st_mode) == 0o600
    assert sorted(p.name for p in shared.iterdir()) == ["mem.jsonl", "mem.jsonl.tmp"]


@pytest.mark.parametrize("name", [DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", SNAPSHOT_NAME])
def test_export_refuses_the_stores_own_files(tmp_path, hash_encoder, name):
    m = _store(tmp_path, hash_encoder)
    m.log_turn("user", "hello", "s")
    with pytest.raises(StoreError, match="own files"):
        m.export_jsonl(tmp_path / name)
    with pytest.raises(StoreError, match="own files"):
        m.export_jsonl(tmp_path / "." / ".." / tmp_path.name / name)
    m.close()
    m = SQLiteMemory(tmp_path)
    assert len(m) == 2 and m.recent_turns()[0]["text"] == "hello"


def test_export_refuses_to_replace_a_symlink(tmp_path, hash_encoder):
    m = _store(tmp_path / "home", hash_encoder)
    target = tmp_path / "target"
    target.write_text("keep")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(StoreError, match="symbolic link"):
        m.export_jsonl(tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and target.read_text() == "keep"


def test_export_writes_into_a_fifo_without_replacing_it(tmp_path, hash_encoder):
    m = _store(tmp_path / "home", hash_encoder)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    assert m.export_jsonl(fifo) == 2
    reader.join(30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    lines = got[0].splitlines()
    assert json.loads(lines[0])["count"] == 2 and json.loads(lines[2])["text"] == "My PIN is 4711."


def test_export_writes_into_a_character_device_without_replacing_it(tmp_path, hash_encoder):
    m = _store(tmp_path / "home", hash_encoder)
    dev = tmp_path / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))     # a second /dev/null (needs root)
    except PermissionError:
        pytest.skip("creating a device node needs root")
    assert m.export_jsonl(dev) == 2
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert m.export_jsonl("/dev/null") == 2 and stat.S_ISCHR(os.lstat("/dev/null").st_mode)


# -- 2. control characters never reach the terminal ---------------------------------------------------------

def test_memory_list_escapes_control_characters_from_other_clients(tmp_path, hash_encoder):
    from conftest import run_cli

    _store(tmp_path, hash_encoder).close()
    with sqlite3.connect(tmp_path / DB_NAME) as raw:
        raw.execute("UPDATE memories SET text = ? WHERE id = 1", ("a\x1b]52;c;aGk=\x07b\x9bc",))
    r = run_cli("--data-dir", str(tmp_path), "memory", "list")
    assert r.returncode == 0, r.stderr
    assert "a\\x1b]52;c;aGk=\\x07b\\x9bc" in r.stdout
    assert not any(c in r.stdout for c in "\x1b\x07\x9b")
    r = run_cli("--data-dir", str(tmp_path), "memory", "list", "--json")     # json.dumps leaves C1 (\x9b: CSI) raw
    assert json.loads(r.stdout.splitlines()[0])["text"] == "a\x1b]52;c;aGk=\x07b\x9bc"
    assert not any(c in r.stdout for c in "\x1b\x07\x9b")


@pytest.mark.skipif(not (assets_dir() / checkpoint.WEIGHTS).exists(), reason="no trained model in assets/")
def test_replay_escapes_an_expected_answer(tmp_path):
    from conftest import run_cli

    f = tmp_path / "esc.chat"
    f.write_text("Mary went to the kitchen.\nWhere is Mary? => gar\x1b]0;owned\x07den\n")
    r = run_cli("--data-dir", str(tmp_path), "replay", "--fresh", str(f))
    assert r.returncode == 0, r.stderr
    assert "expected gar\\x1b]0;owned\\x07den" in r.stdout and "\x1b" not in r.stdout + r.stderr


# -- 4. forget and clear leave no text behind --------------------------------------------------------------

def _grep_dir(d, needle: bytes) -> list[str]:
    return [str(p) for p in d.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.parametrize("how", ["forget", "clear"])
def test_forgotten_text_leaves_the_log_and_every_file(tmp_path, hash_encoder, how):
    m = _store(tmp_path, hash_encoder)
    m.snapshot_min = 1
    m.log_turn("user", "Mary went to the kitchen.  My   PIN is 4711.", "s")        # as typed
    m.log_turn("bot", "Stored as memory #2.", "s")
    m.log_turn("bot", "4711\n▶1 #2 My PIN is 4711.  (just now)", "s")
    m.log_turn("user", "Where is Mary?", "s")
    m.close()                                     # writes a snapshot (it holds the words too)
    m = SQLiteMemory(tmp_path)
    assert _grep_dir(tmp_path, b"4711")
    m.forget(2) if how == "forget" else m.clear()
    assert "4711" not in json.dumps(m.recent_turns())
    assert _grep_dir(tmp_path, b"4711") == []     # no copy in the database, its WAL or the snapshot
    m.close()
    assert _grep_dir(tmp_path, b"4711") == []
    left = [t["text"] for t in SQLiteMemory(tmp_path).recent_turns()]
    assert left == (["Stored as memory #2.", "Where is Mary?"] if how == "forget" else [])


def test_the_embedding_cache_is_private_and_follows_the_data_dir(tmp_path, hash_encoder, monkeypatch):
    from chatmem.paths import cache_dir
    from chatmem.util import minilm_cached

    monkeypatch.delenv("CHATMEM_CACHE", raising=False)
    cache = cache_dir(tmp_path / "home")
    assert cache == tmp_path / "home" / "cache"
    minilm_cached(["My PIN is 4711."], hash_encoder, cache)
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    assert [stat.S_IMODE(p.stat().st_mode) for p in cache.iterdir()] == [0o600]


# -- 6. files that are not ours are left exactly as they were -------------------------------------------------

def _digest(d):
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir()) if p.is_file()}


def test_another_applications_sqlite_file_is_not_touched(tmp_path):
    with sqlite3.connect(tmp_path / DB_NAME) as other:
        other.execute("CREATE TABLE notes (body TEXT)")
        other.execute("INSERT INTO notes VALUES ('mine')")
    other.close()
    before = _digest(tmp_path)
    with pytest.raises(StoreError, match="not a chatmem memory"):
        SQLiteMemory(tmp_path)
    assert _digest(tmp_path) == before            # no WAL switch, no tables added, no -wal file left
    with sqlite3.connect(tmp_path / DB_NAME) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    other.close()


def test_a_newer_schema_is_refused_before_anything_is_altered(tmp_path, hash_encoder):
    _store(tmp_path, hash_encoder).close()
    with sqlite3.connect(tmp_path / DB_NAME) as raw:
        raw.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        raw.execute("DROP TABLE turns")            # version 2 has no such table
        raw.execute("DROP TRIGGER memories_deleted")
    raw.close()
    before = _digest(tmp_path)
    with pytest.raises(StoreError, match="schema version 2"):
        SQLiteMemory(tmp_path)
    assert _digest(tmp_path) == before


def test_an_existing_shared_directory_keeps_its_mode(tmp_path, hash_encoder):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    _store(shared, hash_encoder).close()
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o1777        # the sticky bit stays
    assert {stat.S_IMODE(p.stat().st_mode) for p in shared.iterdir()} == {0o600}
    made = tmp_path / "new" / "home"
    _store(made, hash_encoder).close()
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o700


def test_an_empty_data_dir_is_an_error(tmp_path):
    from conftest import run_cli

    r = run_cli("--data-dir", "", "memory", "path", env={"CHATMEM_HOME": str(tmp_path)})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--data-dir is empty" in r.stderr, r.stderr


# -- 3. recover --------------------------------------------------------------------------------------------------

def _big_store(path, n=2000):
    m = SQLiteMemory(path)
    rows = [(f"fact {i:06d} marker", f"fact {i:06d} marker", np.full(384, 0.01 * i, np.float32).tobytes(), 1.7e9 + i, "s")
            for i in range(1, n + 1)]
    with m._conn:
        m._conn.executemany("INSERT INTO memories (text, tokens, embedding, created, session) VALUES (?,?,?,?,?)", rows)
    m.log_turn("user", "fact 000001 marker", "s")
    m.forget(n)                                  # the id sequence is ahead of the last row
    m.close()
    return n


def test_recover_salvages_past_a_bad_page_and_keeps_ids_and_sequence(tmp_path):
    n = _big_store(tmp_path)
    path = tmp_path / DB_NAME
    raw = bytearray(path.read_bytes())
    page = raw.index(b"fact 001000 marker") // 4096 * 4096
    raw[page: page + 4096] = b"\xa5" * 4096       # one leaf page of the memories table destroyed
    path.write_bytes(bytes(raw))
    aside, salvaged, skipped = recover(tmp_path)
    assert n - 1 - 5 <= salvaged < n - 1         # only the rows on that page are lost
    assert aside.exists()
    m = SQLiteMemory(tmp_path)
    ids = m.ids.tolist()
    assert ids[0] == 1 and ids[-1] == n - 1 and 1000 not in ids and 1500 in ids
    assert m.get(1500).text == "fact 001500 marker"            # ids kept with their rows
    assert [t["text"] for t in m.recent_turns()] == ["fact 000001 marker"]
    assert [x.id for x in m.write(encode(parse("New fact."), HashEncoder()), "s")] == [n + 1]   # no id reused


def test_recover_finds_a_nan_embedding_that_the_integrity_check_misses(tmp_path, hash_encoder):
    _store(tmp_path, hash_encoder).close()
    with sqlite3.connect(tmp_path / DB_NAME) as raw:
        raw.execute("UPDATE memories SET embedding = ? WHERE id = 2", (np.full(384, np.nan, np.float32).tobytes(),))
    raw.close()
    aside, salvaged, skipped = recover(tmp_path)          # not "healthy": no --force needed
    assert (salvaged, skipped) == (1, 1)
    assert [x.id for x in SQLiteMemory(tmp_path).all()] == [1]


def test_recover_killed_at_any_moment_leaves_the_old_or_the_new_store(tmp_path):
    import random
    import signal
    import subprocess
    import sys
    import time

    n = _big_store(tmp_path)
    code = "import sys; from chatmem.memory import recover; recover(sys.argv[1], force=True)"
    rng = random.Random(14)
    for _ in range(5):
        p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)])
        time.sleep(rng.uniform(0.3, 2.0))
        p.send_signal(signal.SIGKILL)
        p.wait()
        m = SQLiteMemory(tmp_path)
        assert len(m) == n - 1 and m.ids[-1] == n - 1       # never empty, never partial
        m.close()


def _tiny_disk(tmp_path):
    import subprocess

    d = tmp_path / "tiny"
    d.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(d)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    return d


def test_a_full_disk_at_open_is_not_damage_and_recover_refuses(tmp_path, hash_encoder):
    import subprocess

    d = _tiny_disk(tmp_path)
    try:
        _store(d / "home", hash_encoder).close()        # closed cleanly: no -wal or -shm left
        m = _store(d / "other", hash_encoder)
        with open(d / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        with pytest.raises(StoreError) as err:            # a write on the full disk
            m.write(encode(parse(" ".join(f"word{i}" for i in range(200)) + ".") * 40, hash_encoder), "s")
        assert "disk is full" in str(err.value) and "rollback" not in str(err.value), err.value
        m.close()
        before = _digest(d / "home")[DB_NAME]
        with pytest.raises(StoreError) as err:
            SQLiteMemory(d / "home")
        assert "disk is full" in str(err.value) and "recover" not in str(err.value)
        with pytest.raises(StoreError, match="disk is full"):
            recover(d / "home")
        assert _digest(d / "home")[DB_NAME] == before and not list((d / "home").glob("*damaged*"))
    finally:
        subprocess.run(["umount", "-l", str(d)])


# -- 5. bad values ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("created", ["1e20", "Infinity", "-1e12", "NaN", '"0001-01-01T00:00:00"'])
def test_import_refuses_a_write_time_no_date_can_show(tmp_path, created):
    from chatmem.memory import read_export

    f = tmp_path / "in.jsonl"
    f.write_text('{"text": "Mary went home.", "created": 1700000000}\n{"text": "x", "created": %s}\n' % created)
    with pytest.raises(ChatmemError, match=":2: \"created\" must be a time"):
        read_export(f)


def test_writes_refuse_nan_embeddings_and_bad_times(tmp_path, hash_encoder):
    m = _store(tmp_path, hash_encoder)
    u = encode(parse("John went home."), hash_encoder)
    with pytest.raises(StoreError, match="write time"):
        m.write(u, "s", created=[float("inf")])
    nan = [type(u[0])(u[0].text, u[0].tokens, False, np.full(384, np.nan, np.float32))]
    with pytest.raises(StoreError, match="NaN"):
        m.write(nan, "s")
    assert len(m) == 2 and len(SQLiteMemory(tmp_path)) == 2


def test_list_and_export_survive_bad_rows_from_another_client(tmp_path, hash_encoder):
    from conftest import run_cli

    m = _store(tmp_path, hash_encoder, "A went home. B went home. C went home. D went home. E went home.")
    m.close()
    with sqlite3.connect(tmp_path / DB_NAME) as raw:
        for i, t in ((1, 1e20), (2, float("inf")), (3, -1e12)):
            raw.execute("UPDATE memories SET created = ? WHERE id = ?", (t, i))
        raw.execute("UPDATE memories SET embedding = ? WHERE id = 4", (np.full(384, np.nan, np.float32).tobytes(),))
    raw.close()
    m = SQLiteMemory(tmp_path)
    assert m.damaged == {4} and np.isfinite(m.embeddings).all()        # answers still work
    m.close()
    r = run_cli("--data-dir", str(tmp_path), "memory", "list")
    assert r.returncode == 0, r.stderr
    assert [l.split()[-3] for l in r.stdout.splitlines()] == ["A", "B", "C", "D", "E"]
    assert "3 memories (ids 1, 2, 3) have a write time" in r.stderr and "ids 4) have a damaged embedding" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("--data-dir", str(tmp_path), "memory", "export", str(tmp_path / "out.jsonl"))
    assert r.returncode == 0 and "3 memories (ids 1, 2, 3) have a write time" in r.stderr, r.stderr
    rows = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text().splitlines()[1:]]
    assert [x["created"] is None for x in rows] == [True, True, True, False, False]


# -- 7. smaller ones ----------------------------------------------------------------------------------------------

def test_script_separators():
    from chatmem.replay import parse_script

    with pytest.raises(ChatmemError, match=":1: nothing before '=>'"):
        parse_script([" => x"], "s")
    t = parse_script(["Where is Mary?\t=>\tkitchen"], "s")[0]
    assert [u.text for u in t.utterances] == ["Where is Mary?"] and t.expected == ["kitchen"]
    for odd in ("Where is Mary? -> kitchen", "Where is Mary? = kitchen", "Where is Mary? → kitchen"):
        with pytest.raises(ChatmemError, match="question => answer"):
            parse_script([odd], "s")
    assert parse_script(["x=>y is an arrow."], "s")[0].expected is None


def test_a_numbered_chat_script_is_not_taken_for_babi():
    from chatmem.babi import looks_like_babi

    assert not looks_like_babi(["1 Mary went to the kitchen.", "2 Where is Mary? => kitchen"])
    assert not looks_like_babi(["3 apples are on the table.", "4 pears are too."])
    assert looks_like_babi(["1 Mary went to the kitchen.", "2 Where is Mary?\tkitchen\t1"])


@pytest.mark.parametrize("reader", ["replay", "import"])
def test_huge_lines_and_endless_files_stop_at_the_limit(tmp_path, reader):
    from chatmem.memory import read_export
    from chatmem.replay import read_text

    read = read_text if reader == "replay" else read_export
    with pytest.raises(ChatmemError, match="binary"):
        read("/dev/zero")                         # never ends: the first line is already over the limit
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.write(b"Mary went home.\n")
        for _ in range(20):
            f.write(b"a" * (1 << 20))             # a 20 MB line
    with pytest.raises(ChatmemError, match=":2: line is longer than the limit"):
        read(big)


@pytest.mark.skipif(not (assets_dir() / checkpoint.WEIGHTS).exists(), reason="no trained model in assets/")
@pytest.mark.parametrize("edit", ["sums-as-list", "threshold-as-text", "changed-by-hand", "not-an-object"])
def test_a_bad_config_json_is_one_clear_error(tmp_path, edit):
    import shutil

    d = tmp_path / "model"
    shutil.copytree(assets_dir(), d)
    cfg = json.loads((d / checkpoint.CONFIG).read_text())
    if edit == "sums-as-list":
        cfg["sha256"] = list(cfg["sha256"].values())
    elif edit == "threshold-as-text":
        cfg["confidence_threshold"] = "high"
    elif edit == "changed-by-hand":
        cfg["confidence_threshold"] = -100.0     # answers everything, however unsure
    else:
        cfg = [cfg]
    (d / checkpoint.CONFIG).write_text(json.dumps(cfg))
    with pytest.raises(checkpoint.AssetError, match="config.json is damaged"):
        checkpoint.load(d)


def test_export_to_dev_stdout_redirected_to_a_file(tmp_path, hash_encoder):
    import subprocess
    import sys

    from conftest import ROOT

    _store(tmp_path / "home", hash_encoder).close()
    out = tmp_path / "out.jsonl"
    with open(out, "w") as f:
        r = subprocess.run([sys.executable, "-m", "chatmem", "--data-dir", str(tmp_path / "home"), "memory", "export",
                            "/dev/stdout"], stdout=f, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert r.returncode == 0 and "exported 2 memories" in r.stderr, r.stderr
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [x.get("text") for x in rows] == [None, "Mary went to the kitchen.", "My PIN is 4711."]
