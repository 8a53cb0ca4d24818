"""The app's side of issue 15: superseded memories dimmed with "→ #id", undoing a link, the memory budget."""

import pytest

from chatmem import checkpoint
from chatmem.app import DataTable, make_app
from chatmem.input import encode, make_utterance
from chatmem.memory import SQLiteMemory
from chatmem.paths import assets_dir
from chatmem.update import Link
from test_app import factory, wait_ready
from test_app import loaded_model  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(not (assets_dir() / checkpoint.WEIGHTS).exists(), reason="no trained model in assets/")


def cell(app, mid):
    return app.query_one("#memories", DataTable).get_cell(str(mid), "text")


def messages(app):
    return "\n".join(str(w.render()) for w in app.query(".msg"))


async def tell(app, pilot, lines) -> str:
    """Type each line as a person would, waiting for its reply; everything said so far."""
    for t in lines:
        app.submit_text(t)
        await wait_ready(app, pilot)
    return messages(app)


async def test_superseded_rows_are_dimmed_and_a_link_can_be_undone(tmp_path, loaded_model):
    mem = SQLiteMemory(tmp_path)
    mem.write(encode([make_utterance(t) for t in ("The gate code is 2290.", "The gate code is now 4417.")],
                     loaded_model.encoder), "s")
    mem.link([Link(1, 2, 0.9)])
    mem.close()
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_ready(app, pilot)
        assert cell(app, 1).plain == "→ #2 The gate code is 2290." and "dim" in str(cell(app, 1).style)
        assert cell(app, 2).plain == "The gate code is now 4417."
        app.query_one("#memories", DataTable).move_cursor(row=0)
        app.cmd_unlink([])                           # the palette's entry: the row under the cursor
        await pilot.pause(0.05)
        assert cell(app, 1).plain == "The gate code is 2290."
        assert "Memory #1 is no longer marked superseded." in messages(app)
        app.command("/unlink 1")
        await wait_ready(app, pilot)
        assert "Memory #1 is not marked superseded." in messages(app)


async def test_a_statement_that_updates_an_older_memory_says_so_where_it_is_stored(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_ready(app, pilot)
        text = await tell(app, pilot, ("The gate code is 2290.", "I like tea.", "The gate code is now 4417."))
        assert "Stored as memory #1." in text and "Stored as memory #2." in text
        assert "Stored as memory #3. It updates #1, which stays stored (/unlink 1 if it does not)." in text
        assert cell(app, 1).plain == "→ #3 The gate code is 2290."


async def test_the_budget_moves_a_memory_out_and_says_which(tmp_path, loaded_model):
    app = make_app(data_dir=tmp_path, bot_factory=factory(loaded_model), max_memories=2)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_ready(app, pilot)
        text = await tell(app, pilot, ("Mary went to the kitchen.", "John went to the garden.", "Sandra took the apple."))
        assert "Memory budget reached (2): moved to the archive: #" in text
        assert len(app.memory) == 2 and len(app.memory.archived()) == 1
        gone = app.memory.archived()[0]["id"]
        assert str(gone) not in app.query_one("#memories", DataTable).rows
        app.command("/budget off")
        await wait_ready(app, pilot)
        assert app.bot.max_memories is None and app.memory.max_memories() is None
        app.command("/budget 5")
        await wait_ready(app, pilot)
    assert SQLiteMemory(tmp_path).max_memories() == 5          # the setting stays with the memory
