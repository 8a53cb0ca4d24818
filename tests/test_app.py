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


def snapshot(snap_compare, loaded_model, size, steps=None):
    """The app at `size` after `steps(app, pilot)`, against its baseline SVG."""
    app = _snap_app(loaded_model)

    async def run_before(pilot):
        await wait_ready(app, pilot)
        app.query_one("Input").cursor_blink = False      # a blinking cursor made the picture depend on timing
        if steps is not None:
            await steps(app, pilot)
        await pilot.pause(0.3)

    return snap_compare(app, run_before=run_before, terminal_size=size)


async def _football(app, pilot):
    app.submit_text("Mary went to the kitchen. John picked up the football. John went to the garden.")
    app.submit_text("Where is the football?")
    await wait_ready(app, pilot)


def test_snapshot_main_screen_with_highlighted_support(snap_compare, loaded_model):
    assert snapshot(snap_compare, loaded_model, (110, 30), _football)


def test_snapshot_help_screen(snap_compare, loaded_model):
    async def steps(app, pilot):
        await pilot.press("f1")

    assert snapshot(snap_compare, loaded_model, (110, 30), steps)


def test_snapshot_80x24_panel_shown_with_f2(snap_compare, loaded_model):
    async def steps(app, pilot):
        await _football(app, pilot)
        await pilot.press("f2")            # hidden by default below 100 columns

    assert snapshot(snap_compare, loaded_model, (80, 24), steps)


def test_snapshot_60x20_chat_only(snap_compare, loaded_model):
    async def steps(app, pilot):
        for line in ("Hi there!", "Mary went to the kitchen.", "Remind me where Mary is."):
            app.submit_text(line)
            await wait_ready(app, pilot)

    assert snapshot(snap_compare, loaded_model, (60, 20), steps)


def test_snapshot_help_at_80x24(snap_compare, loaded_model):
    async def steps(app, pilot):
        await pilot.press("f1")

    assert snapshot(snap_compare, loaded_model, (80, 24), steps)


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


# -- issue 16: the app as people use it ------------------------------------------------------------------


async def wait_replay(app, pilot):
    for _ in range(100):
        await wait_ready(app, pilot)
        if app.replaying is None:
            return
    raise AssertionError("the replay never finished")


def stored_texts(app):
    return [m.text for m in app.memory.all()]


async def test_chitchat_and_requests_are_not_memories_and_requests_are_answered(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_ready(app, pilot)
        for line in ("Hi there!", "My keys are in the blue bowl.", "Thanks, that's helpful.", "lol ok",
                     "Remind me where my keys are."):
            app.submit_text(line)
        await wait_ready(app, pilot)
        assert stored_texts(app) == ["My keys are in the blue bowl."]
        text = "\n".join(messages(app))
        assert "Hello!" in text and "You're welcome!" in text
        assert "▶1 #1 My keys are in the blue bowl." in text        # the request was answered from memory
        app.submit_text("Where are my keys?")
        await wait_ready(app, pilot)
        assert "#2" not in "\n".join(messages(app))                   # nothing else can be cited


async def test_first_start_welcomes_and_a_restart_does_not(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        assert "Welcome to chatmem" in "\n".join(messages(app)) and "F1" in "\n".join(messages(app))
        app.submit_text("Mary went to the kitchen.")
        await wait_ready(app, pilot)
    app2 = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app2.run_test() as pilot:
        await wait_ready(app2, pilot)
        assert "Welcome to chatmem" not in "\n".join(messages(app2))


async def test_a_multi_line_paste_keeps_every_line(tmp_path, loaded_model):
    from textual import events

    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        box = app.query_one("#prompt")
        box.value = "Note:"
        box.post_message(events.Paste("Mary went to the kitchen.\n\nJohn went to the garden.\nWhere is John?\n"))
        await pilot.pause()
        await wait_ready(app, pilot)
        assert stored_texts(app) == ["Note: Mary went to the kitchen.", "John went to the garden."]
        assert "garden\n▶1 #2 John went to the garden." in "\n".join(messages(app))
        assert box.value == ""


async def test_an_input_over_the_limit_is_split_or_kept_in_the_box(tmp_path, loaded_model):
    from chatmem.input import MAX_UTTERANCE_CHARS

    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        box = app.query_one("#prompt")
        one = "x" * (MAX_UTTERANCE_CHARS + 10)              # one sentence over the limit: kept, to be shortened
        box.value = one
        await pilot.press("enter")
        await pilot.pause()
        assert box.value == one and "still in the input box" in "\n".join(messages(app))
        many = " ".join(f"Person{i} went to the kitchen number {i}." for i in range(60))   # about 2,300 characters
        assert len(many) > MAX_UTTERANCE_CHARS
        box.value = many
        await pilot.press("enter")
        await wait_ready(app, pilot)
        assert box.value == "" and len(app.memory) == 60


async def test_replay_refuses_an_export_and_asks_before_writing_many(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path / "home", bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        app.submit_text("Mary went to the kitchen.")
        await wait_ready(app, pilot)
        app.command(f"/export {tmp_path / 'out.jsonl'}")
        app.command(f"/replay {tmp_path / 'out.jsonl'}")
        await pilot.pause()
        assert "looks like JSON" in "\n".join(messages(app)) and len(app.memory) == 1
        script = tmp_path / "big.chat"
        script.write_text("".join(f"Person{i} went to the garden.\n" for i in range(25)))
        app.command(f"/replay {script}")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ConfirmScreen"
        await pilot.click("#no")
        await pilot.pause()
        assert "Nothing was replayed." in "\n".join(messages(app)) and len(app.memory) == 1


async def test_replay_fresh_leaves_memory_alone_and_sums_up(tmp_path, loaded_model):
    from conftest import ROOT

    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        app.submit_text("Mary went to the garden.")       # a name the script uses too
        await wait_ready(app, pilot)
        app.command(f"/replay --fresh {ROOT / 'assets/dialogs/moving.chat'}")
        await wait_replay(app, pilot)
        text = "\n".join(messages(app))
        assert "5 of 5 expected answers right" in text and "the temporary memory is gone" in text
        assert stored_texts(app) == ["Mary went to the garden."]


async def test_replay_into_memory_is_undone_in_one_step(tmp_path, loaded_model):
    from conftest import ROOT

    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        app.submit_text("My bike is in the shed.")
        await wait_ready(app, pilot)
        app.command(f"/replay {ROOT / 'assets/dialogs/moving.chat'}")
        await wait_replay(app, pilot)
        assert "/undo forgets them" in "\n".join(messages(app)) and len(app.memory) > 1
        app.command("/undo")
        await pilot.pause()
        assert stored_texts(app) == ["My bike is in the shed."]


async def test_esc_stops_a_replay(tmp_path, loaded_model):
    script = tmp_path / "long.chat"
    script.write_text("".join(f"Person{i} went to the garden.\n" for i in range(15)))
    app = make_app(data_dir=tmp_path / "home", bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        app.command(f"/replay {script}")
        for _ in range(40):
            await pilot.pause(0.05)
            if app.replaying is not None and app.replaying.played >= 2:
                break
        await pilot.press("escape")
        await wait_ready(app, pilot)
        await pilot.pause(0.3)
        assert app.replaying is None and 2 <= len(app.memory) < 15
        assert "stopped after" in "\n".join(messages(app))


async def test_forget_a_range(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        app.submit_text("Mary went to the kitchen. John went to the garden. Sandra went to the office. "
                        "Daniel went to the hallway.")
        await wait_ready(app, pilot)
        app.command("/forget 2-3")
        await pilot.pause()
        assert [m.id for m in app.memory.all()] == [1, 4] and "Forgot 2 memories (#2 to #3)." in "\n".join(messages(app))
        app.command("/forget 9-3")
        assert "Usage: /forget" in "\n".join(messages(app))


async def test_panel_is_hidden_on_a_narrow_screen_and_cuts_with_an_ellipsis(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(app, pilot)
        pane = app.query_one("#memory-pane")
        assert not pane.display
        app.submit_text("My sister Ayesha lives in the big yellow house at the end of Harbour Road.")
        await wait_ready(app, pilot)
        await pilot.press("f2")
        await pilot.pause(0.3)
        assert pane.display and pane.size.width <= 32
        row = "".join(seg.text for seg in app.query_one("#memories").render_line(1)).rstrip()
        assert row.endswith("…") and "My sister" in row
    app2 = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app2.run_test(size=(140, 40)) as pilot:
        await wait_ready(app2, pilot)
        pane = app2.query_one("#memory-pane")
        assert pane.display and 40 <= pane.size.width <= 52      # about a third


async def test_the_chat_stays_on_the_newest_message_after_f2(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_ready(app, pilot)
        for i in range(12):
            app.submit_text(f"Person{i} went to the garden.")
        await wait_ready(app, pilot)
        conv = app.query_one("#conversation")
        await pilot.press("f2")
        await pilot.pause(0.3)
        assert conv.scroll_y == conv.max_scroll_y > 0
        await pilot.press("f2")
        await pilot.pause(0.3)
        assert conv.scroll_y == conv.max_scroll_y


async def test_help_close_button_is_on_screen_at_80x24_and_60x20(tmp_path, loaded_model):
    for size in ((80, 24), (60, 20)):
        app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
        async with app.run_test(size=size) as pilot:
            await wait_ready(app, pilot)
            await pilot.press("f1")
            await pilot.pause(0.2)
            close = app.screen.query_one("#close")
            r = close.region
            assert r.height > 0 and r.y + r.height <= size[1] and r.x + r.width <= size[0]


async def test_written_times_are_refreshed(tmp_path, loaded_model):
    import time

    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test(size=(140, 30)) as pilot:
        await wait_ready(app, pilot)
        app.submit_text("Mary went to the kitchen.")
        await wait_ready(app, pilot)
        table = app.query_one("#memories", DataTable)
        assert str(table.get_cell("1", "when")) == "now"
        app.refresh_times(now=time.time() + 600)       # what the 30-second timer does ten minutes later
        assert str(table.get_cell("1", "when")) == "10m ago"


async def test_palette_has_forget_export_replay_and_undo(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test() as pilot:
        await wait_ready(app, pilot)
        cmds = {c.title: c for c in app.get_system_commands(app.screen)}
        for title in ("Forget a memory…", "Export memories…", "Replay a dialog script…",
                      "Replay in a temporary memory…", "Undo the last replay", "Clear memory", "Why?"):
            assert title in cmds
        cmds["Replay in a temporary memory…"].callback()
        await pilot.pause()
        assert app.query_one("#prompt").value == "/replay --fresh "
