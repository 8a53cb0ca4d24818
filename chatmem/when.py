"""Time as R reads it: a memory's write time, and the relative times in its text resolved against it.

R answers "When did I ...?" by copying a date the way it copies any other phrase, so each supporting memory
is shown to R behind a short note of dates: "8 May 2023 | yesterday: 7 May 2023 | I went to ... yesterday."
The write time is the memory's own (a LoCoMo session's date, or the moment it was told); relative
expressions are found by a pattern and resolved by `dateparser` against that time.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from chatmem.lexicon import MONTHS

SEP = " | "
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_UNIT = "days?|weeks?|weekends?|months?|years?"
_RELATIVE = re.compile(
    rf"\b(yesterday|tomorrow|tonight|last night|(?:last|next|this past|past) (?:week(?:end)?|month|year|{_DAYS})"
    rf"|(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a few|a couple of) (?:{_UNIT}) ago)\b", re.I)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def day_text(d: datetime) -> str:
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def date_text(ts: float) -> str:
    """A write time as a date: "8 May 2023" (UTC, as LoCoMo's session times are read)."""
    try:
        return day_text(_utc(ts))
    except (OverflowError, OSError, ValueError):
        return ""


def _resolve(phrase: str, base: datetime) -> str | None:
    """One relative expression against the write time, at the precision the expression has."""
    p = phrase.lower()
    if "weekend" in p or p.endswith("week"):
        unit = "weekend" if "weekend" in p else "week"
        return f"the {unit} {'after' if p.startswith('next') else 'before'} {day_text(base)}"
    import dateparser

    when = dateparser.parse(p, languages=["en"], settings={
        "RELATIVE_BASE": base.replace(tzinfo=None),
        "PREFER_DATES_FROM": "future" if p.startswith(("next", "tomorrow")) else "past"})
    if when is None:
        if p == "last night":
            when = base - timedelta(days=1)
        else:
            return None
    if "year" in p:
        return str(when.year)
    if "month" in p:
        return f"{MONTHS[when.month - 1]} {when.year}"
    return day_text(when)


@lru_cache(maxsize=8192)
def time_note(text: str, created: float) -> str:
    """ "8 May 2023 | yesterday: 7 May 2023": the write date, then each relative time in `text` resolved."""
    written = date_text(created)
    if not written:
        return ""
    parts = [written]
    base = _utc(created)
    for m in _RELATIVE.finditer(text):
        resolved = _resolve(m.group(0), base)
        if resolved:
            parts.append(f"{m.group(0).lower()}: {resolved}")
    return SEP.join(parts[:4])


def r_text(text: str, created: float | None) -> tuple[str, int]:
    """What R reads of a memory, and where the memory's own text starts in it."""
    note = time_note(text, float(created)) if created is not None else ""
    if not note:
        return text, 0
    return note + SEP + text, len(note) + len(SEP)
