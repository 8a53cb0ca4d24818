"""The Textual chat app. Statements stream into memory; answers highlight their supporting facts.

Domain work (the Bot) runs in thread workers that post messages back; nothing here blocks the UI.
"""

from __future__ import annotations

import re
import shlex
import time
from collections import deque
from pathlib import Path
from typing import Iterable

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, Static

from chatmem import ChatmemError
from chatmem.input import printable, squash


def plain(text: str, style: str = "") -> Text:
    """User text (memories, answers, paths) is shown as text, never parsed as markup, with controls escaped."""
    return Text(printable(str(text)), style=style)

HELP = """\
[b]chatmem[/b]: a Memory Network that remembers what you tell it.

Type a [b]statement[/b] ("Mary went to the kitchen.") and it is stored as a memory.
Ask a [b]question[/b] ("Where is Mary?") and the answer cites the memories it used:
▶1 is the first hop, ▶2 the second. Paste a paragraph and each sentence is handled in turn.

[b]Commands[/b]
  /forget ID      forget one memory
  /clear          forget every memory (asks first)
  /export FILE    write memories to a JSON Lines file
  /replay FILE    play a dialog script here, line by line
  /why            the top-scoring memories of each hop for the last question
  /help           this help

[b]Keys[/b]
  F1 help · F2 show/hide memory · Esc focus the input · Ctrl+Q quit · Ctrl+P command palette
"""


PANEL_ROWS = 2000   # memories listed in the panel (the newest)


def cited_text(memory, span: tuple[int, int, int] | None) -> Text:
    """A cited memory as plain text, with the words a span answer copied from it underlined."""
    text = plain(memory.text)
    if span is not None and span[0] == memory.id and text.plain == memory.text:
        text.stylize("bold underline not dim", span[1], span[2])
    return text


def _ago(ts: float) -> str:
    from chatmem.memory import valid_time

    if not valid_time(ts):
        return "?"            # another client wrote a time no date can show
    d = max(0, time.time() - ts)
    if d < 60:
        return "just now"
    if d < 3600:
        return f"{int(d // 60)} min ago"
    if d < 86400:
        return f"{int(d // 3600)} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(ts))


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel")]
    AUTO_FOCUS = "#no"      # a stray Enter must not forget everything

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(plain(self.question))
            with Horizontal():
                yield Button("Yes, forget everything", variant="error", id="yes")
                yield Button("Cancel", variant="primary", id="no")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close help")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(HELP, id="help-text")
            with Horizontal():
                yield Button("Close", variant="primary", id="close")

    @on(Button.Pressed)
    def _close(self) -> None:
        self.dismiss()


class ChatmemApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "chatmem"
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("f2", "toggle_memory", "Memory panel"),
        Binding("escape", "focus_input", "Focus input"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    class Loaded(Message):
        def __init__(self, error: str | None) -> None:
            super().__init__()
            self.error = error

    class Handled(Message):
        def __init__(self, text: str, events: list, error: str | None = None) -> None:
            super().__init__()
            self.text, self.events, self.error = text, events, error

    def __init__(self, data_dir: str | Path | None = None, bot_factory=None, max_memories: int | None = None):
        super().__init__()
        self.max_memories = max_memories
        from chatmem.paths import data_dir as resolve

        self.data_dir = resolve(data_dir)
        self._bot_factory = bot_factory
        self.memory = None
        self.bot = None
        self.ready = False
        self.queue: deque[str] = deque()
        self.expected: list[str] | None = None
        self.script: deque = deque()      # /replay: (text, expected) lines still to play, one at a time
        self.busy = False
        self.last_answer = None
        self.highlighted: list[int] = []
        self.open_error: str | None = None

    # -- layout ------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("starting…", id="status")
        with Horizontal(id="main"):
            with Vertical(id="chat-pane"):
                yield VerticalScroll(id="conversation")
                yield Input(placeholder="Tell me something, or ask a question…  (/help)", id="prompt")
            with Vertical(id="memory-pane"):
                yield Static("Memory", id="memory-title")
                yield DataTable(id="memories", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        from chatmem.memory import SQLiteMemory

        table = self.query_one("#memories", DataTable)
        self.query_one("#prompt", Input).focus()
        try:
            self.memory = SQLiteMemory(self.data_dir)
        except (ChatmemError, OSError) as exc:
            self.open_error = str(exc)
        newest = int(self.memory.ids[-1]) if self.memory is not None and len(self.memory) else 0
        table.add_column("", key="mark", width=2)
        table.add_column("id", key="id", width=max(4, len(str(newest)) + 1))   # room for the ids still to come
        table.add_column("written", key="when", width=10)
        table.add_column("memory", key="text")
        if self.memory is None:
            self.say(f"Cannot open memory: {self.open_error}", "error")
            self.set_status("memory unavailable")
            return
        for turn in self.memory.recent_turns(100):
            self.say(turn["text"], turn["role"], old=True)
        self.reload_memories()
        self.set_status("loading the model…")
        self.load_bot()
        self.set_interval(2.0, self.poll_memory)

    # -- status and panels ------------------------------------------------------
    def set_status(self, state: str) -> None:
        n = len(self.memory) if self.memory is not None else 0
        status = self.query_one("#status", Static)
        status.update(plain(f"{state} · {n:,} memories · {self.data_dir}"))
        status.set_class(self.ready, "ready")

    def status_ready(self) -> None:
        self.set_status("ready" if not self.busy else "thinking…")

    def say(self, text: str, role: str = "system", extra: str | Text = "", old: bool = False,
            unsure: bool = False) -> Static:
        body = plain(text)
        if isinstance(extra, Text):
            body.append("\n")
            body.append_text(extra)
        elif extra:
            body.append("\n" + printable(extra), style="dim")
        w = Static(body, classes=f"msg {role}" + (" old" if old else "") + (" unsure" if unsure else ""))
        w.said = squash(text + " " + (extra.plain if isinstance(extra, Text) else extra))   # what a forget looks for
        conv = self.query_one("#conversation", VerticalScroll)
        conv.mount(w)
        conv.scroll_end(animate=False)
        return w

    def unsay(self, quotes) -> None:
        """Take forgotten text off the screen, as the memory takes it out of the log: every message that
        quotes it (the statement, answers citing it) goes."""
        for w in list(self.query(".msg")):
            if quotes(getattr(w, "said", "")):
                w.remove()
        self.last_answer = None           # /why would show it again

    def reload_memories(self) -> None:
        table = self.query_one("#memories", DataTable)
        table.clear()
        n = len(self.memory)
        self.add_memory_rows(self.memory.memories_at(range(max(0, n - PANEL_ROWS), n)))
        self.highlighted = []

    def memory_text(self, m, links: dict | None = None) -> Text:
        """A memory's panel cell: dimmed with "→ #id" when a newer memory supersedes it (issue 15)."""
        new = (self.memory.links() if links is None else links).get(m.id)
        return plain(m.text) if new is None else plain(f"{m.text}  → #{new}", style="dim")

    def add_memory_rows(self, memories) -> None:
        table = self.query_one("#memories", DataTable)
        links = self.memory.links()
        for m in memories:
            if str(m.id) not in table.rows:
                table.add_row("", str(m.id), _ago(m.created), self.memory_text(m, links), key=str(m.id))
        while table.row_count > PANEL_ROWS:          # a years-long memory: the panel keeps the newest
            table.remove_row(next(iter(table.rows)))
        if table.row_count:
            table.move_cursor(row=table.row_count - 1)
        n = len(self.memory)
        shown = f"Memory ({n})" if n <= PANEL_ROWS else f"Memory ({n:,}; newest {PANEL_ROWS:,} shown)"
        self.query_one("#memory-title", Static).update(shown)

    def highlight(self, supports) -> None:
        table = self.query_one("#memories", DataTable)
        for mid in self.highlighted:
            if str(mid) in table.rows:
                table.update_cell(str(mid), "mark", "")
                m = self.memory.get(mid)
                table.update_cell(str(mid), "text", self.memory_text(m) if m else plain(""))
        self.highlighted = []
        for s in supports:
            key = str(s.memory.id)
            if key in table.rows:
                table.update_cell(key, "mark", Text(f"▶{s.hop}", style="bold reverse"))
                table.update_cell(key, "text", plain(s.memory.text, style="bold underline"))
                self.highlighted.append(s.memory.id)
        if supports and str(supports[0].memory.id) in table.rows:
            table.move_cursor(row=table.get_row_index(str(supports[0].memory.id)))

    def poll_memory(self) -> None:
        """Memories written by other processes (a replay, another app) appear within ~2 s."""
        if self.memory is None or self.busy:
            return
        try:
            if self.memory.refresh():
                self.reload_memories()
                self.status_ready() if self.ready else self.set_status("loading the model…")
        except Exception:  # noqa: BLE001 - a failed poll must not crash the app
            pass

    # -- workers ---------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="load")
    def load_bot(self) -> None:
        try:
            if self._bot_factory is not None:
                bot = self._bot_factory(self.memory)
            else:
                from chatmem.bot import Bot

                bot = Bot(self.memory, session=None)
            bot.load()
            bot.max_memories = self.max_memories or self.memory.max_memories()
            self.bot = bot
            self.post_message(self.Loaded(None))
        except ChatmemError as exc:
            self.post_message(self.Loaded(str(exc)))
        except Exception as exc:  # noqa: BLE001
            self.post_message(self.Loaded(f"{exc.__class__.__name__}: {exc}"))

    def on_chatmem_app_loaded(self, msg: Loaded) -> None:
        if msg.error:
            self.say(f"The model could not be loaded: {msg.error}", "error")
            self.set_status("model unavailable")
            return
        self.ready = True
        self.status_ready()
        self.pump()

    @work(thread=True, group="think")
    def think(self, text: str) -> None:
        try:
            events = self.bot.handle(text)
            self.post_message(self.Handled(text, events))
        except ChatmemError as exc:
            self.post_message(self.Handled(text, [], str(exc)))
        except Exception as exc:  # noqa: BLE001
            self.post_message(self.Handled(text, [], f"{exc.__class__.__name__}: {exc}"))

    def pump(self) -> None:
        """Process queued input one line at a time, in order; a /replay script feeds one line per turn."""
        if self.busy or not self.ready:
            return
        if not self.queue and self.script:
            text, self.expected = self.script.popleft()
            self.submit_text(text)
            return
        if not self.queue:
            return
        self.busy = True
        self.set_status("thinking…")
        self.think(self.queue.popleft())

    def on_chatmem_app_handled(self, msg: Handled) -> None:
        self.busy = False
        if msg.error:
            self.say(msg.error, "error")
        stored = []
        for ev in msg.events:
            if ev.stored is not None:
                stored.append(ev.stored)
                line = f"Stored as memory #{ev.stored.id}."
                self.say(line, "bot")
                self.log_turn("bot", line)
            elif ev.answer is not None:
                self.show_answer(ev.answer)
        if stored:
            self.add_memory_rows(stored)
            self.show_g(getattr(self.bot, "linked", []), getattr(self.bot, "moved_out", []))
        self.status_ready()
        self.pump()

    def show_answer(self, ans) -> None:
        from chatmem.replay import normalize_answer

        self.last_answer = ans
        cites = Text(style="dim")
        expected, self.expected = self.expected, None
        if expected is not None:        # a /replay line with "=> answer": say whether the bot got it
            right = ans.confident and normalize_answer(",".join(ans.words)) == list(expected)
            cites.append(f"{'✓' if right else '✗'} expected {printable(','.join(expected))}\n")
        for s in ans.supports:
            cites.append(f"▶{s.hop} #{s.memory.id} ")
            cites.append_text(cited_text(s.memory, ans.span if ans.confident else None))
            cites.append(f"  ({_ago(s.memory.created)})\n")
        cites.rstrip()
        self.say(ans.text, "bot", cites, unsure=not ans.confident)
        self.log_turn("bot", ans.text + ("\n" + cites.plain if cites.plain else ""))
        self.highlight(ans.supports)

    def log_turn(self, role: str, text: str) -> None:
        if self.memory is not None:
            try:
                self.memory.log_turn(role, text, self.bot.session if self.bot else "app")
            except Exception:  # noqa: BLE001 - the log is a convenience; memory writes are what matter
                pass

    # -- input ---------------------------------------------------------------------
    @on(Input.Submitted, "#prompt")
    def submitted(self, event: Input.Submitted) -> None:
        if event.input.value != event.value:      # a second Enter for text already handled (fast typing, paste)
            return
        text = event.value.strip()
        event.input.value = ""
        if not text:
            return
        if text.startswith("/"):
            self.command(text)
            return
        self.submit_text(text)

    def submit_text(self, text: str) -> None:
        from chatmem.input import InputError, clean

        try:
            clean(text)
        except InputError as exc:
            self.say(str(exc), "error")
            return
        self.say(text, "user")
        self.log_turn("user", text)
        if self.memory is None:
            self.say("Memory is unavailable; nothing was stored.", "error")
            return
        self.queue.append(text)
        if not self.ready:
            self.say("(model still loading: queued, will be answered when ready)", "system")
        self.pump()

    def command(self, line: str) -> None:
        try:
            parts = shlex.split(line)
        except ValueError as exc:
            self.say(f"Could not read that command: {exc}", "error")
            return
        name, args = parts[0].lower(), parts[1:]
        handlers = {"/help": self.cmd_help, "/forget": self.cmd_forget, "/clear": self.cmd_clear,
                    "/export": self.cmd_export, "/replay": self.cmd_replay, "/why": self.cmd_why,
                    "/unlink": self.cmd_unlink, "/budget": self.cmd_budget}
        fn = handlers.get(name)
        if fn is None:
            self.say(f"Unknown command {name}. Try /help.", "error")
            return
        fn(args)

    def _need_memory(self) -> bool:
        if self.memory is None:
            self.say("Memory is unavailable.", "error")
            return False
        return True

    # -- G's links and H's budget (issue 15) --------------------------------------------------------------
    def show_g(self, linked, moved_out) -> None:
        """Dim what a write superseded; say when the budget moved memories out, and which."""
        table = self.query_one("#memories", DataTable)
        for lk in linked:
            m = self.memory.get(lk.old)
            if m is not None and str(lk.old) in table.rows:
                table.update_cell(str(lk.old), "text", self.memory_text(m))
        if moved_out:
            gone = {a["id"]: a["text"] for a in self.memory.archived() if a["id"] in set(moved_out)}
            for mid in moved_out:
                if str(mid) in table.rows:
                    table.remove_row(str(mid))
            said = "; ".join(f"#{i} {gone.get(i, '')}" for i in moved_out)
            self.say(f"Memory budget reached ({self.bot.max_memories}): moved to the archive: {said}", "system")

    def cmd_unlink(self, args) -> None:
        table = self.query_one("#memories", DataTable)
        if not args and table.row_count:          # the palette: the memory under the panel's cursor
            args = [str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)]
        if len(args) != 1 or not re.fullmatch(r"#?[0-9]{1,18}", args[0]):
            self.say("Usage: /unlink ID  (a memory marked superseded, e.g. /unlink 3)", "error")
            return
        if not self._need_memory():
            return
        mid = int(args[0].lstrip("#"))
        if self.memory.unlink(mid):
            m = self.memory.get(mid)
            if m is not None and str(mid) in table.rows:
                table.update_cell(str(mid), "text", self.memory_text(m))
            self.say(f"Memory #{mid} is no longer marked superseded.", "system")
        else:
            self.say(f"Memory #{mid} is not marked superseded.", "error")

    def cmd_budget(self, args) -> None:
        if not self._need_memory():
            return
        if not args:
            n = self.bot.max_memories if self.bot else self.memory.max_memories()
            self.say(f"Memory budget: {n or 'off'}. Set it with /budget N or /budget off.", "system")
            return
        if len(args) != 1 or not re.fullmatch(r"off|[0-9]{1,9}", args[0].lower()) or args[0] == "0":
            self.say("Usage: /budget N  (keep at most N memories) or /budget off", "error")
            return
        n = None if args[0].lower() == "off" else int(args[0])
        self.memory.set_max_memories(n)
        self.max_memories = n
        if self.bot is not None:
            self.bot.max_memories = n
        self.say(f"Memory budget: {n or 'off'}." + (" It applies from the next statement." if n else ""), "system")

    def cmd_help(self, args) -> None:
        self.action_help()

    def cmd_forget(self, args) -> None:
        if len(args) != 1 or not re.fullmatch(r"#?[0-9]{1,18}", args[0]):
            self.say("Usage: /forget ID  (the memory's number, e.g. /forget 3)", "error")
            return
        if not self._need_memory():
            return
        mid = int(args[0].lstrip("#"))
        gone = self.memory.get(mid)
        try:
            forgot = self.memory.forget(mid)
        except ChatmemError as exc:
            self.say(str(exc), "error")
            return
        if forgot:
            self.reload_memories()
            self.unsay(lambda said: gone is not None and squash(gone.text) in said)
            self.say(f"Forgot memory #{mid}.", "system")
        else:
            self.say(f"There is no memory #{mid}.", "error")
        self.status_ready() if self.ready else self.set_status("loading the model…")

    def cmd_clear(self, args) -> None:
        if not self._need_memory():
            return

        def done(yes: bool | None) -> None:
            if yes:
                try:
                    n = self.memory.clear()
                except ChatmemError as exc:
                    self.say(str(exc), "error")
                    return
                self.reload_memories()
                self.unsay(lambda said: True)
                self.say(f"Forgot all {n} memories.", "system")
            else:
                self.say("Nothing was forgotten.", "system")
            self.status_ready() if self.ready else self.set_status("loading the model…")

        self.push_screen(ConfirmScreen(f"Forget all {len(self.memory)} memories? This cannot be undone."), done)

    def cmd_export(self, args) -> None:
        if len(args) != 1:
            self.say("Usage: /export FILE", "error")
            return
        if not self._need_memory():
            return
        try:
            n = self.memory.export_jsonl(Path(args[0]).expanduser())
            self.say(f"Exported {n} memories to {args[0]}.", "system")
        except (OSError, ChatmemError) as exc:
            self.say(f"Could not write {args[0]}: {getattr(exc, 'strerror', None) or exc}", "error")

    def cmd_replay(self, args) -> None:
        from chatmem.replay import parse_script, read_text

        if len(args) != 1:
            self.say("Usage: /replay FILE", "error")
            return
        try:
            turns = parse_script(read_text(Path(args[0]).expanduser()), args[0])
        except ChatmemError as exc:
            self.say(str(exc), "error")
            return
        self.say(f"Replaying {args[0]} ({len(turns)} lines)…", "system")
        self.script.extend((" ".join(u.text for u in t.utterances), t.expected) for t in turns)
        self.pump()

    def cmd_why(self, args) -> None:
        ans = self.last_answer
        if ans is None:
            self.say("Ask a question first; /why then shows how the answer was found.", "system")
            return
        lines = [f"Why \"{ans.text}\" for \"{ans.question}\" (R's score margin {ans.score:.2f}):"]
        for k, hop in enumerate(ans.trace, 1):
            lines.append(f"hop {k}:")
            for mem, score in hop:
                label = "STOP (enough evidence)" if mem is None else f"#{mem.id} {mem.text}"
                lines.append(f"   {score:7.2f}  {label}")
        self.say("\n".join(lines), "system")

    # -- actions -------------------------------------------------------------------
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_memory(self) -> None:
        self.query_one("#memory-pane").toggle_class("hidden")

    def action_focus_input(self) -> None:
        self.query_one("#prompt", Input).focus()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Show commands and keys", self.action_help)
        yield SystemCommand("Toggle memory panel", "Show or hide the stored memories", self.action_toggle_memory)
        yield SystemCommand("Focus input", "Move the cursor to the input line", self.action_focus_input)
        yield SystemCommand("Why?", "Show the top candidate memories of each hop for the last question",
                            lambda: self.cmd_why([]))
        yield SystemCommand("Clear memory", "Forget every memory (asks first)", lambda: self.cmd_clear([]))
        yield SystemCommand("Undo superseded link", "The memory under the panel's cursor is no longer marked "
                            "superseded", lambda: self.cmd_unlink([]))
        yield SystemCommand("Memory budget", "Show the budget (/budget N or /budget off sets it)",
                            lambda: self.cmd_budget([]))

    def on_unmount(self) -> None:
        if self.memory is not None:
            self.memory.close()


def make_app(data_dir: str | Path | None = None, bot_factory=None, max_memories: int | None = None) -> ChatmemApp:
    """Build the app; tests pass a data dir and may pass a bot factory."""
    return ChatmemApp(data_dir=data_dir, bot_factory=bot_factory, max_memories=max_memories)
