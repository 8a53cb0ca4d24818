"""The Textual chat app. Statements stream into memory; answers highlight their supporting facts.

Domain work (the Bot) runs in thread workers that post messages back; nothing here blocks the UI.
"""

from __future__ import annotations

import re
import shlex
import time
from collections import deque
from dataclasses import dataclass, field
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
from chatmem.util import count


def plain(text: str, style: str = "") -> Text:
    """User text (memories, answers, paths) is shown as text, never parsed as markup, with controls escaped."""
    return Text(printable(str(text)), style=style)

HELP = """\
[b]chatmem[/b]: a Memory Network that remembers what you tell it.

Tell it a [b]fact[/b] ("Mary went to the kitchen.") and it is stored as a memory. Ask a [b]question[/b] ("Where is Mary?", "Remind me where Mary is.") and the answer cites the memories it used: ▶1 is the first hop, ▶2 the second. Greetings, thanks and commands get a short reply and are not stored. Paste a paragraph: each sentence is handled in turn.

[b]Commands[/b]
  /forget ID       forget one memory; /forget 120-183 a range
  /undo            forget what the last replay stored
  /clear           forget every memory (asks first)
  /export FILE     write memories to a JSON Lines file
  /replay FILE     play a dialog script (or bAbI file) here
  /replay --fresh FILE   the same, in a temporary memory
  /why             the best memories of each hop, last question
  /help            this help

[b]Keys[/b]
  F1 help · F2 show/hide memory · Esc stop a replay / focus input
  Ctrl+Q quit · Ctrl+P command palette
"""

WELCOME = """\
Welcome to chatmem. Tell me facts and I remember them; ask and I answer from them, citing what I used.
Try:  My keys are in the blue bowl.  ·  Where are my keys?  ·  Remind me where my keys are.
F1 shows help and commands; F2 shows or hides the memory panel."""


PANEL_ROWS = 2000   # memories listed in the panel (the newest)
PANEL_MIN_SCREEN = 100   # below this many columns the memory panel starts hidden (F2 shows it)
ASK_ABOVE = 20      # a replay that would write more memories than this asks first
PANEL_COLS = ("mark", "id", "when", "text")   # the memory panel's columns, as memory_cells gives them
TIMES_FROM = 44     # a narrower panel leaves out the "written" column: the memory's text needs the room


@dataclass
class ReplayRun:
    """A /replay in progress: what it is playing, into which memory, and what it has done so far."""

    name: str
    lines: int
    bot: object = None               # --fresh: a bot over a temporary memory; None: the app's own
    played: int = 0
    checked: int = 0
    right: int = 0
    stored: list[int] = field(default_factory=list)
    stopped: bool = False


def memory_cells(m, mark: Text | str = "", cited: bool = False, superseded_by: int | None = None) -> tuple:
    """One row of the memory panel: (mark, id, written, text). The text column has a fixed width (the panel's
    room); a longer memory ends in an ellipsis there. A memory a newer one supersedes (issue 15) is dimmed and
    points at it first, so the pointer survives the ellipsis: "→ #6 The van is in bay 4."."""
    if superseded_by is None:
        text = plain(m.text, style="bold underline" if cited else "")
    else:
        text = plain(f"→ #{superseded_by} {m.text}", style="dim" + (" bold underline" if cited else ""))
    text.no_wrap, text.overflow = True, "ellipsis"
    return mark, str(m.id), _ago(m.created, short=True), text


def cited_text(memory, span: tuple[int, int, int] | None) -> Text:
    """A cited memory as plain text, with the answer's words in it underlined (chatmem.bot.Answer.marked)."""
    text = plain(memory.text)
    if span is not None and span[0] == memory.id and text.plain == memory.text:
        text.stylize("bold underline not dim", span[1], span[2])
    return text


def _ago(ts: float, short: bool = False, now: float | None = None) -> str:
    """How long ago a memory was written; `short` for the panel's narrow column ("now", "5m ago", "Nov 27")."""
    from chatmem.memory import valid_time

    if not valid_time(ts):
        return "?"            # another client wrote a time no date can show
    d = max(0, (time.time() if now is None else now) - ts)
    if d < 60:
        return "now" if short else "just now"
    if d < 3600:
        return f"{int(d // 60)}{'m' if short else ' min'} ago"
    if d < 86400:
        return f"{int(d // 3600)}{'h' if short else ' h'} ago"
    return time.strftime("%b %d" if short else "%Y-%m-%d", time.localtime(ts))


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel")]
    AUTO_FOCUS = "#no"      # a stray Enter must not forget everything

    def __init__(self, question: str, yes: str = "Yes, forget everything", danger: bool = True):
        super().__init__()
        self.question, self.yes, self.danger = question, yes, danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(plain(self.question))
            with Horizontal():
                yield Button(self.yes, variant="error" if self.danger else "warning", id="yes")
                yield Button("Cancel", variant="primary", id="no")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close help")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            with VerticalScroll(id="help-scroll"):     # scrolls on a small screen; Close stays in view
                yield Static(HELP, id="help-text")
            with Horizontal():
                yield Button("Close", variant="primary", id="close")

    @on(Button.Pressed)
    def _close(self) -> None:
        self.dismiss()


class PromptInput(Input):
    """The input line. A paste of several lines hands every line to the app (Textual's Input keeps the first)."""

    class Lines(Message):
        def __init__(self, lines: list[str]) -> None:
            super().__init__()
            self.lines = lines

    def _on_paste(self, event) -> None:
        lines = [l for l in event.text.splitlines() if l.strip()]
        if len(lines) > 1:
            event.prevent_default()        # Input's own handler (run after this one) would keep the first line
            event.stop()
            self.post_message(self.Lines(lines))


def split_long(text: str, limit: int) -> list[str] | None:
    """An input over the limit split at line and sentence ends into pieces under it; None if a piece is still
    too long (then the text stays in the box)."""
    pieces = [p for line in text.splitlines() for p in re.split(r"(?<=[.!?])\s+", line) if p.strip()]
    out: list[str] = []
    for p in pieces:        # sentences go back together up to the limit: a paragraph stays one input
        if out and len(out[-1]) + 1 + len(p) <= limit:
            out[-1] += " " + p
        else:
            out.append(p)
    return out if all(len(p) <= limit for p in out) else None


class MainArea(Horizontal):
    """Chat and memory panel. Its size follows the terminal's: the panel shows or hides by the width."""

    def on_resize(self, event) -> None:
        self.app.fit_panel()
        self.app.call_after_refresh(self.app.after_layout)


class MemoryPane(Vertical):
    """The memory panel; when its width changes, the app cuts its rows anew."""

    def on_resize(self, event) -> None:
        self.app.call_after_refresh(self.app.after_layout)


class ChatmemApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "chatmem"
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("f2", "toggle_memory", "Memory"),
        Binding("escape", "escape", "Stop replay"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    class Loaded(Message):
        def __init__(self, error: str | None) -> None:
            super().__init__()
            self.error = error

    class Handled(Message):
        def __init__(self, text: str, events: list, error: str | None = None, run: ReplayRun | None = None,
                     expected: list[str] | None = None) -> None:
            super().__init__()
            self.text, self.events, self.error, self.replay, self.expected = text, events, error, run, expected

    def __init__(self, data_dir: str | Path | None = None, bot_factory=None, max_memories: int | None = None):
        super().__init__()
        self.max_memories = max_memories
        from chatmem.paths import data_dir as resolve

        self.data_dir = resolve(data_dir)
        self._bot_factory = bot_factory
        self.memory = None
        self.bot = None
        self.ready = False
        self.queue: deque[tuple[str, ReplayRun | None, list[str] | None]] = deque()   # (text, replay, expected)
        self.script: deque = deque()      # /replay: (text, expected, new story) lines still to play, one at a time
        self.replaying: ReplayRun | None = None
        self.undo: list[int] = []         # what the last replay stored, for /undo
        self.busy = False
        self.last_answer = None
        self.highlighted: list[tuple[int, int]] = []     # (memory id, hop) the last answer cited
        self.open_error: str | None = None
        self.panel_choice: bool | None = None     # F2 decides; until then the screen's width does
        self.panel_cols: list[str] = []
        self.panel_width = 0

    # -- layout ------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("starting…", id="status")
        with MainArea(id="main"):
            with Vertical(id="chat-pane"):
                yield VerticalScroll(id="conversation")
                yield PromptInput(placeholder="Tell me something, or ask a question…  (/help)", id="prompt")
            with MemoryPane(id="memory-pane"):
                yield Static("Memory", id="memory-title")
                yield DataTable(id="memories", cursor_type="row", zebra_stripes=True, cell_padding=0)
        yield Footer()

    def on_mount(self) -> None:
        from chatmem.memory import SQLiteMemory

        self.query_one("#prompt", Input).focus()
        self.fit_panel()
        try:
            self.memory = SQLiteMemory(self.data_dir)
        except (ChatmemError, OSError) as exc:
            self.open_error = str(exc)
        self.set_columns()
        if self.memory is None:
            self.say(f"Cannot open memory: {self.open_error}", "error")
            self.set_status("memory unavailable")
            return
        self.set_status("loading the model…")
        self.load_bot()             # first: the model loads while the screen fills
        turns = self.memory.recent_turns(100)
        for turn in turns:
            self.say(turn["text"], turn["role"], old=True)
        if not turns and not len(self.memory):
            self.say(WELCOME, "system welcome")
        self.reload_memories()
        self.set_interval(2.0, self.poll_memory)
        self.set_interval(30.0, self.refresh_times)

    def set_columns(self) -> None:
        table = self.query_one("#memories", DataTable)
        newest = int(self.memory.ids[-1]) if self.memory is not None and len(self.memory) else 0
        # No cell padding (a narrow panel needs the room): one column of space after each narrow one instead.
        pane = self.panel_width = self.query_one("#memory-pane").size.width or 40
        widths = {"mark": 3, "id": max(5, len(str(newest)) + 2)}   # id: room for the ids still to come
        if pane >= TIMES_FROM:
            widths["when"] = 8
        widths["text"] = max(8, pane - sum(widths.values()) - 4)     # the pane's border, the scrollbar, a margin
        table.clear(columns=True)
        for key, w in widths.items():
            table.add_column({"mark": "", "id": "id", "when": "written", "text": "memory"}[key], key=key, width=w)
        self.panel_cols = list(widths)

    def fit_panel(self) -> None:
        show = self.panel_choice if self.panel_choice is not None else self.size.width >= PANEL_MIN_SCREEN
        self.query_one("#memory-pane").set_class(not show, "hidden")

    def after_layout(self) -> None:
        """The panel's width changed (resize, F2): cut its rows anew; the chat stays on the newest message."""
        self.scroll_chat_end()
        if self.memory is not None and self.query_one("#memory-pane").display:
            pane = self.query_one("#memory-pane").size.width
            if pane and pane != self.panel_width:
                self.set_columns()
                self.reload_memories()

    def scroll_chat_end(self) -> None:
        self.query_one("#conversation", VerticalScroll).scroll_end(animate=False)

    # -- status and panels ------------------------------------------------------
    def set_status(self, state: str) -> None:
        n = len(self.memory) if self.memory is not None else 0
        status = self.query_one("#status", Static)
        status.update(plain(f"{state} · {count(n, 'memory', 'memories')} · {self.data_dir}"))
        status.set_class(self.ready, "ready")

    def status_ready(self) -> None:
        if self.replaying is not None:
            self.set_status(f"replaying {self.replaying.name}: {self.replaying.played}/{self.replaying.lines} (Esc stops)")
        else:
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
        """Refill the panel from the memory; the memories the last answer cited stay marked."""
        table = self.query_one("#memories", DataTable)
        cited, self.highlighted = self.highlighted, []
        table.clear()
        n = len(self.memory)
        self.add_memory_rows(self.memory.memories_at(range(max(0, n - PANEL_ROWS), n)))
        self.highlight_ids([c[0] for c in cited], [c[1] for c in cited], move=False)

    def add_memory_rows(self, memories) -> None:
        table = self.query_one("#memories", DataTable)
        links = self.memory.links()
        for m in memories:
            if str(m.id) not in table.rows:
                cells = dict(zip(PANEL_COLS, memory_cells(m, superseded_by=links.get(m.id))))
                table.add_row(*(cells[k] for k in self.panel_cols), key=str(m.id))
        while table.row_count > PANEL_ROWS:          # a years-long memory: the panel keeps the newest
            table.remove_row(next(iter(table.rows)))
        if table.row_count:
            table.move_cursor(row=table.row_count - 1)
        n = len(self.memory)
        shown = f"Memory ({n})" if n <= PANEL_ROWS else f"Memory ({n:,}; newest {PANEL_ROWS:,} shown)"
        self.query_one("#memory-title", Static).update(shown)

    def set_row(self, mid: int, mark: Text | str = "", cited: bool = False) -> None:
        table = self.query_one("#memories", DataTable)
        m = self.memory.get(mid)
        if str(mid) in table.rows and m is not None:
            for key, value in zip(PANEL_COLS, memory_cells(m, mark, cited, self.memory.links().get(mid))):
                if key in self.panel_cols:
                    table.update_cell(str(mid), key, value)

    def highlight(self, supports) -> None:
        self.highlight_ids([s.memory.id for s in supports], [s.hop for s in supports])

    def highlight_ids(self, ids: list[int], hops: list[int] | None = None, move: bool = True) -> None:
        table = self.query_one("#memories", DataTable)
        for mid, _ in self.highlighted:
            self.set_row(mid)
        self.highlighted = []
        for mid, hop in zip(ids, hops or range(1, len(ids) + 1)):
            if str(mid) in table.rows:
                self.set_row(mid, Text(f"▶{hop}", style="bold reverse"), cited=True)
                self.highlighted.append((mid, hop))
        if move and ids and str(ids[0]) in table.rows:
            table.move_cursor(row=table.get_row_index(str(ids[0])))

    def refresh_times(self, now: float | None = None) -> None:
        """"just now" becomes "3 min ago": the written column is redrawn every 30 s."""
        if self.memory is None or "when" not in self.panel_cols:
            return
        table = self.query_one("#memories", DataTable)
        for key in list(table.rows)[-500:]:        # older rows say hours or a date and change rarely
            m = self.memory.get(int(key.value))
            if m is not None:
                table.update_cell(key, "when", _ago(m.created, short=True, now=now))

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
        shown = getattr(self, "_warned", 0)
        for line in self.memory.warnings[shown:]:       # e.g. a snapshot that failed its checksum
            self.notify(line, severity="warning", timeout=15, markup=False)
        self._warned = len(self.memory.warnings)

    # -- workers ---------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="load")
    def load_bot(self) -> None:
        """The encoder, the model and the tokeniser load side by side (their imports are most of the wait)."""
        import threading

        errors: list[BaseException] = []

        def side(fn):
            def go():
                try:
                    fn()
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)
            t = threading.Thread(target=go, daemon=True)
            t.start()
            return t

        try:
            from chatmem.input import _spacy

            if self._bot_factory is not None:
                bot = self._bot_factory(self.memory)
            else:
                from chatmem.bot import Bot

                bot = Bot(self.memory, session=None)
            helpers = [side(getattr(bot.encoder, "load", lambda: None)), side(_spacy)]
            bot.load(encoder=False)
            for t in helpers:
                t.join()
            if errors:
                raise errors[0]
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
    def think(self, text: str, run: ReplayRun | None, expected: list[str] | None) -> None:
        from chatmem.dialogue_act import route

        try:
            events = route(run.bot if run is not None and run.bot is not None else self.bot, text)
            self.post_message(self.Handled(text, events, run=run, expected=expected))
        except ChatmemError as exc:
            self.post_message(self.Handled(text, [], str(exc), run, expected))
        except Exception as exc:  # noqa: BLE001
            self.post_message(self.Handled(text, [], f"{exc.__class__.__name__}: {exc}", run, expected))

    def pump(self) -> None:
        """Process queued input one line at a time, in order; a /replay script feeds one line per turn."""
        if self.busy or not self.ready:
            return
        if not self.queue and self.script:
            text, expected, new_story = self.script.popleft()
            if new_story and self.replaying is not None and self.replaying.bot is not None:
                self.replaying.bot = self.fresh_bot()            # a bAbI story starts with an empty memory
            self.submit_text(text, self.replaying, expected)
            return
        if not self.queue:
            if self.replaying is not None:
                self.finish_replay()
            return
        self.busy = True
        self.status_ready()
        self.think(*self.queue.popleft())

    def on_chatmem_app_handled(self, msg: Handled) -> None:
        self.busy = False
        if msg.error:
            self.say(msg.error, "error")
        run = msg.replay
        fresh = run is not None and run.bot is not None
        stored = []
        updates = {lk.new: lk.old for lk in getattr(run.bot if fresh else self.bot, "linked", [])}
        for ev in msg.events:
            if ev.stored is not None:
                line = f"Stored as memory #{ev.stored.id}" + (" (temporary)." if fresh else ".")
                if ev.stored.id in updates:      # G's link, said where it is made: a wrong one is undone at once
                    old = updates[ev.stored.id]
                    line += f" It updates #{old}, which stays stored (/unlink {old} if it does not)."
                self.say(line, "bot")
                if not fresh:
                    stored.append(ev.stored)
                    self.log_turn("bot", line)
            elif ev.answer is not None:
                self.show_answer(ev.answer, msg.expected, run, log=not fresh)
            elif ev.reply is not None:
                self.say(ev.reply, "bot")
                if not fresh:
                    self.log_turn("bot", ev.reply)
        if stored:
            self.add_memory_rows(stored)
            self.show_g(getattr(self.bot, "linked", []), getattr(self.bot, "moved_out", []))
            if run is not None:
                run.stored += [m.id for m in stored]
        if run is not None:
            run.played += 1
        self.status_ready()
        self.pump()

    def show_answer(self, ans, expected: list[str] | None = None, run: ReplayRun | None = None,
                    log: bool = True) -> None:
        from chatmem.replay import normalize_answer

        cites = Text(style="dim")
        if expected is not None:        # a /replay line with "=> answer": say whether the bot got it
            right = ans.confident and normalize_answer(",".join(ans.words)) == list(expected)
            cites.append(f"{'✓' if right else '✗'} expected {printable(','.join(expected))}\n")
            if run is not None:
                run.checked += 1
                run.right += right
        for s in ans.supports:
            cites.append(f"▶{s.hop} #{s.memory.id} ")
            cites.append_text(cited_text(s.memory, ans.marked if ans.confident else None))
            cites.append(f"  ({_ago(s.memory.created)})\n")
        cites.rstrip()
        self.say(ans.text, "bot", cites, unsure=not ans.confident)
        if log:                          # a temporary memory's answers cite memories that will be gone
            self.last_answer = ans
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
        from chatmem.input import MAX_UTTERANCE_CHARS

        if event.input.value != event.value:      # a second Enter for text already handled (fast typing, paste)
            return
        text = event.value.strip()
        if len(text) > MAX_UTTERANCE_CHARS and not text.startswith("/"):
            pieces = split_long(text, MAX_UTTERANCE_CHARS)
            if pieces is None:                     # kept in the box, to be shortened
                self.say(f"That is {len(text):,} characters with a sentence over the limit of "
                         f"{MAX_UTTERANCE_CHARS:,}; it is still in the input box to shorten.", "error")
                return
            event.input.value = ""
            for p in pieces:
                self.submit_text(p)
            return
        event.input.value = ""
        self.enter(text)

    def enter(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        if text.startswith("/"):
            self.command(text)
            return
        self.submit_text(text)

    @on(PromptInput.Lines)
    def pasted_lines(self, msg: PromptInput.Lines) -> None:
        """A multi-line paste: every line is handled, in order, as if typed and entered one by one; whatever
        was already typed joins the first line."""
        box = self.query_one("#prompt", Input)
        first, box.value = box.value, ""
        lines = list(msg.lines)
        lines[0] = (first.rstrip() + " " + lines[0]).strip()
        for line in lines:
            self.enter(line)

    def submit_text(self, text: str, run: ReplayRun | None = None, expected: list[str] | None = None) -> None:
        from chatmem.input import InputError, clean

        try:
            clean(text)
        except InputError as exc:
            self.say(str(exc), "error")
            return
        self.say(text, "user")
        if run is None or run.bot is None:
            self.log_turn("user", text)
        if self.memory is None:
            self.say("Memory is unavailable; nothing was stored.", "error")
            return
        self.queue.append((text, run, expected))
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
                    "/undo": self.cmd_undo, "/unlink": self.cmd_unlink, "/budget": self.cmd_budget}
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
            self.set_row(lk.old)
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
            self.set_row(mid)
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
        m = re.fullmatch(r"#?([0-9]{1,18})(?:-#?([0-9]{1,18}))?", args[0]) if len(args) == 1 else None
        if m is None or (m[2] and int(m[2]) < int(m[1])):
            self.say("Usage: /forget ID or /forget FIRST-LAST  (memory numbers, e.g. /forget 3 or /forget 120-183)",
                     "error")
            return
        if not self._need_memory():
            return
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi == lo:
            ids = [lo]
        else:
            ids = [int(i) for i in self.memory.ids if lo <= int(i) <= hi]
            if not ids:
                self.say(f"There are no memories #{lo} to #{hi}.", "error")
                return
        self.forget_ids(ids, f"memory #{lo}" if hi == lo else f"{{n}} memories (#{lo} to #{hi})")

    def forget_ids(self, ids: list[int], what: str) -> None:
        gone, done = [], 0
        for mid in ids:
            m = self.memory.get(mid)
            try:
                ok = self.memory.forget(mid)
            except ChatmemError as exc:
                self.say(str(exc), "error")
                break
            done += ok
            if ok and m is not None:
                gone.append(squash(m.text))
        if done:
            if self.bot is not None:
                self.bot.forget_caches()    # R's token vectors of what was read: nothing of it stays in RAM
            self.reload_memories()
            self.unsay(lambda said: any(g in said for g in gone))
            self.say(f"Forgot {what.format(n=done)}.", "system")
        elif len(ids) == 1:
            self.say(f"There is no memory #{ids[0]}.", "error")
        self.status_ready() if self.ready else self.set_status("loading the model…")

    def cmd_undo(self, args) -> None:
        if args:
            self.say("Usage: /undo  (forgets what the last replay stored)", "error")
            return
        if not self.undo or not self._need_memory():
            self.say("Nothing to undo: /undo forgets what the last replay stored in your memory.", "system")
            return
        ids, self.undo = self.undo, []
        self.forget_ids(ids, "the {n} memories the last replay stored")

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
                self.say(f"Forgot all {count(n, 'memory', 'memories')}.", "system")
            else:
                self.say("Nothing was forgotten.", "system")
            self.status_ready() if self.ready else self.set_status("loading the model…")

        what = count(len(self.memory), "memory", "memories")
        self.push_screen(ConfirmScreen(f"Forget all {what}? This cannot be undone."), done)

    def cmd_export(self, args) -> None:
        if len(args) != 1:
            self.say("Usage: /export FILE", "error")
            return
        if not self._need_memory():
            return
        try:
            n = self.memory.export_jsonl(Path(args[0]).expanduser())
            self.say(f"Exported {count(n, 'memory', 'memories')} to {args[0]}.", "system")
        except (OSError, ChatmemError) as exc:
            self.say(f"Could not write {args[0]}: {getattr(exc, 'strerror', None) or exc}", "error")

    def fresh_bot(self):
        from chatmem.bot import Bot
        from chatmem.memory import EphemeralMemory

        bot = Bot(EphemeralMemory(), model_dir=self.bot.model_dir, encoder=self.bot.encoder, session="replay")
        bot._loaded = self.bot._loaded         # the loaded model, shared
        return bot

    def cmd_replay(self, args) -> None:
        from chatmem.replay import load_turns

        fresh = "--fresh" in args
        files = [a for a in args if a != "--fresh"]
        if len(files) != 1 or any(a.startswith("--") and a != "--fresh" for a in args):
            self.say("Usage: /replay FILE  or  /replay --fresh FILE  (a temporary memory; yours is untouched)",
                     "error")
            return
        if self.replaying is not None:
            self.say("A replay is already running; Esc stops it.", "error")
            return
        name = files[0]
        try:
            turns, babi = load_turns(Path(name).expanduser(), name)
        except ChatmemError as exc:
            self.say(str(exc), "error")
            return
        if babi and not fresh:
            self.say(f"{name} is a bAbI file: its stories each need an empty memory. Use /replay --fresh {name}.",
                     "error")
            return
        statements = sum(not u.is_question for t in turns for u in t.utterances)

        def start(yes: bool | None = True) -> None:
            if not yes:
                self.say("Nothing was replayed.", "system")
                return
            if fresh and not self.ready:
                self.say("The model is still loading; try the replay again in a moment.", "error")
                return
            self.replaying = ReplayRun(name, len(turns), self.fresh_bot() if fresh else None)
            where = "a temporary memory" if fresh else "your memory"
            self.say(f"Replaying {name} ({len(turns)} lines) into {where}… Esc stops it.", "system")
            self.script.extend((" ".join(u.text for u in t.utterances), t.expected, t.new_story) for t in turns)
            self.pump()

        if not fresh and statements > ASK_ABOVE:
            self.push_screen(ConfirmScreen(
                f"{name} may store up to {statements} memories in your memory. Replay it? "
                f"(/replay --fresh {name} uses a temporary memory; /undo forgets what a replay stored.)",
                yes="Replay it", danger=False), start)
        else:
            start()

    def finish_replay(self) -> None:
        run, self.replaying = self.replaying, None
        fresh = run.bot is not None
        parts = [f"{run.right} of {run.checked} expected answers right" if run.checked else "no answers to check"]
        if fresh:
            parts.append("the temporary memory is gone; yours is as it was")
        elif run.stored:
            what = count(len(run.stored), "memory", "memories")
            parts.append(f"stored {what} (#{run.stored[0]} to #{run.stored[-1]}; /undo forgets them)")
            self.undo = list(run.stored)
        else:
            parts.append("nothing was stored")
        head = f"Replay of {run.name} stopped after {run.played} of {run.lines} lines" if run.stopped \
            else f"Replay of {run.name} finished"
        self.say(f"{head}: " + "; ".join(parts) + ".", "system")
        self.status_ready()

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
        pane = self.query_one("#memory-pane")
        self.panel_choice = pane.has_class("hidden")
        self.fit_panel()
        self.call_after_refresh(self.after_layout)

    def action_focus_input(self) -> None:
        self.query_one("#prompt", Input).focus()

    def action_escape(self) -> None:
        """Esc stops a replay (the line being answered finishes); otherwise it focuses the input."""
        if self.replaying is not None and not self.replaying.stopped:
            self.replaying.stopped = True
            self.script.clear()
            self.queue = deque(q for q in self.queue if q[1] is not self.replaying)
            if not self.busy:
                self.finish_replay()
            return
        self.action_focus_input()

    def prefill(self, text: str) -> None:
        """A palette command that needs an argument: the command goes into the input, to be completed."""
        box = self.query_one("#prompt", Input)
        box.value = text
        box.cursor_position = len(text)
        box.focus()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Show commands and keys", self.action_help)
        yield SystemCommand("Toggle memory panel", "Show or hide the stored memories", self.action_toggle_memory)
        yield SystemCommand("Focus input", "Move the cursor to the input line", self.action_focus_input)
        yield SystemCommand("Why?", "Show the top candidate memories of each hop for the last question",
                            lambda: self.cmd_why([]))
        yield SystemCommand("Forget a memory…", "Type /forget ID (or a range FIRST-LAST)",
                            lambda: self.prefill("/forget "))
        yield SystemCommand("Export memories…", "Type /export FILE: write memories to JSON Lines",
                            lambda: self.prefill("/export "))
        yield SystemCommand("Replay a dialog script…", "Type /replay FILE: play a script into your memory",
                            lambda: self.prefill("/replay "))
        yield SystemCommand("Replay in a temporary memory…", "Type /replay --fresh FILE: yours is untouched",
                            lambda: self.prefill("/replay --fresh "))
        yield SystemCommand("Undo the last replay", "Forget what the last replay stored", lambda: self.cmd_undo([]))
        yield SystemCommand("Stop the replay", "Stop a replay in progress (Esc)", self.action_escape)
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
