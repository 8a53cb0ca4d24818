"""The Textual app: pilot tests and snapshots."""

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from chatmem import checkpoint
from chatmem.app import DataTable, make_app
from chatmem.input import encode, parse
from chatmem.paths import assets_dir

pytestmark = pytest.mark.skipif(not (assets_dir() / checkpoint.WEIGHTS).exists(), reason="no trained model in assets/")


@pytest.fixture(scope="module")
def loaded_model(real_encoder):
    from chatmem.bot import Bot
    from chatmem.memory import EphemeralMemory

    return Bot(EphemeralMemory(), encoder=real_encoder).load()


def factory(proto, gate: threading.Event | None = None):
    from chatmem.bot import Bot

    def make(memory):
        if gate is not None:
            gate.wait(30)
        bot = Bot(memory, encoder=proto.encoder)
        bot._loaded = proto._loaded
        return bot
    return make


async def wait_ready(app, pilot, turns=200):
    for _ in range(turns):
        await pilot.pause(0.05)
        if app.ready and not app.busy and not app.queue:
            return
    raise AssertionError("the app never became ready")


async def type_line(pilot, text):
    await pilot.click("#prompt")
    for ch in text:
        await pilot.press(ch if ch != " " else "space")
    await pilot.press("enter")


def messages(app):
    return [str(w.render()) for w in app.query(".msg")]


def marks(app):
    from chatmem.app import DataTable

    table = app.query_one("#memories", DataTable)
    return {int(str(table.get_cell(k, "id"))): str(table.get_cell(k, "mark")) for k in table.rows}


async def test_statements_question_answer_and_highlight(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_ready(app, pilot)
        app.submit_text("Mary went to the kitchen.")
        app.submit_text("John went to the garden.")
        app.submit_text("Where is Mary?")
        await wait_ready(app, pilot)
        text = "\n".join(messages(app))
        assert "Stored as memory #1." in text and "Stored as memory #2." in text
        assert "kitchen\n▶1 #1 Mary went to the kitchen." in text
        assert marks(app) == {1: "▶1", 2: ""}
        assert app.query_one("#status").render().plain.startswith("ready · 2 memories")


async def test_typing_into_the_input(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_ready(app, pilot)
        await type_line(pilot, "Sandra went to the office.")
        await wait_ready(app, pilot)
        await type_line(pilot, "Where is Sandra?")
        await wait_ready(app, pilot)
        assert "office\n▶1 #1 Sandra went to the office." in "\n".join(messages(app))


async def test_memory_and_conversation_survive_a_restart(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        app.submit_text("Daniel travelled to the hallway.")
        await wait_ready(app, pilot)
    app2 = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app2.run_test() as pilot:
        await wait_ready(app2, pilot)
        assert "Daniel travelled to the hallway." in "\n".join(messages(app2))   # yesterday's conversation
        assert marks(app2) == {1: ""}
        app2.submit_text("Where is Daniel?")
        await wait_ready(app2, pilot)
        assert marks(app2) == {1: "▶1"}
        assert "hallway\n▶1 #1 Daniel travelled to the hallway." in "\n".join(messages(app2))


async def test_input_while_loading_is_queued_then_answered(tmp_path, loaded_model):
    gate = threading.Event()
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model, gate))
    async with app.run_test() as pilot:
        await pilot.pause(0.1)
        assert not app.ready
        assert "loading the model" in app.query_one("#status").render().plain
        app.submit_text("Mary went to the kitchen.")
        app.submit_text("Where is Mary?")
        await pilot.pause(0.1)
        assert "queued" in "\n".join(messages(app))
        gate.set()
        await wait_ready(app, pilot)
        text = "\n".join(messages(app))
        assert "Stored as memory #1." in text and "kitchen\n▶1 #1 Mary went to the kitchen." in text


async def test_forget_clear_and_bad_commands(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        app.submit_text("Mary went to the kitchen. John went to the garden. Sandra went to the office.")
        await wait_ready(app, pilot)
        app.command("/forget 2")
        await pilot.pause()
        assert sorted(marks(app)) == [1, 3]
        app.command("/forget 99")
        app.command("/forget")
        app.command("/forget ²")
        app.command("/forget 99999999999999999999")
        app.command("/frobnicate")
        await pilot.pause()
        text = "\n".join(messages(app))
        assert "There is no memory #99." in text and "Unknown command /frobnicate" in text
        assert text.count("Usage: /forget ID") == 3
        app.command("/clear")
        await pilot.pause()
        await pilot.click("#no")
        await pilot.pause()
        assert len(app.memory) == 2
        app.command("/clear")
        await pilot.pause()
        await pilot.press("enter")                  # a stray Enter cancels: Cancel has the focus
        await pilot.pause()
        assert len(app.memory) == 2
        app.command("/clear")
        await pilot.pause()
        await pilot.click("#yes")
        await pilot.pause()
        assert len(app.memory) == 0 and marks(app) == {}


async def test_fast_typing_is_handled_once(tmp_path, loaded_model):
    """Enter presses that arrive after the next line's characters must not store a line twice."""
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        from textual.widgets import Input

        prompt = app.query_one("#prompt", Input)
        prompt.value = "Bill went to the park."
        for _ in range(3):                          # what a burst of keys (a paste, tmux send-keys) delivers
            prompt.post_message(Input.Submitted(prompt, prompt.value))
        await wait_ready(app, pilot)
        assert len(app.memory) == 1


async def test_replay_plays_line_by_line_and_checks_answers(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        from conftest import ROOT

        app.command(f"/replay {ROOT / 'assets/dialogs/moving.chat'}")
        for _ in range(100):
            await wait_ready(app, pilot)
            if not app.script:
                break
        text = "\n".join(messages(app))
        assert text.count("✓ expected") == 5 and "✗" not in text
        first_answer = text.index("kitchen\n✓ expected kitchen")
        assert text.index("Where is Mary?") < first_answer < text.index("Mary moved to the bedroom.")


async def test_why_and_export(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        app.command("/why")
        app.submit_text("Mary went to the kitchen. Where is Mary?")
        await wait_ready(app, pilot)
        app.command("/why")
        app.command(f"/export {tmp_path / 'out.jsonl'}")
        await pilot.pause()
        text = "\n".join(messages(app))
        assert "Ask a question first" in text
        assert "hop 1:" in text and "#1 Mary went to the kitchen." in text and "STOP" in text
        assert (tmp_path / "out.jsonl").exists()


SNAP_HOME = Path("/tmp/chatmem-snapshot-home")


def _snap_app(loaded_model):
    shutil.rmtree(SNAP_HOME, ignore_errors=True)
    return make_app(data_dir=SNAP_HOME, bot_factory=factory(loaded_model))


def test_snapshot_main_screen_with_highlighted_support(snap_compare, loaded_model):
    app = _snap_app(loaded_model)

    async def run_before(pilot):
        await wait_ready(app, pilot)
        app.query_one("Input").cursor_blink = False      # a blinking cursor made the picture depend on timing
        app.submit_text("Mary went to the kitchen. John picked up the football. John went to the garden.")
        app.submit_text("Where is the football?")
        await wait_ready(app, pilot)
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=(110, 30))


def test_snapshot_help_screen(snap_compare, loaded_model):
    app = _snap_app(loaded_model)

    async def run_before(pilot):
        await wait_ready(app, pilot)
        app.query_one("Input").cursor_blink = False
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=(110, 30))


async def test_markup_in_memories_answers_and_path_is_shown_as_text(tmp_path, loaded_model):
    from chatmem.memory import SQLiteMemory

    d = tmp_path / "we[/]ird [b]dir"
    m = SQLiteMemory(d)
    for line in ("Mary went to the [/] kitchen.", "[@click=app.quit]park[/] is where John went."):
        m.write(encode(parse(line), loaded_model.encoder), "s")
    m.log_turn("user", "[link=file:///etc/passwd]x[/link] [/]", "s")
    with sqlite3.connect(d / "memory.sqlite3") as raw:        # another client wrote an escape sequence
        raw.execute("UPDATE memories SET session = 'x', text = text || ?  WHERE id = 1", ("\x1b]0;owned\x07",))
    m.close()
    app = make_app(data_dir=d, bot_factory=factory(loaded_model))
    async with app.run_test(size=(160, 36)) as pilot:
        await wait_ready(app, pilot)
        app.submit_text("Where is Mary?")
        await wait_ready(app, pilot)
        text = "\n".join(messages(app))
        assert "[link=file:///etc/passwd]x[/link] [/]" in text
        assert "Mary went to the [/] kitchen.\\x1b]0;owned\\x07" in text and "\x1b" not in text
        assert "[/]ird [b]dir" in app.query_one("#status").render().plain
        table = app.query_one("#memories", DataTable)
        cells = [table.get_cell(k, "text") for k in table.rows]
        assert [c.plain for c in cells] == ["Mary went to the [/] kitchen.\\x1b]0;owned\\x07",
                                            "[@click=app.quit]park[/] is where John went."]
        assert all(not span.style or "@click" not in str(span.style) for c in cells for span in c.spans)
        await pilot.click("#memories")
        await pilot.pause()
        assert app.is_running


async def test_a_forgotten_memory_leaves_the_screen_and_the_log(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        app.submit_text("Mary went to the kitchen. Bob's PIN is 4711.")
        app.submit_text("Where is Mary?")
        await wait_ready(app, pilot)
        app.command("/forget 2")
        await pilot.pause()
        text = "\n".join(messages(app))
        assert "4711" not in text and "Forgot memory #2." in text and "Where is Mary?" in text
    app2 = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app2.run_test() as pilot:
        await wait_ready(app2, pilot)
        text = "\n".join(messages(app2))
        assert "4711" not in text and "Where is Mary?" in text
