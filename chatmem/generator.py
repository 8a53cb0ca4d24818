"""A seeded generator of everyday personal conversations, with labels.

Training and validation data beyond bAbI (conversational-model issue, part 5): people tell
the bot where things are, who has what, codes, appointments, family and jobs; they
correct themselves, chat, ask for reminders, and ask questions, some of which nothing
stored can answer. Every question carries its answer (a character span of a supporting
turn, or a date phrase for "When did I ...?" questions answered from write time) and the
supporting turns.

The lexicons in chatmem.lexicon are split by a stable hash of each entry, so the valid
split uses names, places, things and values that the train split never contains.

Pure standard library: no torch, spaCy or sentence-transformers, and no files are read.

    python -m chatmem.generator --n 5 --seed 1 --split valid [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import zlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Sequence

from chatmem import lexicon as lx
from chatmem.features import STOP_WORDS
from chatmem.when import date_text

SPLITS = ("train", "valid")
QKINDS = ("single", "who", "when", "update", "two_hop", "unanswerable")
EXPECT = " => "  # chatmem.replay's marker for an expected answer


# ---------------------------------------------------------------------------- data classes


@dataclass
class Turn:
    """One utterance. Indices (support, answer_support, supersedes) point into the same conversation."""

    text: str
    kind: str  # fact | update | question | request | chitchat
    created: float  # write time, UNIX seconds
    is_fact: bool
    question: bool
    answer: str | None = None
    answer_support: int | None = None
    answer_start: int | None = None
    answer_end: int | None = None
    support: list[int] = field(default_factory=list)
    qkind: str | None = None
    supersedes: int | None = None  # for updates: the fact this one replaces (the G issue's link)
    lookalike: list[int] = field(default_factory=list)  # unanswerable: the same kind of fact told of others
    unsaid: bool = False  # unanswerable: asks what a told fact leaves out ("Why did Priya move to Singapore?")
    why: bool = False  # answered by a told reason ("Why did Priya move to Singapore?" -> "to be closer to family")
    detail: bool = False  # answered by a told detail ("What breed is my dog?" -> "beagle"; DETAILS)


@dataclass
class Conversation:
    turns: list[Turn]
    seed: int
    split: str


# ---------------------------------------------------------------------------- splits


def split_of(entry: str) -> str:
    """Stable across runs and machines (unlike hash()): one entry in five is held out."""
    return "valid" if zlib.crc32(entry.lower().encode()) % 5 == 0 else "train"


@cache
def pool(name: str, split: str) -> tuple[str, ...]:
    """The entries of lexicon list `name` that belong to `split`."""
    return tuple(w for w in getattr(lx, name) if split_of(w) == split)


def _fresh(rng: random.Random, split: str, make, tries: int = 50) -> str:
    """A generated value (a code, a plate) from the split's side of the hash; few values
    (blood types, counts) may have none there, and are then shared."""
    value = make(rng)
    for _ in range(tries):
        if split_of(value) == split:
            break
        value = make(rng)
    return value


def a_an(word: str) -> str:
    return "an" if word[0] in "aeiouAEIOU" or word.startswith(("MOT", "hour")) else "a"


def ordinal(day: int) -> str:
    return f"{day}{'th' if 10 <= day <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th')}"


def date_phrase(ts: float) -> str:
    """A write time as the answer to "When did I ...?": "8 May 2023" (as R's time notes write it)."""
    return date_text(ts)


def relative_date(ts: float, when: str) -> str:
    """When something said at `ts` with the relative time `when` happened, in the words of an answer:
    "yesterday" -> "7 May 2023", "last week" -> "the week before 8 May 2023"; "" is the day it was said."""
    d = datetime.fromtimestamp(ts, timezone.utc)
    if when in ("last week", "last weekend"):
        return f"the {when.split()[1]} before {date_phrase(ts)}"
    if when.startswith("last "):       # the latest such weekday strictly before the day it was said
        back = (d.weekday() - lx.WEEKDAYS.index(when.split()[1])) % 7 or 7
    else:
        back = {"": 0, "yesterday": 1, "two days ago": 2, "three days ago": 3}[when]
    return date_phrase((d - timedelta(days=back)).timestamp())


# ---------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Value:
    """What a fact states; `core` is the answer span, `at`/`to` are the prepositions templates need."""

    core: str
    at: str = ""
    to: str = ""
    tags: frozenset = frozenset()


def _digits(n: int):
    return lambda r: str(r.randrange(10 ** (n - 1), 10**n))


def _letters(n: int, r: random.Random) -> str:
    return "".join(r.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))


TIMES = ("4pm", "9:30am", "noon", "10am", "half past two", "quarter to five", "8:15am", "11am", "3pm", "6:45pm",
         "7pm", "2:30pm", "midday", "9am", "5pm")
CLOSING_TIMES = ("5pm", "6pm", "8pm", "9:30pm", "10pm", "midnight", "half past five", "6:45pm", "7pm", "4:30pm")


def _date_value(r: random.Random, split: str) -> Value:
    """An appointment's date: the answer keeps the core ("March 3 at 4pm"); "on"/"in" stay outside."""
    wd, mo, day, tm = r.choice(lx.WEEKDAYS), r.choice(lx.MONTHS), r.randint(1, 28), r.choice(TIMES)
    forms = (("on", wd, {"day"}), ("on", f"{wd} at {tm}", {"day", "time"}), ("on", f"{mo} {day}", {"day"}),
             ("on", f"{mo} {day} at {tm}", {"day", "time"}), ("on", f"{day} {mo}", {"day"}), ("in", mo, set()),
             ("", f"next {wd}", {"day"}), ("", f"next {wd} at {tm}", {"day", "time"}),
             ("", f"tomorrow at {tm}", {"time"}), ("on", f"the {ordinal(day)}", {"day"}), ("at", tm, {"time"}),
             ("at", f"{tm} on {wd}", {"day", "time"}), ("at", f"{tm} on {mo} {day}", {"day", "time"}))
    prep, core, tags = r.choice(forms)
    return Value(core, f"{prep} " if prep else "", "", frozenset(tags))


def venue(r: random.Random, split: str) -> str:
    """Where I meet someone: "the Old Bell", "the Fox and Anchor", "the noodle bar on Mill Lane"."""
    nouns = pool("VENUE_NOUNS", split)
    return r.choice((f"the {r.choice(pool('VENUE_ADJECTIVES', split))} {r.choice(nouns)}",
                     f"the {r.choice(nouns)} and {r.choice(nouns)}",
                     f"the {r.choice(lx.EATERIES)} on {r.choice(pool('STREET_NAMES', split))} {r.choice(lx.STREET_TYPES)}"))


def _home_value(r: random.Random, split: str) -> Value:
    kind = r.choice(("city", "city", "address", "landmark"))
    if kind == "city":
        return Value(r.choice(pool("CITIES", split)), "in ", "to ", frozenset({"city"}))
    if kind == "address":
        street = f"{r.choice(pool('STREET_NAMES', split))} {r.choice(lx.STREET_TYPES)}"
        return Value(f"{r.randint(1, 180)} {street}", "at ", "to ", frozenset({"address"}))
    place = f"{r.choice(lx.LANDMARK_PREPS)} {r.choice(pool('LANDMARKS', split))}"
    if kind == "landmark" and r.random() < 0.5:      # a street, and where on it: "on Harbour Street, above the bakery"
        street = f"{r.choice(pool('STREET_NAMES', split))} {r.choice(lx.STREET_TYPES)}"
        return Value(r.choice((street, f"{street}, {place}")), "on ", "to ", frozenset({"street"}))
    return Value(place, "", "to a flat ", frozenset({"landmark"}))


def _park_value(r: random.Random, split: str) -> Value:
    """Where a vehicle is parked: a bay ("in bay 12") or a level of a named car park ("on level 3 of the
    Westgate garage")."""
    if r.random() < 0.65:
        return Value(_fresh(r, split, lambda r: f"{r.choice(lx.PARKING_AREAS)} {r.randint(1, 140)}"), "in ")
    name = r.choice(pool("STREET_NAMES", split))
    garage = r.choice(("garage", "car park", "multi-storey", "parking garage"))
    floor = r.choice(("first", "second", "third", "fourth", "fifth"))
    level = r.choice((f"level {r.randint(1, 9)}", f"level {r.choice('ABCDE')}", f"the {floor} floor"))
    return r.choice((Value(f"{level} of the {name} {garage}", "on "), Value(f"the {name} {garage}", "in ")))


OWNED = 0.25   # share of places told by whose they are ("at Colm's house", "at St. Brigid's Hospital")


def owned_place(r: random.Random, split: str, kinds: Sequence[str], saint: bool = False) -> str:
    """A place named after a person: "Colm's house", "St. Brigid's Hospital", "St. Vincent's"."""
    name = r.choice(pool("FIRST_NAMES", split))
    kind = r.choice(kinds)
    return f"St. {name}'s{' ' + kind if kind else ''}" if saint else f"{name}'s {kind}"


SPOT_DESCRIBED = 0.2   # share of spots told with what they look like ("the blue plant pot")
SPOT_ANCHORED = 0.3    # share told with where in the house they are ("under the mat by the back door")


def _spot_value(r: random.Random, split: str) -> Value:
    """Where a thing is: "behind the bread bin", "at Colm's house", "under the blue plant pot by the back door"
    (the answer is the whole phrase: its last part alone names the wrong place)."""
    if r.random() < OWNED:
        return Value(f"{r.choice(('at', 'at', 'over at', 'round at'))} {owned_place(r, split, lx.OWNED_PLACES)}")
    preps, spots = r.choice(lx.SPOT_GROUPS)
    spot = r.choice([s for s in spots if split_of(s) == split])
    if r.random() < SPOT_DESCRIBED and spot.startswith("the ") and " of " not in spot:
        spot = f"the {r.choice(lx.SPOT_ADJECTIVES)} {spot[4:]}"
    if r.random() < SPOT_ANCHORED and " by " not in spot:
        anchors = [a for a in pool("SPOT_ANCHORS", split) if a.split()[-1] not in spot]
        spot = f"{spot} {r.choice(anchors)}"
    return Value(f"{r.choice(preps)} {spot}")


def _simple(maker):
    """A value maker from a function of the random generator alone, kept on the split's side."""
    return lambda r, split: Value(_fresh(r, split, maker))


def _work_value(r: random.Random, split: str) -> Value:
    """Where a person works: a workplace ("at the paper mill") or, one time in four, only a city ("works as a
    translator in Geneva" answers "Where does she work?")."""
    if r.random() < 0.25:
        return Value(r.choice(pool("CITIES", split)), "in ", "to ", frozenset({"city"}))
    if r.random() < OWNED:
        saint = r.random() < 0.6
        return Value(owned_place(r, split, lx.SAINT_PLACES if saint else lx.OWNED_WORKPLACES, saint), "at ", "to ",
                     frozenset({"place"}))
    if r.random() < ORG:
        name = r.choice(pool("STREET_NAMES", split) + pool("SURNAMES", split))
        org = r.choice((f"{name} {r.choice(lx.ORG_KINDS)}", f"{name} {r.choice(lx.ORG_KINDS)}",
                        f"{name} & {r.choice(pool('SURNAMES', split))}"))
        what = f"{r.choice(lx.ORG_SIZES)}{r.choice(lx.ORG_FIELDS)} {r.choice(lx.ORG_WORDS)}"
        said = "" if r.random() < 0.5 else f"{a_an(what)} {what} called "     # "at a small law firm called ..."
        return Value(org, f"at {said}", f"to {said}", frozenset({"place"}))
    return Value(r.choice(pool("WORKPLACES", split)), "at ", "to ", frozenset({"place"}))


ORG = 0.35     # share of workplaces that are named employers (lexicon.ORG_KINDS)


JOB_MODIFIED = 0.15   # share of jobs with a modifier (lexicon.JOB_MODIFIERS)


def _job_value(r: random.Random, split: str) -> Value:
    """A job, now and then with a word that makes it another ("a senior nurse"): the answer is the whole."""
    job = r.choice(pool("JOBS", split))
    if r.random() < JOB_MODIFIED:
        job = f"{r.choice(lx.JOB_MODIFIERS)} {job}"
    return Value(job, a_an(job))


def _ing(verb: str) -> str:
    """"teach" -> "teaching", "bake" -> "baking", "swim" -> "swimming" (the habit lexicon's verbs)."""
    if verb.endswith("e") and verb != "see":
        return verb[:-1] + "ing"
    return verb + verb[-1] + "ing" if verb in ("swim", "knit", "run") else verb + "ing"


def _from_pool(name: str):
    return lambda r, split: Value(r.choice(pool(name, split)))


def _with_article(make):
    """A value maker whose values also carry their article ("{a} {v}": "a Fiat 500", "an orange hatchback")."""
    return lambda r, split: (lambda v: replace(v, at=a_an(v.core)))(make(r, split))


def _hobby_value(r: random.Random, split: str) -> Value:
    """Something a person plays or speaks; the tag picks the verb ("plays the cello", "speaks Welsh")."""
    tag = r.choice(("instrument", "instrument", "sport", "language"))
    if tag == "instrument":
        return Value(r.choice(pool("INSTRUMENTS", split)), "the ", "", frozenset({tag}))
    return Value(r.choice(pool("SPORTS" if tag == "sport" else "LANGUAGES", split)), "", "", frozenset({tag}))


def _due_value(r: random.Random, split: str) -> Value:
    """An expiry or renewal date, in the text ("in June 2029", "on 3 March 2027")."""
    mo, day, year = r.choice(lx.MONTHS), r.randint(1, 28), r.randint(2025, 2034)
    prep, core = r.choice((("in ", f"{mo} {year}"), ("on ", f"{day} {mo} {year}"), ("on ", f"{mo} {day}, {year}"),
                           ("at the end of ", f"{mo} {year}"), ("on ", f"{day} {mo}"), ("in ", mo)))
    return Value(core, prep)


def past_date(r: random.Random) -> Value:
    """A day in the past, told in the text ("on 14 March", "on the 3rd of May")."""
    mo, day = r.choice(lx.MONTHS), r.randint(1, 28)
    prep, core = r.choice((("on ", f"{day} {mo}"), ("on ", f"{mo} {day}"), ("on ", f"the {ordinal(day)} of {mo}"),
                           ("on ", f"{day} {mo} {r.randint(2018, 2024)}"), ("in ", mo), ("on ", r.choice(lx.WEEKDAYS))))
    return Value(core, prep)


SIGNED = 0.45   # share of prices written with a currency sign ("£640", "$1,200"), as people mostly write them


def _price_value(r: random.Random, split: str) -> Value:
    """What something cost: "1200 euros", "49.99 pounds", "85 quid", "£640", "$1,200"."""
    n = r.choice((r.randint(5, 99), r.randint(100, 990), r.randint(10, 250) * 10, r.randint(1000, 4999)))
    amount = f"{n - 1}.99" if n < 500 and r.random() < 0.2 else str(n)
    if r.random() < SIGNED:
        return Value(f"{r.choice(lx.CURRENCY_SIGNS)}{f'{n:,}' if n >= 1000 and r.random() < 0.5 else amount}")
    return Value(f"{amount} {r.choice(lx.CURRENCIES)}")


NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()

VALUE_MAKERS = {
    "loc": _spot_value,
    "park": _park_value,
    "home": _home_value,
    "job": _job_value,
    "work": _work_value,
    "appt": _date_value,
    "hours": lambda r, split: Value(r.choice(CLOSING_TIMES), f"{r.choice(('until', 'till', 'until'))} "),
    "count": lambda r, split: Value((lambda n: r.choice((str(n), NUMBER_WORDS[n])))(r.randint(2, 9))),
    "pet": _from_pool("PET_NAMES"),
    "hobby": _hobby_value,
    "school": lambda r, split: Value(owned_place(r, split, lx.SAINT_SCHOOLS, saint=True) if r.random() < OWNED else
                                     f"{r.choice(pool('STREET_NAMES', split))} {r.choice(lx.SCHOOL_KINDS)}"),
    "study": _from_pool("SUBJECTS"),
    "due": _due_value,
    "price": _price_value,
    "debt": _price_value,
    "trip": _date_value,
    "meet": _date_value,
    "habit_time": lambda r, split: (lambda t: Value(t[1], t[0]))(r.choice(lx.HABIT_TIMES)),
}

# Attributes: name -> (scope, value maker, extra fact templates, extra question templates).
# Scope "home" owners are "the"/"our"/"my" household; "person" owners are me or someone else.
ATTRIBUTES = {
    "door code": ("home", _simple(_digits(4)), ("the code for the front door is {v}.",),
                  ("what's the code for the front door?",)),
    "wifi password": ("home", _simple(lambda r: f"{r.choice(lx.CODE_WORDS)}-{r.randint(2, 99)}"),
                      ("the password for the wifi is {v}.",), ("what's the password for the wifi?",)),
    "gate code": ("home", _simple(_digits(4)), (), ()),
    "alarm code": ("home", _simple(_digits(6)), ("to switch off the alarm you type {v}.",), ()),
    "garage code": ("home", _simple(_digits(5)), (), ()),
    "safe combination": ("home", _simple(lambda r: "-".join(str(r.randint(1, 60)) for _ in range(3))), (), ()),
    "router password": ("home", _simple(lambda r: f"{r.choice(lx.CODE_WORDS)}{r.randint(100, 9999)}"), (), ()),
    "parcel locker code": ("home", _simple(_digits(6)), (), ()),
    "postcode": ("home", _simple(lambda r: f"{_letters(2, r)}{r.randint(1, 19)} {r.randint(1, 9)}{_letters(2, r)}"),
                 (), ()),
    "flat number": ("home", _simple(lambda r: f"{r.randint(1, 40)}{r.choice('ABCD')}"), (), ()),
    "bin day": ("home", lambda r, s: Value(r.choice(lx.WEEKDAYS)), ("the bins go out on {v}.",), ("which day do the bins go out?",)),
    "wifi network name": ("home", _simple(lambda r: f"{r.choice(lx.CODE_WORDS)}-{r.choice(lx.CODE_WORDS)}"),
                          ("{ps} wifi network is called {v}.",), ()),
    "blood type": ("person", lambda r, s: Value(f"{r.choice(('A', 'B', 'AB', 'O'))} {r.choice(('positive', 'negative'))}"),
                   ("{p} {be} {v}, blood group-wise.",), ()),
    "shoe size": ("person", lambda r, s: Value(str(r.randint(35, 47))), ("{p} wear{s} size {v} shoes.",),
                  ("what size shoes {do} {p} wear?",)),
    "favourite colour": ("person", _from_pool("COLOURS"), ("{p} love{s} {v} more than any other colour.",),
                         ("which colour {do} {p} like best?",)),
    "allergy": ("person", _from_pool("ALLERGENS"), ("{p} {be} allergic to {v}.",), ("what {be} {p} allergic to?",)),
    "favourite food": ("person", _from_pool("FOODS"), ("{p} could eat {v} every single day.",),
                       ("what food {do} {p} like best?",)),
    "licence plate": ("person", _simple(lambda r: f"{_letters(2, r)}{r.randint(10, 99)} {_letters(3, r)}"),
                      ("the number plate on {ps} car is {v}.",), ("what's the registration of {ps} car?",)),
    "passport number": ("person", _simple(lambda r: f"{_letters(1, r)}{r.randint(1000000, 9999999)}"), (), ()),
    "phone number": ("person", _simple(lambda r: f"07{r.randint(100, 999)} {r.randint(100000, 999999)}"),
                     ("[other] {p} can be reached on {v}.",), ("[other] what number can I reach {p} on?",)),
    "locker number": ("person", _simple(lambda r: str(r.randint(1, 400))), (), ()),
    "gym membership number": ("person", _simple(_digits(8)), (), ()),
    "employee ID": ("person", _simple(lambda r: f"E{r.randint(10000, 99999)}"), (), ()),
    "bike lock code": ("person", _simple(_digits(4)), (), ()),
    "shirt size": ("person", lambda r, s: Value(r.choice(("S", "M", "L", "XL", "XXL"))), (), ()),
    "boiler pressure": ("home", _simple(lambda r: f"{r.choice(('1', '1.2', '1.5', '1.8', '2'))} bar"),
                        ("{ps} boiler pressure should be {v}.", "keep {ps} boiler pressure at {v}."),
                        ("what should {ps} boiler pressure be?",)),
    "tyre pressure": ("person", _simple(lambda r: f"{r.randint(28, 42)} psi"), ("the tyres on {ps} car need {v}.",),
                      ("what pressure do the tyres on {ps} car need?",)),
    "age": ("person", lambda r, s: Value((lambda n: r.choice((str(n), NUMBER_WORDS[n])) if n < len(NUMBER_WORDS)
                                         else str(n))(r.choice((r.randint(2, 12), r.randint(13, 90))))),
            ("{p} {be} {v} years old.", "{p} {be} {v}.", "{p} turned {v} this year.", "{p} {be} {v} years old now.",
             "{p} {be} {v} and full of energy.", "{p} {be} {v} but acts much older."),
            ("how old {be} {p}?", "what age {be} {p}?", "how old {be} {p} now?")),
    "least favourite food": ("person", _from_pool("DISLIKES"),
                             ("{p} {do}n't like {v}.", "{p} can't stand {v}.", "{p} hate{s} {v}.",
                              "{p} really dislike{s} {v}.", "{p} {do}n't eat {v}, {p} hate{s} it."),
                             ("what {do} {p} dislike?", "what food {do} {p} not like?", "what can't {p} stand?",
                              "which food {do} {p} hate?", "what {do} {p} refuse to eat?")),
    "birthday": ("person", _simple(lambda r: f"{r.randint(1, 28)} {r.choice(lx.MONTHS)}"),
                 ("{p} {be} born on {v}.",), ("when is {ps} birthday?",)),
    "car": ("person", _with_article(_from_pool("CAR_MODELS")),
            ("{p} drive{s} {a} {v}.", "{ps} car is {a} {v}.", "{p} {have} {a} {v}.", "{p} got {a} {v} last year."),
            ("what car {do} {p} drive?", "what kind of car {do} {p} have?", "what make is {ps} car?",
             "what car {do} {p} have?")),
    # car colours are few and common: both splits share them, as blood types and shirt sizes
    "car colour": ("person", _with_article(lambda r, s: Value(r.choice(lx.CAR_COLOURS))),
                   ("{ps} car is {v}.", "{p} drive{s} {a} {v} hatchback.", "{ps} car is {a} {v} estate.",
                    "{p} {have} {a} {v} car.", "{ps} car is the {v} one on the drive."),
                   ("what colour is {ps} car?", "what colour car {do} {p} drive?", "what colour {be} {ps} car?")),
}


# Attributes people tell of often, drawn this many times as often as the rest
COMMON_ATTRIBUTES = {"age": 4, "least favourite food": 3, "favourite food": 2, "allergy": 2}


# ---------------------------------------------------------------------------- templates
# "{v}" marks the value (the answer span). A leading "[tag,...] " limits a template to keys
# and values that have those tags. Templates start in lower case; the first letter is
# raised after any filler is put in front.


@dataclass(frozen=True)
class Spec:
    facts: tuple[str, ...]
    questions: tuple[str, ...]
    clauses: tuple[str, ...]  # embedded questions: requests and "When did I tell you ...?"
    updates: tuple[str, ...] = ()
    told: tuple[str, ...] = ()  # extra write-time questions


SPECS = {
    "loc": Spec(
        facts=("I stored {thing} {v}.", "I put {thing} {v}.", "I left {thing} {v}.", "{thing} {is} {v}.",
               "I keep {thing} {v}.", "I've hidden {thing} {v}.", "{thing} {is} kept {v}.", "you'll find {thing} {v}.",
               "I tucked {thing} away {v}.", "I packed {thing} {v} for now.", "{thing} {is} sitting {v}.",
               "just so I don't forget, {thing} {is} {v}."),
        updates=("I moved {thing}, {it_is} {v} now.", "{thing} {is} {v} now.", "actually, {thing} {is} {v}.",
                 "I've moved {thing} {v}.", "correction: {thing} {is} {v}, not {old}.",
                 "I took {thing} out and put {obj} {v}.", "{thing} {is} no longer {old}, {it_is} {v}."),
        questions=("where {is} {thing}?", "where did I put {thing}?", "where did I leave {thing}?",
                   "where can I find {thing}?", "where did I store {thing}?", "any idea where {thing} {is}?",
                   "where do I keep {thing}?", "where {is} {thing} now?"),
        clauses=("where {thing} {is}", "where I put {thing}", "where I left {thing}"),
        told=("when did I put {thing} {v}?",)),
    "park": Spec(
        facts=("I parked {veh} {at}{v}.", "{veh} is {at}{v}.", "{veh} is parked {at}{v}.", "I left {veh} {at}{v}.",
               "I found a space for {veh} {at}{v}.", "{veh} is sitting {at}{v}.", "{veh} is over {at}{v}.",
               "I squeezed {veh} into {v}.", "we parked {veh} {at}{v}.", "we left {veh} {at}{v}."),
        updates=("I moved {veh} to {v}.", "{veh} is {at}{v} now.", "I re-parked {veh} {at}{v}.",
                 "actually, {veh} is {at}{v}, not {old}."),
        questions=("where is {veh}?", "where did I park {veh}?", "where's {veh} parked?", "which spot is {veh} in?",
                   "where did I leave {veh}?", "[solo] where did I park?", "[solo] where did we park?",
                   "[solo] where are we parked?"),
        clauses=("where I parked {veh}", "where {veh} is"),
        told=("when did I park {veh}?",)),
    "holder": Spec(
        facts=("I gave {thing} to {v}.", "I lent {thing} to {v}.", "I lent {v} {thing}.", "{v} borrowed {thing}.",
               "{v} has {thing}.", "{v} took {thing} for the weekend.", "{thing} {is} with {v}.",
               "I handed {thing} over to {v}.", "{v} is borrowing {thing} for a while."),
        updates=("{prev} passed {thing} on to {v}.", "{v} has {thing} now.", "{prev} gave {thing} to {v}.",
                 "actually, {v} has {thing}, not {prev}.", "{thing} went from {prev} to {v}."),
        questions=("who has {thing}?", "who's got {thing}?", "who has {thing} at the moment?",
                   "which friend has {thing}?", "who is holding on to {thing}?", "who has {thing} right now?",
                   "do you know who has {thing}?", "to whom did I lend {thing}?", "to whom have I lent {thing}?"),
        clauses=("who has {thing}",),
        told=("when did I lend {thing} to {v}?", "when did {v} get {thing}?")),
    "lender": Spec(   # things I borrowed: "I borrowed a ladder from Sven." -> "Who lent me the ladder?" -> "Sven"
        facts=("I borrowed {thing_a} from {v}.", "{v} lent me {thing_a}.", "I'm borrowing {thing_a} from {v}.",
               "{v} let me borrow {thing_a}.", "I have {v}'s {bare} at the moment.", "I got {thing_a} on loan from {v}.",
               "{v} was kind enough to lend me {thing_a}."),
        questions=("who did I borrow {thing} from?", "who lent me {thing}?", "whose {bare} did I borrow?",
                   "whose {bare} do I have?", "who does {thing} belong to?", "who do I have to give {thing} back to?",
                   "who did I get {thing} from?", "from whom did I borrow {thing}?"),
        clauses=("who I borrowed {thing} from", "who lent me {thing}"),
        told=("when did I borrow {thing}?",)),
    "attr": Spec(
        facts=("{ps} {attr} is {v}.", "{v} is {ps} {attr}.", "{ps} {attr}: {v}.", "{ps} {attr} is set to {v}.",
               "note that {ps} {attr} is {v}.", "remember, {ps} {attr} is {v}."),
        updates=("{ps} {attr} is now {v}.", "{ps} {attr} changed to {v}.", "actually, {ps} {attr} is {v}.",
                 "{ps} {attr} isn't {old} any more, it's {v}.", "[home] they changed {ps} {attr} to {v}.",
                 "new {attr} for {p_obj}: {v}."),
        questions=("what is {ps} {attr}?", "what's {ps} {attr}?", "do you remember {ps} {attr}?",
                   "{ps} {attr}?", "what was {ps} {attr} again?", "can you tell me {ps} {attr}?"),
        clauses=("what {ps} {attr} is",),
        told=("when did I give you {ps} {attr}?",)),
    "rel": Spec(
        facts=("{R} is {v}.", "{R} is called {v}.", "{Rs} name is {v}.", "{v} is {R}.", "{R} goes by {v}.",
               "{R} is named {v}.", "the name of {R} is {v}."),
        questions=("who is {R}?", "what is {Rs} name?", "what's {R} called?", "what is {R} called?",
                   "who's {R} again?", "do you remember who {R} is?", "what's the name of {R}?"),
        clauses=("who {R} is", "what {R} is called", "what {Rs} name is")),
    "home": Spec(
        facts=("{p} live{s} {at}{v}.", "{p} live{s} {at}{v} these days.", "{p} {have} a flat {at}{v}.",
               "{p} {be} living {at}{v}.", "[address] {ps} address is {v}.", "{p} moved {to}{v} last year.",
               "[city] {p} {be} based in {v}.", "[other] home for {p} is {at}{v}.", "{p} moved {to}{v}.",
               "[me] home is {at}{v}.", "[me] I've lived {at}{v} for a few years now.", "[me] I'm living {at}{v}."),
        updates=("actually, {p} moved {to}{v}.", "{p} live{s} {at}{v} now.", "{p} {have} moved {to}{v}.",
                 "{p} just moved {to}{v}.", "[address] {ps} new address is {v}.",
                 "{p} {do}n't live {at_old}{old} any more, it's {at}{v} now."),
        questions=("where {do} {p} live?", "where {be} {p} living now?", "[city] which city {do} {p} live in?",
                   "[address,poss] what is {ps} address?", "[address,poss] what's {ps} address?",
                   "do you know where {p} live{s}?", "where {do} {p} live these days?", "[poss] where's {ps} place?"),
        clauses=("where {p} live{s}",)),
    "job": Spec(
        facts=("{p} work{s} as {a} {v}.", "{p} {be} {a} {v}.", "{p} {have} a job as {a} {v}.", "{p} {be} {a} {v} by trade.",
               "{p} earn{s} a living as {a} {v}.", "{p} work{s} as {a} {v} these days.", "{p} started working as {a} {v}.",
               "[me] I'm {a} {v}.", "[me] I'm {a} {v} at the moment."),
        updates=("{p} {be} {a} {v} now.", "{p} changed jobs and work{s} as {a} {v} now.", "actually, {p} work{s} as {a} {v}.",
                 "{p} retrained as {a} {v}.", "{p} got a new job as {a} {v}."),
        questions=("what {do} {p} do?", "what {do} {p} do for a living?", "[poss] what is {ps} job?",
                   "what job {do} {p} have?", "[poss] what's {ps} profession?", "what {do} {p} work as?",
                   "what kind of work {do} {p} do?"),
        clauses=("what {p} {do} for a living", "what {p} {do}")),
    "work": Spec(
        facts=("{p} work{s} {at}{v}.", "{p} {have} a job {at}{v}.", "{p} {be} employed {at}{v}.",
               "[place] {p} spend{s} all day at {v} for work.", "[place,poss] {ps} workplace is {v}.",
               "{p} {have} worked {at}{v} for years.", "[place] {p} {do} shifts at {v}.", "{p} started a job {at}{v}.",
               "[city] {p} commute{s} to {v} for work.", "[city,poss] {ps} job is in {v}.", "[me] I'm working {at}{v} these days."),
        updates=("{p} work{s} {at}{v} now.", "{p} moved jobs to {v}.", "actually, {p} work{s} {at}{v}, not {old}.",
                 "[city] {p} found a job in {v}."),
        questions=("where {do} {p} work?", "[place,poss] where is {ps} workplace?", "where {do} {p} have a job?",
                   "[place] which place {do} {p} work at?", "where {be} {p} employed?",
                   "[city] which city {do} {p} work in?", "[city] what city {do} {p} work in?"),
        clauses=("where {p} work{s}",)),
    "appt": Spec(
        facts=("{ev} is {at}{v}.", "I have {ev_a} {at}{v}.", "{ev} is booked for {v}.", "I booked {ev_a} for {v}.",
               "don't let me forget {ev}, it's {at}{v}.", "{ev} got scheduled for {v}.", "I've got {ev_a} {at}{v}."),
        updates=("{ev} moved to {v}.", "{ev} is now {at}{v}.", "they rescheduled {ev} to {v}.",
                 "actually, {ev} is {at}{v}.", "{ev} has been pushed to {v}."),
        questions=("when is {ev}?", "[time] what time is {ev}?", "[day] what day is {ev}?", "when's {ev}?",
                   "when is {ev} booked for?", "when do I have {ev}?"),
        clauses=("when {ev} is",)),
    "hours": Spec(
        facts=("{place} is open {at}{v}.", "{place} is open {at}{v} today.", "{place} stays open {at}{v}.",
               "on weekdays {place} is open {at}{v}.", "{place} is open {at}{v} on Saturdays.",
               "you can go to {place} {at}{v}.", "{place} closes at {v}.", "{place} shuts at {v} on weekdays.",
               "{place} closes at {v} on Saturdays.", "{place} doesn't close until {v}."),
        updates=("{place} is open {at}{v} now.", "actually, {place} stays open {at}{v}.",
                 "{place} changed its hours, it's open {at}{v} now.", "{place} closes at {v} now."),
        questions=("how late is {place} open?", "until when is {place} open?", "how long is {place} open?",
                   "how late does {place} stay open?", "what are the opening hours of {place}?",
                   "how long can I go to {place}?", "when does {place} close?", "what time does {place} close?",
                   "what time does {place} shut?"),
        clauses=("how late {place} is open",)),
    "count": Spec(
        facts=("{p} {have} {v} {noun}.", "{p} {have} got {v} {noun}.", "in total {p} {have} {v} {noun}.",
               "all in all {p} {have} {v} {noun}.", "{p} {have} exactly {v} {noun}.", "{p} {be} looking after {v} {noun}.",
               "{p} {have} {v} {noun}, which keeps {p_obj} busy.", "{p} {have} {v} {noun} and love{s} every one of them."),
        updates=("{p} {have} {v} {noun} now.", "now {p} {have} {v} {noun}.", "actually, {p} {have} {v} {noun}."),
        questions=("how many {noun} {do} {p} have?", "how many {noun} {have} {p} got?",
                   "do you know how many {noun} {p} {have}?", "what's the number of {noun} {p} {have}?",
                   "how many {noun} {be} {p} looking after?"),
        clauses=("how many {noun} {p} {have}",)),
    "pet": Spec(
        facts=("{ps} {animal} is called {v}.", "{ps} {animal}'s name is {v}.", "{ps} {animal} is named {v}.",
               "{p} {have} {animal_a} called {v}.", "{v} is {ps} {animal}.", "we named {ps} {animal} {v}.",
               "{p} {have} {animal_a} named {v}.", "[me] we have {animal_a} named {v}.", "[me] we've got {animal_a} called {v}.",
               "{ps} {animal} answers to {v}."),
        questions=("what is {ps} {animal} called?", "what's the name of {ps} {animal}?",
                   "what is {ps} {animal}'s name?", "what do we call {ps} {animal}?",
                   "which name does {ps} {animal} answer to?", "what was {ps} {animal} called again?"),
        clauses=("what {ps} {animal} is called",)),
    "hobby": Spec(
        facts=("[instrument] {p} play{s} {at}{v}.", "[instrument] {p} {have} been learning {at}{v} for years.",
               "[instrument] {p} play{s} {at}{v} in a local orchestra.", "[instrument] {p} took up {at}{v} last year.",
               "[sport] {p} play{s} {v}.", "[sport] {p} play{s} {v} every weekend.", "[sport] {p} {be} really into {v}.",
               "[sport] {p} play{s} {v} for a club.", "[language] {p} speak{s} {v}.", "[language] {p} speak{s} fluent {v}.",
               "[language] {p} grew up speaking {v}.", "[language] {p} {be} learning {v} at evening classes."),
        questions=("[instrument] what instrument {do} {p} play?", "[instrument] which instrument {do} {p} play?",
                   "[instrument] what {do} {p} play?", "[sport] what sport {do} {p} play?",
                   "[sport] which sport {be} {p} into?", "[sport] what sport {be} {p} into?",
                   "[language] what language {do} {p} speak?", "[language] which language {do} {p} speak?",
                   "[language] what language {be} {p} learning?"),
        clauses=("[instrument] what instrument {p} play{s}", "[sport] which sport {p} play{s}",
                 "[language] which language {p} speak{s}")),
    "school": Spec(
        facts=("{p} goes to {v}.", "{p} is at {v} now.", "{p} started at {v} this year.", "{p} is a pupil at {v}.",
               "{p} got a place at {v}.", "[poss] {ps} school is {v}."),
        updates=("{p} moved schools, {p} goes to {v} now.", "{p} changed schools to {v}.", "{p} is at {v} now.",
                 "actually, {p} goes to {v}, not {old}."),
        questions=("which school does {p} go to?", "where does {p} go to school?", "what school is {p} at?",
                   "[poss] what's the name of {ps} school?"),
        clauses=("which school {p} goes to",)),
    "study": Spec(
        facts=("{p} is studying {v}.", "{p} studies {v} at university.", "{p} is doing a degree in {v}.",
               "{p} is in the second year of a degree in {v}.", "{p} is studying {v} at college.",
               "{p} decided to study {v}.", "[poss] {ps} degree is in {v}.", "{p} is reading {v} at university."),
        updates=("{p} switched to {v}.", "{p} changed courses and studies {v} now.",
                 "actually, {p} is studying {v}, not {old}.", "{p} dropped {old} and is doing {v} now."),
        questions=("what is {p} studying?", "what does {p} study?", "what subject does {p} study?",
                   "[poss] what is {ps} degree in?", "what is {p} doing at university?", "which subject is {p} studying?"),
        clauses=("what {p} is studying", "what {p} studies")),
    "due": Spec(
        facts=("{ps} {dthing} {verb} {at}{v}.", "heads up: {ps} {dthing} {verb} {at}{v}.",
               "{ps} {dthing} is valid until {v}.", "I checked and {ps} {dthing} {verb} {at}{v}.",
               "{ps} {dthing} is due for renewal {at}{v}."),
        updates=("{ps} {dthing} was renewed, it {verb} {at}{v} now.", "{ps} {dthing} now {verb} {at}{v}.",
                 "I renewed {ps} {dthing}, it's valid until {v}."),
        questions=("when does {ps} {dthing} {base}?", "when does {ps} {dthing} {base} again?",
                   "how long is {ps} {dthing} valid?", "when is {ps} {dthing} due for renewal?",
                   "until when is {ps} {dthing} valid?"),
        clauses=("when {ps} {dthing} {verb}",)),
    "price": Spec(
        facts=("[me] {p} paid {v} for {ps} {item}.", "{ps} {item} cost {v}.", "[me] {p} bought {ps} {item} for {v}.",
               "[me] {p} spent {v} on {ps} {item}.", "{ps} {item} {was} {v}.", "[me] {p} got {ps} {item} for {v} in the sale.",
               "{ps} {item} set {p_obj} back {v}.", "the price of {ps} {item} was {v}.", "{ps} {item} came to {v} in the end.",
               "[me] we paid {v} for the {item}."),
        updates=("actually, {ps} {item} cost {v}, not {old}.", "[me] correction: {p} paid {v} for {ps} {item}.",
                 "{ps} {item} {was} reduced in the end, only {v}."),
        questions=("[me] how much did {p} pay for {ps} {item}?", "how much {was} {ps} {item}?", "how much did {ps} {item} cost?",
                   "what did {ps} {item} cost?", "[me] what did {p} pay for {ps} {item}?",
                   "[me] how much did {p} spend on {ps} {item}?", "what was the price of {ps} {item}?",
                   "[me] how much did we pay for the {item}?"),
        clauses=("[me] how much {p} paid for {ps} {item}", "what {ps} {item} cost"),
        told=("[me] when did {p} buy {ps} {item}?",)),
    "debt": Spec(   # money I owe someone: "I owe Felix 40 euros." -> "How much do I owe Felix?" -> "40 euros"
        facts=("I owe {p} {v}.", "I still owe {p} {v}.", "I borrowed {v} from {p}.", "{p} lent me {v}.",
               "I have to pay {p} back {v}.", "I need to pay {p} {v} back.", "{p} covered me, so I owe {p_obj} {v}."),
        updates=("I paid {p} back some, I owe {p_obj} {v} now.", "actually, I owe {p} {v}, not {old}.",
                 "I now owe {p} {v}.", "I borrowed a bit more from {p}, I owe {p_obj} {v} now."),
        questions=("how much do I owe {p}?", "how much money do I owe {p}?", "what do I owe {p}?",
                   "how much do I still owe {p}?", "how much do I need to pay {p} back?"),
        clauses=("how much I owe {p}",)),
    # Something a person does regularly ({vb} the verb, {vs} as the person takes it, {obj} what): "habit"
    # answers what, "habit_time" when ("Nadia teaches karate on Saturday afternoons.").
    "habit": Spec(
        facts=("{p} {vs} {v}.", "{p} {vs} {v} {when}.", "{when}, {p} {vs} {v}.", "{p} {vs} {v} in {pp} spare time.",
               "{p} {have} been {ving} {v} for years.", "{p} {vs} {v} {when} and love{s} it."),
        questions=("what {do} {p} {vb}?", "what {do} {p} {vb} these days?", "what is it that {p} {vs}?",
                   "do you remember what {p} {vs}?"),
        clauses=("what {p} {vs}",)),
    "habit_time": Spec(
        facts=("{p} {vs} {obj} {at}{v}.", "{p} {vs} {obj} {at}{v}, like clockwork.", "{p} usually {vs} {obj} {at}{v}.",
               "{p} {vs} {obj} {at}{v}, without fail."),
        questions=("when {do} {p} {vb} {obj}?", "what day {do} {p} {vb} {obj}?", "how often {do} {p} {vb} {obj}?",
                   "when is it that {p} {vs} {obj}?"),
        clauses=("when {p} {vs} {obj}",)),
    "meet": Spec(   # a meeting: "I'm meeting Yusuf for lunch on Sunday at the Old Bell."; where from {venue}
        facts=("I'm meeting {n} for {meal} {at}{v} at {venue}.", "I'm meeting {n} at {venue} {at}{v}.",
               "{at}{v} I'm having {meal} with {n} at {venue}.", "{n} and I are meeting at {venue} {at}{v}.",
               "I'm seeing {n} {at}{v}, we said {venue}.", "I've arranged to meet {n} at {venue} {at}{v}."),
        updates=("I moved {meal} with {n} to {v}.", "{n} asked to meet {at}{v} instead.",
                 "actually, I'm meeting {n} {at}{v}, not {old}."),
        questions=("when am I meeting {n}?", "when am I seeing {n}?", "when is {meal} with {n}?",
                   "when did I say I'd meet {n}?", "[day] what day am I meeting {n}?"),
        clauses=("when I'm meeting {n}",)),
    "trip": Spec(
        facts=("I'm flying to {dest} {at}{v}.", "we're flying to {dest} {at}{v}.", "my flight to {dest} is {at}{v}.",
               "I'm off to {dest} {at}{v}.", "we leave for {dest} {at}{v}.", "the trip to {dest} is {at}{v}.",
               "I'm taking the train to {dest} {at}{v}.", "we're driving down to {dest} {at}{v}.",
               "{at}{v} I'm going to {dest}."),
        updates=("my flight to {dest} moved to {v}.", "the trip to {dest} is now {at}{v}.",
                 "we're going to {dest} {at}{v} now, not {old}.", "they moved our flight to {dest} to {v}."),
        questions=("when am I flying to {dest}?", "when is my flight to {dest}?", "when are we going to {dest}?",
                   "when do we leave for {dest}?", "when is the trip to {dest}?", "[day] what day do I go to {dest}?",
                   "when am I off to {dest}?"),
        clauses=("when I'm going to {dest}", "when my flight to {dest} is")),
}

# Questions about a told fact that no statement of its kind answers: why, how it felt, who else was there, a detail
# never given ("Why did Priya move to Singapore?" after "Priya moved to Singapore in June."). The memory is found,
# but nothing in it is the answer: R must say so rather than copy the place or the date (LoCoMo's unanswerable
# questions are mostly of this shape: "What inspired Melanie's painting?" answered "tranquility"). Nothing here
# asks what another kind of fact could tell (an age, a colour liked, a job).
UNSAID = {
    "loc": ("why did I put {thing} {v}?", "who told me to keep {thing} {v}?", "what brand {is} {thing}?",
            "how long {has} {thing} been {v}?", "why do I keep {thing} there?"),
    "park": ("why did I park {veh} there?", "how long can I leave {veh} there?", "how much did it cost to park {veh} there?",
             "who parked {veh} last?"),
    "holder": ("why did {v} need {thing}?", "when will {v} give {thing} back?", "what is {v} using {thing} for?",
               "when am I getting {thing} back?",
               "how long has {v} had {thing}?"),
    "lender": ("why did I borrow {thing} from {v}?", "when do I have to give {thing} back to {v}?",
               "when do I need to return {thing}?",
               "what did I need {thing} for?"),
    "attr": ("who chose {ps} {attr}?", "who else knows {ps} {attr}?", "why is {ps} {attr} {v}?"),
    "rel": ("how did I meet {R}?", "how long have I known {R}?", "what does {R} think of me?",
            "why did {R} call me?"),
    "home": ("why did {p} move {to}{v}?", "what {do} {p} love most about living {at}{v}?", "who {do} {p} live with?",
             "how {do} {p} like {v}?", "what made {p_obj} choose {v}?"),
    "job": ("why did {p} become {a} {v}?", "what {do} {p} enjoy most about being {a} {v}?",
            "how {do} {p} feel about {pp} job?", "what inspired {p} to become {a} {v}?", "how much {do} {p} earn as {a} {v}?"),
    "work": ("what {do} {p} like about working {at}{v}?", "how {do} {p} get to work {at}{v}?",
             "why did {p} take the job {at}{v}?", "who {do} {p} work with {at}{v}?"),
    "appt": ("who is {ev} with?", "why do I have {ev_a}?", "how long will {ev} take?", "what should I bring to {ev}?"),
    "hours": ("how much does it cost to get into {place}?", "who runs {place}?", "how busy is {place} at weekends?"),
    "count": ("what are {ps} {noun} like?", "why {do} {p} have so many {noun}?"),
    "pet": ("what breed is {ps} {animal}?", "who looks after {ps} {animal} when {p} {be} away?",
            "why did {p} call {ps} {animal} {v}?", "what does {ps} {animal} like to eat?", "what kind of {animal} is {v}?"),
    "hobby": ("[instrument] who taught {p_obj} to play?", "[sport] which team {do} {p} play for?",
              "[language] why {be} {p} learning {v}?", "what got {p_obj} into {at}{v}?", "why {do} {p} love {at}{v}?"),
    "school": ("who is {ps} teacher at {v}?", "how does {p} get to {v}?", "what does {p} like best about {v}?"),
    "study": ("why did {p} choose {v}?", "what {do} {p} want to do after {pp} degree?",
              "how {be} {p} finding {v}?"),
    "due": ("how much does it cost to renew {ps} {dthing}?", "who reminded me about {ps} {dthing}?"),
    "price": ("[me] why did I buy {ps} {item}?", "what colour {was} {ps} {item}?", "who recommended {ps} {item}?"),
    "debt": ("why do I owe {p} money?", "when do I have to pay {p} back?", "what did {p} lend me the money for?"),
    "habit": ("why {do} {p} {vb} {v}?", "who {do} {p} {vb} {v} with?", "where {do} {p} {vb} {v}?"),
    "habit_time": ("where {do} {p} {vb} {obj}?", "who {do} {p} {vb} {obj} with?", "why {do} {p} {vb} {obj}?"),
    "meet": ("why am I meeting {n}?", "who else is coming when I meet {n}?", "what is {n} bringing?"),
    "trip": ("where am I staying in {dest}?", "why am I going to {dest}?", "who am I going to {dest} with?",
             "how long am I staying in {dest}?"),
}
# The same of something I did: "I renewed my passport yesterday." -> "Why did I renew my passport?"
DID_UNSAID = ("why {asked}?", "how did it go when {said}?", "who was with me when {said}?", "how much did it cost when {said}?")

# A detail told after a statement that ends with its answer, as reasons are: "My dog is called Biscuit, a beagle."
# answers "What breed is my dog?"; where none was told, the same question is unanswerable (UNSAID holds it too).
# Trained only on the unanswerable side, R learned that "What breed ...?" never has an answer, and declined it
# beside "Dog: Biscuit, a beagle.". Per kind: (its questions, how it is told after the fact, what it is).
DETAILS = {
    "pet": (("what breed is {ps} {animal}?", "what kind of {animal} is {v}?"), (", a {d}.", " and is a {d}."), "breed"),
    "holder": (("when will {v} give {thing} back?", "when am I getting {thing} back?"), (" until {d}.",), "day"),
    "lender": (("when do I have to give {thing} back to {v}?", "when do I need to return {thing}?"), (" until {d}.",),
               "day"),
    "appt": (("who is {ev} with?",), (" with {d}.",), "person"),
    "park": (("how much did it cost to park {veh} there?",), (", it cost {d}.", " for {d}."), "money"),
    "home": (("who {do} {p} live with?",), (" with {d}.",), "first"),
    "price": (("what colour {was} {ps} {item}?",), (", the {d} one.",), "colour"),
}
DETAILED = 0.3   # share of their statements (ending with the answer, no reason told) that tell a detail
ASIDED = 0.15    # share of the rest (ending with the answer) that go on with an aside (lexicon.ASIDES)
BREEDS = {"dog": "BREEDS_DOG", "cat": "BREEDS_CAT", "horse": "BREEDS_HORSE", "pony": "BREEDS_HORSE",
          "rabbit": "BREEDS_RABBIT"}

# "Who ...?" from a fact's value back to the person it names: "Who plays the cello?" -> "Luca".
INVERSE = {
    "home": ("who lives {at}{v}?", "[city] who do I know in {v}?", "[city] which of my friends lives in {v}?",
             "who lives {at}{v} these days?"),
    "job": ("who works as {a} {v}?", "who is {a} {v}?", "which of my friends is {a} {v}?", "who do I know who is {a} {v}?"),
    "work": ("who works {at}{v}?", "who has a job {at}{v}?", "[place] which friend works at {v}?",
             "[city] which friend works in {v}?"),
    "school": ("who goes to {v}?", "who is at {v}?", "which child goes to {v}?"),
    "study": ("who studies {v}?", "who is studying {v}?", "which friend is doing {v}?"),
    "meet": ("where am I meeting {n}?", "where are {n} and I meeting?", "where am I seeing {n}?",
             "where did I say I'd meet {n}?", "where am I having {meal} with {n}?"),
    "trip": ("where am I going {at}{v}?", "where am I flying {at}{v}?", "where are we off to {at}{v}?",
             "where am I travelling to {at}{v}?", "where do we go {at}{v}?"),
    "habit": ("who {vs} {v}?", "which friend {vs} {v}?", "who do I know who {vs} {v}?"),
    "hobby": ("[instrument] who plays {at}{v}?", "[instrument] which friend plays {at}{v}?", "[sport] who plays {v}?",
              "[sport] who is into {v}?", "[language] who speaks {v}?", "[language] which friend speaks {v}?"),
}

# Two facts about one person in one statement ("Lisa works as a nurse at St. James's Hospital."): {v} is the
# first kind's value, {w} the second's; {wat} is the second value's preposition.
JOINT = {
    ("job", "work"): ("{p} work{s} as {a} {v} {wat}{w}.", "[place] {p} {be} {a} {v} at {w}.",
                      "{p} {be} {a} {v} and work{s} {wat}{w}.", "{p} work{s} {wat}{w} as {a} {v}."),
    ("job", "home"): ("[city] {p} {be} {a} {v} in {w}.", "{p} work{s} as {a} {v} and live{s} {wat}{w}.",
                      "[city] {p} {be} {a} {v} based in {w}.", "{p} live{s} {wat}{w} and work{s} as {a} {v}."),
    ("work", "home"): ("{p} work{s} {at}{v} and live{s} {wat}{w}.", "{p} live{s} {wat}{w} and {have} a job {at}{v}."),
    ("school", "home"): ("{p} lives {wat}{w} and goes to {v}.",),
    ("study", "home"): ("[city] {p} is studying {v} in {w}.", "[city] {p} studies {v} in {w}.",
                        "{p} lives {wat}{w} and is studying {v}.", "[city] {p} is doing a degree in {v} in {w}."),
    ("hobby", "job"): ("[instrument] {p} is {wa} {w} who plays {at}{v}.", "[language] {p} is {wa} {w} who speaks {v}.",
                       "[sport] {p} works as {wa} {w} and plays {v}."),
}

# A relation told with a job before the name: "Callum's girlfriend is a vet named Rosa." ({n} the name).
NAMED = ("{R} is {a} {v} named {n}.", "{R} is {a} {v} called {n}.", "{R} is {a} {v} by the name of {n}.",
         "{R} is {a} {v}, {n} by name.")

# Someone gives a lent thing back: the holder fact is superseded by a location.
RETURNS = ("{prev} gave {thing} back, {it_is} {v} again.", "{prev} returned {thing} and I put {obj} {v}.",
           "got {thing} back from {prev}, {it_is} {v} now.")

# Ways to say "the person who ..." through a lent thing (hop 1 of a two-hop question).
# What was lent or borrowed, asked from the person ("What did I lend Tomasz?" -> "drill"): the thing's bare name
THING_QUESTIONS = {
    "holder": ("what did I lend {v}?", "what did I lend to {v}?", "what does {v} have of mine?", "what did I give {v}?",
               "which of my things does {v} have?", "what is {v} borrowing from me?"),
    "lender": ("what did I borrow from {v}?", "what did {v} lend me?", "what did I get from {v}?",
               "what have I got of {v}'s?", "what do I have to give back to {v}?"),
}

HOLDER_REFS = ("the person who has {thing}", "whoever has {thing}", "the friend who has {thing}",
               "the person holding on to {thing}")
# ... and, for the one I lent it to myself, how I lent it ("Where does the person who borrowed my drill live?")
LENT_REFS = ("the person who borrowed {thing}", "the person I lent {thing} to", "whoever borrowed {thing}",
             "the friend I lent {thing} to", "the person to whom I lent {thing}")
# The person I borrowed something from: "What does the person I borrowed the camping stove from do?"
LENDER_REFS = ("the person I borrowed {thing} from", "whoever lent me {thing}", "the friend who lent me {thing}",
               "the person who lent me {thing}", "the one I borrowed {thing} from")

# Things I did, told with a relative time: "I went to the dentist yesterday." -> "When did I go to the dentist?"
DID_TIMES = ("yesterday", "yesterday", "two days ago", "three days ago", "last week", "last weekend", "") + \
    tuple(f"last {d}" for d in lx.WEEKDAYS)
DID_FACTS = ("I {past} {when}.", "{when}, I {past}.", "I {past} {when}, finally.", "guess what, I {past} {when}.")
DID_QUESTIONS = ("when {asked}?", "what day {asked}?", "do you remember when {said}?", "when was it that {said}?")
DATED_FACTS = ("{said} {at}{v}.", "{at}{v}, {said}.", "just noting that {said} {at}{v}.", "{said} back {at}{v}.")

TOLD = ("when did I tell you {clause}?", "when did I mention {clause}?", "when did you learn {clause}?")
REQUESTS = ("remind me {clause}.", "tell me {clause}.", "can you remind me {clause}?", "do you know {clause}?",
            "could you tell me {clause}?", "I need to know {clause}.", "please remind me {clause}.",
            "can you tell me again {clause}?")
COMMANDS = ("remind me to call {name} tomorrow.", "set a timer for ten minutes.", "tell me a joke.",
            "can you help me plan my week?", "remind me to water the plants.", "make a note to buy milk.",
            "wake me at seven.", "tell me something nice.", "remind me to book {ev_a}.",
            "can you keep track of things for me?")
CHITCHAT = (
    "Hi there!", "Hello!", "Hey.", "Good morning!", "Evening!", "Thanks, that's helpful.", "Thank you!",
    "Cheers.", "lol ok", "haha", "ok", "OK cool.", "Great, thanks.", "Perfect.", "Nice one.", "Got it.",
    "Sounds good.", "Alright.", "Hmm.", "Wow.", "Brilliant!", "What a day.", "Ugh, Mondays.", "Sorry, typo.",
    "Never mind.", "No worries.", "Bye for now!", "See you later.", "Good night!", "You're the best.",
    "That's all for now.", "Oops.", "Yay!", "Fair enough.", "Right then.", "Oh well.", "Makes sense.",
    "Thanks a lot!", "ok thx", "k", "yes", "no", "Ha, nice.", "Back again.", "I'm back.", "One sec.",
    "Hang on.", "Sure.", "Cool cool.", "Lovely.", "Interesting.", "Oh no.", "Good to know.", "Noted.",
)
FACT_PREFIXES = ("by the way, ", "oh, and ", "just so you know, ", "also, ", "FYI ", "quick note: ",
                 "before I forget, ", "for the record, ", "OK so ", "right, ")
# Talk around a fact, as in real chat turns (LoCoMo's run to 28 words on average, often 100): a fact in the
# middle of a long turn must still be found and answered. Contentless on purpose: no names, places or things
# from the lexicons, so no filler sentence can answer a question.
FILLER_OPENERS = ("Hey!", "Hi!", "Oh wow.", "Ha, yes.", "So,", "Honestly,", "You know what?", "Good to hear from you!",
                  "Thanks for asking!", "Okay, so", "Sorry for the late reply.", "Long day today.")
FILLER_SUBJECTS = ("work has been", "things have been", "life has been", "this week has been", "the last few days have been",
                   "my schedule has been", "everything has been", "the weekend was", "today was", "the month has been")
FILLER_STATES = ("so busy", "really hectic", "pretty quiet", "a bit crazy", "super relaxing", "kind of a blur",
                 "exhausting but good", "surprisingly calm", "a lot", "all over the place")
FILLER_TAILS = ("lately", "to be honest", "if I'm being honest", "but I'm hanging in there", "and I'm ready for a break",
                "so I'm trying to slow down", "but in a good way", "as you can imagine", "")
FILLER_CLOSERS = ("Anyway, how are you doing?", "How about you?", "Hope your week is going well!",
                  "What have you been up to?", "Talk soon!", "Let me know how you're doing.",
                  "Can't wait to catch up properly.", "It's the little things, right?", "Anyway, enough about me.",
                  "I'll tell you more later.", "Life is funny like that.", "That made my day, honestly.",
                  "I'm so glad I did it.", "It felt really good.", "Not sure what I'd do without you.")
PADDED = 0.2   # share of fact turns told inside a longer turn

# When something happened, said after a fact whose answer is not a time: "Priya moved to Singapore in June." A
# month or a weekday after "in" or "on" must not read as the place ("Where does Priya live?" -> "June").
TIME_ADVERBS = ("in {month}", "in {month}", "last {month}", "back in {month}", "in early {month}", "in late {month}",
                "on {weekday}", "last {weekday}", "on {weekday} morning", "in {year}", "back in {year}",
                "in {month} {year}", "a few weeks ago", "earlier this year", "over the summer", "at Christmas")
TIMED_KINDS = ("home", "job", "work", "school", "study", "hobby")
TIMED = 0.6    # share of their statements of an event that say when
_EVENT = re.compile(r"\b(?:moved|started|got|took up|switched|retrained|decided)\b")
# Why, told after a statement of an event ("Priya moved to Singapore to be closer to family."): "Why did Priya move
# to Singapore?" is answered by it; asked where no reason was told, it is unanswerable (UNSAID). Trained on one
# without the other, R learns that "why" never has an answer, or always one.
REASONS = {"loc": "REASONS_LOC", "home": "REASONS_HOME", "job": "REASONS_WORK", "work": "REASONS_WORK", "study": "REASONS_STUDY",
           "hobby": "REASONS_HOBBY"}
REASONED = 0.3   # share of their statements (ending with the answer) that say why
WHY = {
    "loc": ("why did I put {thing} {v}?", "why do I keep {thing} {v}?", "why {is} {thing} {v}?"),
    "home": ("why did {p} move {to}{v}?", "what made {p_obj} move {to}{v}?", "why {do} {p} live {at}{v}?",
             "do you know why {p} moved {to}{v}?"),
    "job": ("why did {p} become {a} {v}?", "what made {p_obj} become {a} {v}?", "why {be} {p} {a} {v}?"),
    "work": ("why did {p} take the job {at}{v}?", "why {do} {p} work {at}{v}?", "what made {p_obj} work {at}{v}?"),
    "study": ("why did {p} choose {v}?", "why {be} {p} studying {v}?", "what made {p_obj} study {v}?"),
    "hobby": ("why did {p} take up {at}{v}?", "what got {p_obj} into {at}{v}?", "[instrument] why {do} {p} play {at}{v}?",
              "[sport] why {do} {p} play {v}?", "[language] why {be} {p} learning {v}?"),
}
_ASKS_WHY = re.compile(r"^(?:why|what made|what got|what inspired)\b")


def filler(r: random.Random) -> str:
    """One contentless sentence of chat: "Honestly, work has been so busy lately."."""
    opener = r.choice(FILLER_OPENERS) if r.random() < 0.35 else ""
    tail = r.choice(FILLER_TAILS)
    body = f"{r.choice(FILLER_SUBJECTS)} {r.choice(FILLER_STATES)}{' ' + tail if tail else ''}."
    if not opener or opener.endswith(("!", ".", "?")):    # a sentence of its own, not the opener's continuation
        body = body[0].upper() + body[1:]
    return f"{opener} {body}".lstrip()


def time_adverb(r: random.Random) -> str:
    return r.choice(TIME_ADVERBS).format(month=r.choice(lx.MONTHS), weekday=r.choice(lx.WEEKDAYS),
                                         year=r.randint(2008, 2024))


def pad(r: random.Random, text: str, starts: dict[str, int]) -> tuple[str, dict[str, int]]:
    """`text` told inside a longer turn, with chat before and after it; `starts` (offsets into text) shifted."""
    if r.random() >= PADDED:
        return text, starts
    before = " ".join(filler(r) for _ in range(r.choice((0, 1, 1, 2))))
    after = " ".join(r.choice((filler(r), r.choice(FILLER_CLOSERS))) for _ in range(r.choice((0, 1, 1, 2))))
    if not before and not after:
        after = r.choice(FILLER_CLOSERS)
    head = f"{before} " if before else ""
    return head + text + (f" {after}" if after else ""), {k: v + len(head) for k, v in starts.items()}


QUESTION_PREFIXES = ("hey, ", "quick question: ", "sorry, ", "um, ", "so ", "remind me, ", "hmm, ")


def _usable(templates, tags) -> list[str]:
    """Templates whose "[tags]" are all present, with the tag marker removed."""
    out = []
    for t in templates:
        if t.startswith("["):
            need, _, t = t[1:].partition("] ")
            if not set(need.split(",")) <= tags:
                continue
        out.append(t)
    return out


def render(template: str, slots: dict, value: str | None = None, prefix: str = "") -> tuple[str, int | None]:
    """Fill a template; return the text and where `value` ({v}) starts in it."""
    text, starts = render_many(template, slots, {"v": value or ""}, prefix)
    return text, (starts.get("v") if value is not None else None)


def render_many(template: str, slots: dict, values: dict[str, str], prefix: str = "") -> tuple[str, dict[str, int]]:
    """Fill a template with several values ({v}, {w}); return the text and where each value starts."""
    marks = {k: chr(i + 1) for i, k in enumerate(values)}
    filled = prefix + template.format(**{**slots, **marks})
    starts: dict[str, int] = {}
    text = ""
    for piece in re.split(f"([{''.join(marks.values())}])", filled):
        key = next((k for k, m in marks.items() if m == piece), None)
        if key is None:
            text += piece
        else:
            starts[key] = len(text)
            text += values[key]
    if text and starts.get("v") != 0 and starts.get("w") != 0:  # a value opening the sentence keeps its casing
        text = text[0].upper() + text[1:]
    return text, starts


# ---------------------------------------------------------------------------- the world


def _joint_id(kind: str, p: "Person"):
    """The key id of a person's fact of `kind` (as World.subject makes them)."""
    return (id(p), "hobby") if kind == "hobby" else id(p)


def _as_word(s: str) -> str:
    """A pattern of `s` as a whole word ("Ann" not inside "Anna" or "Ann-Marie")."""
    return rf"(?<![\w-]){re.escape(s)}(?![\w-])"


def _name_at(text: str, name: str) -> tuple[int, str] | None:
    """Where a person's name stands in a statement (as a whole word)."""
    m = re.search(_as_word(name), text)
    return (m.start(), name) if m else None


@dataclass
class Person:
    name: str  # as first introduced: "Henrike" or "Henrike Vos"
    refs: dict = field(default_factory=dict)  # ref id -> (text, turn that links it to the name)

    @property
    def first(self) -> str:
        return self.name.split()[0]


ME = Person("I")


@dataclass
class Key:
    """One thing a fact can be about, and its current value."""

    kind: str
    slots: dict
    person: Person | None = None
    value: Value | None = None
    history: list = field(default_factory=list)  # turns that stated it, oldest first
    ref: object = "name"  # how the newest statement named the person
    updated: bool = False
    holder: Person | None = None  # who has a lent thing now
    span: tuple[int, str] | None = None  # where the newest statement holds the value
    who: tuple[int, str] | None = None  # where the newest statement names the person, when it names them
    reason: tuple[int, str] | None = None  # where the newest statement tells why, when it does
    detail: tuple[int, str] | None = None  # where it tells a detail (DETAILS), when it does


PERSON_KINDS = ("home", "job", "work", "school", "study", "debt")  # about a person (me only for SELF_KINDS)
SELF_KINDS = ("home", "job", "work")  # "I work as a nurse at St. Mary's." -> "Where do I work?"
SELF = 0.25   # share of SELF_KINDS facts about me, while mine is untold
OWNER_KINDS = ("attr", "count", "pet", "hobby", "due", "price", "habit", "habit_time")  # about me or another person
FIXED_ATTRIBUTES = ("blood type", "birthday")  # never "changed" by a later statement
UPDATABLE = ("loc", "park", "holder", "attr", "home", "job", "work", "appt", "hours", "count", "school", "due",
             "study", "trip", "meet", "debt")
# Plans with a date and a place: "when" asks the date, "where" the place (the slot named here)
PLACED = {"trip": "dest", "meet": "venue"}


class World:
    """The state of one conversation while it is being written."""

    def __init__(self, rng: random.Random, split: str, start: float, pad_seed: int = 0):
        self.rng, self.split, self.clock = rng, split, start
        # padding draws from its own generator: the same seed gives the same facts and questions with or without it
        self.pad_rng = random.Random(pad_seed ^ 0x5EED)
        self.time_rng = random.Random(pad_seed ^ 0x71AE)   # the same for the times said after facts
        self.reason_rng = random.Random(pad_seed ^ 0x3A50)   # and for the reasons
        self.detail_rng = random.Random(pad_seed ^ 0xDE7A)   # and for the details
        self.aside_rng = random.Random(pad_seed ^ 0xA51D)    # and for the asides
        self.turns: list[Turn] = []
        self.keys: dict[tuple, Key] = {}
        self.people: list[Person] = []
        self.used: set[str] = set()  # entities mentioned so far: never reused for a new one
        self.asked: dict[str, int] = {q: 0 for q in QKINDS}
        self.last_asked: Key | None = None  # the same question twice in a row reads like a bug
        # things done: (turn, as asked after "when", as said, when as answered, where the text holds it or None)
        self.done: list[tuple[int, str, str, str, int | None]] = []

    # -- helpers

    def pick(self, options):
        options = [o for o in options if o not in self.used]
        return self.rng.choice(options) if options else None

    def tick(self) -> float:
        """Write times advance minutes within a session, days between sessions."""
        if self.turns and self.rng.random() < 0.12:
            self.clock += self.rng.uniform(0.4, 9) * 86400
        self.clock += self.rng.uniform(15, 400)
        return self.clock

    def add(self, turn: Turn) -> int:
        self.turns.append(turn)
        return len(self.turns) - 1

    def new_person(self) -> Person | None:
        first = self.pick(pool("FIRST_NAMES", self.split))
        if first is None:
            return None
        self.used.add(first)
        name = f"{first} {self.rng.choice(pool('SURNAMES', self.split))}" if self.rng.random() < 0.4 else first
        p = Person(name, {"name": (name, None)})
        self.people.append(p)
        return p

    def name_of(self, p: Person) -> str:
        return p.name if self.rng.random() < 0.5 else p.first

    def person_slots(self, p: Person, ref) -> dict:
        """Subject slots for me or for a person named by `ref` (name, relation or lent thing)."""
        if p is ME:
            return {"p": "I", "ps": "my", "p_obj": "me", "be": "am", "have": "have", "do": "do", "s": "", "tags": {"me", "poss"}}
        text = self.name_of(p) if ref == "name" else p.refs[ref][0]
        tags = {"other"} | ({"poss"} if ref == "name" or ref[0] == "rel" else set())
        return {"p": text, "ps": f"{text}'s", "p_obj": text, "be": "is", "have": "has", "do": "does", "s": "s",
                "tags": tags}

    def thing_slots(self, thing: str, det: str) -> dict:
        plural = thing in lx.PLURAL_THINGS
        return {"thing": f"{det} {thing}", "thing_a": f"some {thing}" if plural else f"{a_an(thing)} {thing}", "bare": thing,
                "is": "are" if plural else "is", "has": "have" if plural else "has", "it_is": "they're" if plural else "it's",
                "obj": "them" if plural else "it", "tags": {"plural"} if plural else set()}

    # -- subjects: a fresh entity for a fact or for an unanswerable question

    def owner(self) -> Person | None:
        r = self.rng.random()
        if r < 0.45:
            return ME
        if r < 0.6 or not self.people:  # "Lena's shoe size is 39." introduces Lena
            return self.new_person() or ME
        return self.rng.choice(self.people)

    def subject(self, kind: str) -> Key | None:
        """A key that has never been stated, or None when the lexicon is used up."""
        rng = self.rng
        if kind in ("loc", "holder", "lender"):
            thing = self.pick(pool("THINGS", self.split))
            det = "my" if kind == "holder" or (kind == "loc" and rng.random() < 0.6) else "the"
            return thing and Key(kind, {"_id": thing, **self.thing_slots(thing, det)})
        if kind == "park":
            veh = self.pick(lx.VEHICLES)
            return veh and Key(kind, {"_id": veh, "veh": f"{rng.choice(('my', 'the'))} {veh}", "tags": set()})
        if kind == "attr":
            p = self.owner()
            household = p is ME and rng.random() < 0.5  # codes of the house, or my own attributes
            options = [a for a, spec in ATTRIBUTES.items() if (spec[0] == "home") == household
                       for _ in range(COMMON_ATTRIBUTES.get(a, 1))]
            attr = self.pick([a for a in options if ("attr", (id(p), a)) not in self.keys])
            det = {"home": rng.choice(("the", "the", "our", "my"))}.get(ATTRIBUTES[attr][0]) if attr else None
            return attr and Key(kind, {"_id": (id(p), attr), "attr": attr, "det": det, "tags": set()}, p)
        if kind == "rel":
            return self.relation()
        if kind in PERSON_KINDS:
            people = [p for p in self.people if (kind, id(p)) not in self.keys]
            untold = kind in SELF_KINDS and (kind, id(ME)) not in self.keys      # mine, not yet said
            mine = untold and rng.random() < SELF
            p = ME if mine or (untold and not people) else rng.choice(people) if people else None
            return p and Key(kind, {"_id": id(p), "tags": set()}, p)
        if kind == "appt":
            ev = self.pick(lx.EVENTS)
            return ev and Key(kind, {"_id": ev, "ev": f"my {ev}", "ev_a": f"{a_an(ev)} {ev}", "tags": set()})
        if kind == "trip":
            dest = self.pick(pool("CITIES", self.split))
            return dest and Key(kind, {"_id": dest, "dest": dest, "tags": set()})
        if kind == "meet":
            person = rng.choice(self.people) if self.people and rng.random() < 0.5 else self.new_person()
            if person is None or ("meet", id(person)) in self.keys:
                return None
            name = self.name_of(person)
            return Key(kind, {"_id": id(person), "n": name, "meal": rng.choice(lx.MEALS), "venue": venue(rng, self.split),
                              "tags": set()})
        if kind == "hours":
            place = self.pick(pool("OPEN_PLACES", self.split) or lx.OPEN_PLACES)
            return place and Key(kind, {"_id": place, "place": place, "tags": set()})
        p = self.owner()
        if kind == "hobby":
            return None if ("hobby", (id(p), "hobby")) in self.keys else Key(kind, {"_id": (id(p), "hobby"), "tags": set()}, p)
        if kind == "due":
            due = self.rng.choice(lx.DUE_THINGS)
            if ("due", (id(p), due[0])) in self.keys:
                return None
            return Key(kind, {"_id": (id(p), due[0]), "dthing": due[0], "verb": due[1], "base": due[2], "tags": set()}, p)
        if kind == "price":
            item = self.pick([i for i in pool("PURCHASES", self.split) if ("price", (id(p), i)) not in self.keys])
            plural = item in lx.PLURAL_PURCHASES
            return item and Key(kind, {"_id": (id(p), item), "item": item, "was": "were" if plural else "was",
                                       "tags": set()}, p)
        if kind in ("habit", "habit_time"):      # one habit of a person per kind: "what does Nadia teach?"
            if (kind, (id(p), kind)) in self.keys:
                return None
            habit = self.pick(pool("HABITS", self.split))     # each habit told once in a conversation
            if habit is None:
                return None
            self.used.add(habit)
            base, third, obj = habit.split(",")
            when = "".join(self.rng.choice(lx.HABIT_TIMES))
            return Key(kind, {"_id": (id(p), kind), "vb": base, "third": third, "ving": _ing(base), "obj": obj,
                              "when": when, "tags": set()}, p)
        if kind == "count":
            noun = self.pick([n for n in lx.COUNTABLES if ("count", (id(p), n)) not in self.keys])
            return noun and Key(kind, {"_id": (id(p), noun), "noun": noun, "tags": set()}, p)
        animal = self.pick([a for a in lx.ANIMALS if ("pet", (id(p), a)) not in self.keys])
        return animal and Key(kind, {"_id": (id(p), animal), "animal": animal,
                                     "animal_a": f"{a_an(animal)} {animal}", "tags": set()}, p)

    def relation(self) -> Key | None:
        """A relation phrase nobody has yet: "my dentist", "Lena's piano tutor", "my cousin's wife"."""
        rng = self.rng
        taken = {k.slots["R"] for k in self.keys.values() if k.kind == "rel"}
        r = rng.random()
        if r < 0.2 and self.people:
            R = f"{rng.choice(self.people).first}'s {rng.choice(lx.RELATIONS)}"
        elif r < 0.4:
            R = f"my {rng.choice(lx.RELATIONS)}'s {rng.choice(lx.SECOND_RELATIONS)}"
        else:
            R = f"my {rng.choice(lx.RELATIONS)}"
        if R in taken:
            return None
        return Key("rel", {"_id": R, "R": R, "Rs": f"{R}'s", "tags": set()})

    # -- statements

    def slots(self, key: Key, ref, value: Value | None) -> dict:
        s = dict(key.slots)
        if key.kind == "attr" and s["det"]:  # a household attribute has a determiner, not an owner
            s.update({"ps": s["det"], "p_obj": "the house", "tags": set(s["tags"]) | {"home"}})
        elif key.person is not None:
            ps = self.person_slots(key.person, ref)
            s.update(ps, tags=set(s["tags"]) | ps["tags"])
        s["pp"] = "my" if key.person is ME else "their"
        if "third" in s:        # a habit's verb agrees with its person: "I teach", "Nadia teaches"
            s["vs"] = s["vb"] if key.person is ME else s["third"]
        if value is not None:
            s.update(at=value.at, to=value.to, a=value.at, tags=s["tags"] | value.tags)
        return s

    def state(self, key: Key, value: Value, templates, kind: str = "fact", extra: dict | None = None) -> int:
        """Write one fact turn about `key` with `value` and make it the key's newest statement."""
        ref = self.statement_ref(key.person)
        s = {**self.slots(key, ref, value), **(extra or {})}
        prefix = self.rng.choice(FACT_PREFIXES) if self.rng.random() < 0.2 else ""
        text, start = render(self.rng.choice(_usable(templates, s["tags"])), s, value.core, prefix)
        said = self.timed(key.kind, text, start, value.core)
        ends = start is not None and (said != text or text[start:] == value.core + ".")
        text, reason = self.reasoned(key.kind, said, ends, s)
        text, detail = (text, None) if reason else self.detailed(key.kind, text, ends, s)
        if not reason and not detail:
            text = self.asided(text, ends)
        starts = {k: v for k, v in (("v", start), ("r", reason and reason[0]), ("d", detail and detail[0]))
                  if v is not None}
        text, starts = pad(self.pad_rng, text, starts)
        i = self.record(key, value, ref, text, starts.get("v"), kind, s)
        key.reason = reason and (starts["r"], reason[1])
        key.detail = detail and (starts["d"], detail[1])
        return i

    def timed(self, kind: str, text: str, start: int | None, core: str) -> str:
        """A statement of an event that ends with its answer may say when, after it: "Priya moved to Singapore
        in June." (the month stays outside the span)."""
        if kind in TIMED_KINDS and start is not None and text == text[:start] + core + "." and _EVENT.search(text) \
                and not re.search(r"\b(?:has|just)\b", text) and self.time_rng.random() < TIMED:
            return f"{text[:-1]} {time_adverb(self.time_rng)}."
        return text

    def reasoned(self, kind: str, text: str, ends: bool, s: dict) -> tuple[str, tuple[int, str] | None]:
        """A statement that ends with its answer (`ends`; a time after it allowed) may say why, at its end: "Priya
        moved to Singapore in June to be closer to family." Returns the text and (where the reason starts, the
        reason)."""
        if kind in REASONS and ends and "address" not in text.lower() and self.reason_rng.random() < REASONED:
            why = self.reason_rng.choice(pool(REASONS[kind], self.split)).format(obj=s.get("obj", "it"))
            return f"{text[:-1]} {why}.", (len(text), why)
        return text, None

    def detailed(self, kind: str, text: str, ends: bool, s: dict) -> tuple[str, tuple[int, str] | None]:
        """A statement that ends with its answer may tell a detail (DETAILS) at its end: "My dog is called
        Biscuit, a beagle." Returns the text and (where the detail starts, the detail)."""
        if kind not in DETAILS or not ends or self.detail_rng.random() >= DETAILED:
            return text, None
        _, tells, what = DETAILS[kind]
        d = self.detail_value(what, s)
        if d is None:
            return text, None
        head = self.detail_rng.choice(tells).split("{d}")
        if head[0].endswith(" a "):      # "a beagle", "an Arab"
            head[0] = head[0][:-2] + a_an(d) + " "
        return f"{text[:-1]}{head[0]}{d}{head[1]}", (len(text) - 1 + len(head[0]), d)

    def asided(self, text: str, ends: bool) -> str:
        """A statement that ends with its answer may go on past it with an aside (lexicon.ASIDES): "I'm allergic
        to shellfish fr.", "My locker number is 117 (for now).": the answer still ends where it did."""
        if not ends or not text.endswith(".") or self.aside_rng.random() >= ASIDED:
            return text
        aside = self.aside_rng.choice(lx.ASIDES)
        return f"{text[:-1]}{'' if aside.startswith(',') else ' '}{aside}."

    def detail_value(self, what: str, s: dict) -> str | None:
        r = self.detail_rng
        if what == "breed":
            return r.choice(pool(BREEDS[s["animal"]], self.split)) if s.get("animal") in BREEDS else None
        if what == "day":
            return r.choice((r.choice(lx.WEEKDAYS), f"next {r.choice(lx.WEEKDAYS)}", f"the end of {r.choice(lx.MONTHS)}",
                             r.choice(lx.MONTHS), "the weekend", f"the {ordinal(r.randint(1, 28))}"))
        if what == "money":      # to park: a few coins' worth
            return f"{r.randint(2, 30)}{r.choice(('', '.50'))} {r.choice(lx.CURRENCIES)}"
        if what == "colour":
            return r.choice(pool("COLOURS", self.split))
        first = [n for n in pool("FIRST_NAMES", self.split) if n not in self.used]
        if not first:
            return None
        name = r.choice(first)
        self.used.add(name)              # no later person is given the name: the detail names no one else
        if what == "person":
            return f"Dr. {r.choice(pool('SURNAMES', self.split))}" if r.random() < 0.5 else \
                f"{name} {r.choice(pool('SURNAMES', self.split))}"
        return name

    def padded(self, text: str, start: int | None) -> tuple[str, int | None]:
        """`text` with `start` (where its answer begins, or None), perhaps told inside a longer turn."""
        text, starts = pad(self.pad_rng, text, {} if start is None else {"v": start})
        return text, starts.get("v")

    def record(self, key: Key, value: Value, ref, text: str, start: int, kind: str, s: dict) -> int:
        """Add the statement turn `text` stating `value` (at `start`) as `key`'s newest."""
        supersedes = key.history[-1] if key.history else None
        i = self.add(Turn(text, kind, self.tick(), True, False, supersedes=supersedes if kind == "update" else None))
        key.span = (start, value.core)
        key.who = _name_at(text, s["p"]) if ref == "name" and "p" in s else None
        if key.kind in PLACED:          # "Where am I going on Friday?" is answered by the destination
            key.who = _name_at(text, s[PLACED[key.kind]])
        key.value, key.ref, key.updated, key.reason, key.detail = value, ref, kind == "update", None, None
        key.history.append(i)
        return i

    def statement_ref(self, p: Person | None):
        """Facts name a person by name or by a relation phrase, never through a lent thing."""
        if p is None or p is ME:
            return "me" if p is ME else None
        refs = [r for r in p.refs if r == "name" or r[0] == "rel"]
        return "name" if self.rng.random() < 0.6 else self.rng.choice(refs)

    def value_for(self, key: Key) -> Value:
        if key.kind == "habit":          # what the habit is about, chosen with its verb (subject)
            return Value(key.slots["obj"])
        if key.kind == "attr":
            return ATTRIBUTES[key.slots["attr"]][1](self.rng, self.split)
        return VALUE_MAKERS[key.kind](self.rng, self.split)

    def templates(self, key: Key, part: str) -> tuple[str, ...]:
        base = getattr(SPECS[key.kind], part)
        if key.kind == "attr":  # attribute-specific shapes ride along with the generic ones
            extra = ATTRIBUTES[key.slots["attr"]][2 if part == "facts" else 3]
            return base + extra if part in ("facts", "questions") else base
        return base

    def new_fact(self, kind: str) -> bool:
        if kind == "rel":
            return self.new_relation()
        if kind == "holder":
            return self.lend()
        if kind == "lender":
            return self.borrow()
        key = self.subject(kind)
        if key is None:
            return False
        if isinstance(key.slots["_id"], str):
            self.used.add(key.slots["_id"])
        self.keys[(kind, key.slots["_id"])] = key
        self.state(key, self.value_for(key), self.templates(key, "facts"))
        return True

    def new_relation(self) -> bool:
        key = self.subject("rel")
        person = key and self.new_person()
        if person is None:
            return False
        name = self.titled(key.slots["R"], person)
        i = self.state(key, Value(name), SPECS["rel"].facts)
        person.refs[("rel", key.slots["R"])] = (key.slots["R"], i)
        self.keys[("rel", key.slots["R"])] = key
        return True

    def titled(self, R: str, person: Person) -> str:
        """A doctor or a landlord may be named with a title: "Dr. Amara Obi", "Mrs. Haddad"."""
        last = R.split("'s ")[-1].removeprefix("my ")
        if " " not in person.name or self.rng.random() < 0.4 or last not in lx.DOCTORS | lx.TITLED:
            return person.name
        title = "Dr." if last in lx.DOCTORS else self.rng.choice(("Mr.", "Mrs.", "Ms.", "Mr", "Mrs"))
        return f"{title} {person.name if self.rng.random() < 0.6 else person.name.split()[-1]}"

    def introduce(self) -> bool:
        """A new person told with a relation and a fact in one statement: "My sister Ingrid is a vet in Bergen."."""
        rel = self.subject("rel")
        person = rel and self.new_person()
        if person is None:
            return False
        R, name = rel.slots["R"], self.name_of(person)
        kinds = self.rng.choice((("home",), ("job",), ("work",), ("hobby",), ("school",), ("study",)) + tuple(JOINT))
        appos = f"{R} {name}" if self.rng.random() < 0.75 else f"{name}, {R},"
        if self.rng.random() < 0.2:         # "Callum's girlfriend is a vet named Rosa."
            i = self.joint(person, ("job",), None, name, NAMED, {"R": R, "n": name})
        else:
            i = self.joint(person, kinds, appos, name)
        if i is None:
            return False
        rel.history.append(i)
        rel.value, rel.span, rel.ref = Value(name), _name_at(self.turns[i].text, name), None
        person.refs[("rel", R)] = (R, i)
        self.keys[("rel", R)] = rel
        return True

    def two_facts(self) -> bool:
        """Two facts about one person in one statement: "Lisa works as a nurse at St. James's Hospital."."""
        kinds = self.rng.choice(tuple(JOINT))
        if set(kinds) <= set(SELF_KINDS) and self.rng.random() < SELF:     # "I work as a nurse at St. Mary's."
            return self.joint(ME, kinds, None, "I") is not None
        people = [p for p in self.people if not any((k, _joint_id(k, p)) in self.keys for k in kinds)]
        person = self.rng.choice(people) if people and self.rng.random() < 0.5 else self.new_person()
        if person is None:
            return False
        return self.joint(person, kinds, None, self.name_of(person)) is not None

    def joint(self, person: Person, kinds: tuple[str, ...], appos: str | None, name: str,
              shapes: tuple[str, ...] = (), extra: dict | None = None) -> int | None:
        """State the facts of `kinds` about `person` in one turn, named by `appos` (a relation and a name) or by
        `name` (or in one of `shapes`, with the `extra` slots); every key's newest statement is that turn."""
        keys = [Key(k, {"_id": _joint_id(k, person), "tags": set()}, person) for k in kinds]
        if any((k.kind, k.slots["_id"]) in self.keys for k in keys):
            return None
        values = [self.value_for(k) for k in keys]
        s = self.slots(keys[0], "name", values[0])
        if person is not ME:
            s.update(p=appos or name, ps=f"{appos or name}'s", p_obj=name)
        if len(keys) == 2:
            w = values[1]
            s.update(wat=w.at, wa=a_an(w.core), tags=s["tags"] | w.tags)
            options = _usable(JOINT[kinds], s["tags"])
        else:
            options = [t for t in _usable(self.templates(keys[0], "facts"), s["tags"]) if "{ps}" not in t]
        if appos and appos.endswith(","):      # "Ingrid, my sister, lives in Bergen."
            options = [t for t in options if t.startswith("{p} ") and "{ps}" not in t]
        if shapes:
            options = _usable(shapes, s["tags"])
            s.update(extra or {})
        if not options:
            return None
        text, starts = render_many(self.rng.choice(options), s, {"v": values[0].core, "w": values[-1].core})
        # "My best friend Priya moved to Singapore in June."
        text = self.timed(keys[-1].kind, text, starts.get("w" if len(keys) == 2 else "v"), values[-1].core)
        text, starts = pad(self.pad_rng, text, starts)
        i, ref = None, "me" if person is ME else "name"
        for key, value, mark in zip(keys, values, "vw"):
            self.keys[(key.kind, key.slots["_id"])] = key
            if i is None:
                i = self.record(key, value, ref, text, starts[mark], "fact", {"p": name})
            else:                               # the same turn states the second fact too
                key.span, key.value, key.ref = (starts[mark], value.core), value, ref
                key.who = _name_at(text, name) if ref == "name" else None
                key.history.append(i)
        return i

    def lend(self) -> bool:
        key = self.subject("holder")
        if key is None:
            return False
        person = self.new_person() if not self.people or self.rng.random() < 0.5 else self.rng.choice(self.people)
        if person is None:
            return False
        thing = key.slots["_id"]
        self.used.add(thing)
        self.keys[("holder", thing)] = key
        value = Value(self.name_of(person))
        templates, extra = self.with_relation(person, SPECS["holder"].facts)
        i = self.state(key, value, templates, extra=extra)
        self.give(key, person, i, lent=True)
        return True

    def borrow(self) -> bool:
        key = self.subject("lender")
        person = key and (self.new_person() if not self.people or self.rng.random() < 0.5 else self.rng.choice(self.people))
        if person is None:
            return False
        self.used.add(key.slots["_id"])
        self.keys[("lender", key.slots["_id"])] = key
        value = Value(self.name_of(person))
        templates, extra = self.with_relation(person, SPECS["lender"].facts)
        i = self.state(key, value, templates, extra=extra)
        person.refs[("lender", key.slots["_id"])] = (self.rng.choice(LENDER_REFS).format(**key.slots), i)
        return True

    def with_relation(self, person: Person, templates: tuple[str, ...]) -> tuple[tuple[str, ...], dict | None]:
        """A person's name told with their relation, where one is known ("I borrowed a ladder from my neighbour
        Sven."): the name stays the answer. Returns state()'s templates and extra slots."""
        rels = [r for r in person.refs if r != "name" and r[0] == "rel"]
        if not rels or self.rng.random() >= 0.4:
            return templates, None
        R = person.refs[self.rng.choice(rels)][0]
        return tuple(t.replace("{v}", "{R} {v}") for t in templates), {"R": R}

    def give(self, key: Key, person: Person | None, turn: int, lent: bool = False) -> None:
        """Move the "whoever has my drill" reference to the new holder (or to nobody); `lent`: I lent it to them."""
        ref = ("holder", key.slots["_id"])
        for p in self.people:
            p.refs.pop(ref, None)
        if person is not None:
            text = self.rng.choice(HOLDER_REFS + LENT_REFS if lent else HOLDER_REFS).format(**key.slots)
            person.refs[ref] = (text, turn)
        key.holder = person

    def update(self) -> bool:
        keys = [k for k in self.keys.values()
                if k.kind in UPDATABLE and k.history and k.slots.get("attr") not in FIXED_ATTRIBUTES]
        if not keys:
            return False
        key = self.rng.choice(keys)
        old = key.value.core
        extra = {"old": old, "at_old": key.value.at}
        if key.kind == "holder":
            return self.hand_on(key)
        value = self.value_for(key)
        if value.core == old:
            return False
        self.state(key, value, self.templates(key, "updates"), "update", extra)
        return True

    def hand_on(self, key: Key) -> bool:
        """A lent thing goes to someone else, or comes back and is put somewhere."""
        prev = key.holder
        thing = key.slots["_id"]
        extra = {"prev": self.name_of(prev)}
        if self.rng.random() < 0.4:  # returned: the holder fact gives way to a location fact
            del self.keys[("holder", thing)]
            self.give(key, None, 0)
            loc = Key("loc", dict(key.slots), history=list(key.history))
            self.keys[("loc", thing)] = loc
            self.state(loc, self.value_for(loc), RETURNS, "update", extra)
            return True
        others = [p for p in self.people if p is not prev]
        person = self.rng.choice(others) if others and self.rng.random() < 0.5 else self.new_person()
        if person is None:
            return False
        i = self.state(key, Value(self.name_of(person)), SPECS["holder"].updates, "update", extra)
        self.give(key, person, i)
        return True

    # -- questions

    def plans(self) -> list[tuple[str, Key, object]]:
        """Every question that can be asked now: (qkind, key, how to name its person)."""
        out = []
        for key in self.keys.values():
            one_hop = "update" if key.updated else ("who" if key.kind in ("rel", "holder", "lender") else
                                                    "when" if key.kind in ("appt", "due", "habit_time", *PLACED) else "single")
            out.append((one_hop, key, key.ref))
            p = key.person
            if p is not None and p is not ME:
                for ref in p.refs:  # the other name for the person: one more hop
                    if ref != key.ref and "name" in (ref, key.ref):
                        # told in one statement ("My sister Ingrid lives in Bergen."): still one hop
                        out.append(("two_hop" if p.refs[ref][1] != key.history[-1] else one_hop, key, ref))
                if key.kind in INVERSE and key.who and self.only_statement(key):
                    out.append(("who", key, "inverse"))
            if key.kind in PLACED and key.who and self.only_statement(key):
                out.append(("single", key, "inverse"))
            if len(key.history) == 1 and not key.updated and key.kind not in PLACED:
                out.append(("when", key, "told"))
            if key.kind in THING_QUESTIONS and len(key.history) == 1 and self.sole_thing(key):
                out.append(("single", key, "thing"))
            if key.reason is not None:
                out.append(("single", key, "why"))
            if key.detail is not None:
                out.append(("single", key, "detail"))
        return out

    def sole_thing(self, key: Key) -> bool:
        """The only thing lent to (or borrowed from) the person its statement names: "What did I lend Tomasz?"
        has one answer."""
        first = key.value.core.split()[-1 if key.value.core.startswith(("Dr.", "Mr", "Mrs", "Ms")) else 0]
        return not any(k is not key and k.kind == key.kind and k.value is not None and first in k.value.core.split()
                       for k in self.keys.values())

    def only_statement(self, key: Key) -> bool:
        """No other statement holds the key's value: "Who lives in Bergen?" has one answer."""
        core, newest = key.value.core.lower(), key.history[-1]
        return not any(t.is_fact and core in t.text.lower() for i, t in enumerate(self.turns) if i != newest)

    def ask(self, request: bool = False, only: str | None = None) -> bool:
        """A question about what was told (`only`: "why" something was done, where a reason was told, or a told
        "detail")."""
        plans = [pl for pl in self.plans() if pl[1] is not self.last_asked and only in (None, pl[2])]
        if request:
            plans = [pl for pl in plans if pl[0] != "two_hop" and pl[2] not in ("told", "inverse", "why", "detail")]
        if not plans:
            return False
        # in a fixed order before the random tie-break: set order changes from one process to the next
        kinds = sorted(sorted({pl[0] for pl in plans}), key=lambda q: (self.asked[q], self.rng.random()))
        qkind = kinds[0]
        _, key, ref = self.rng.choice([pl for pl in plans if pl[0] == qkind])
        newest = key.history[-1]
        told, inverse, thing, why, detail = (ref == r for r in ("told", "inverse", "thing", "why", "detail"))
        s = self.slots(key, key.ref if told or inverse or thing or why or detail else ref, key.value)
        if key.kind == "park" and sum(k.kind == "park" for k in self.keys.values()) == 1:
            s["tags"] = s["tags"] | {"solo"}   # the only vehicle told of: "Where did I park?"
        support = [newest]
        if qkind == "two_hop":
            hop1 = ref if ref != "name" else key.ref
            support = [key.person.refs[hop1][1], newest]
        spec = SPECS[key.kind]
        start, answer = key.span
        if told:
            clause = self.rng.choice(_usable(spec.clauses, s["tags"])).format(**s)
            template = self.rng.choice(_usable(spec.told + TOLD, s["tags"]))
            text, _ = render(template, {**s, "clause": clause}, answer)
            answer, answer_support, start = date_phrase(self.turns[newest].created), None, None
        elif inverse:
            text, _ = render(self.rng.choice(_usable(INVERSE[key.kind], s["tags"])), s, key.value.core)
            (start, answer), answer_support = key.who, newest
        elif why:
            text, _ = render(self.rng.choice(_usable(WHY[key.kind], s["tags"])), s, key.value.core)
            (start, answer), answer_support = key.reason, newest
        elif detail:
            text, _ = render(self.rng.choice(DETAILS[key.kind][0]), s, key.value.core)
            (start, answer), answer_support = key.detail, newest
        elif thing:
            text, _ = render(self.rng.choice(THING_QUESTIONS[key.kind]), s, key.value.core)
            answer, answer_support = s["bare"], newest
            m = re.search(_as_word(answer), self.turns[newest].text)
            start = m.start() if m else None
        else:
            if request:
                clause = self.rng.choice(_usable(spec.clauses, s["tags"])).format(**s)
                text, _ = render(self.rng.choice(REQUESTS), {"clause": clause})
            else:
                prefix = self.rng.choice(QUESTION_PREFIXES) if self.rng.random() < 0.15 else ""
                text, _ = render(self.rng.choice(_usable(self.templates(key, "questions"), s["tags"])), s, None, prefix)
            answer_support = newest
        self.add(Turn(text, "request" if request else "question", self.tick(), False, True, answer, answer_support,
                      start, None if start is None else start + len(answer), support, qkind, why=why, detail=detail))
        self.asked[qkind] += 1
        self.last_asked = key
        return True

    def ask_unanswerable(self) -> bool:
        """A question about something never stated: a new thing, relation, attribute, pet, or a known
        person's unknown home or job. Half the time, where another person's was told, the same kind of fact
        about someone else ("Where does Bruno work?" after "Ilse works at the library."), as most of LoCoMo's
        unanswerable questions are: the look-alike memory must not be answered from."""
        told = sorted({k.kind for k in self.keys.values() if k.person is not None and k.kind in LOOKALIKE_KINDS})
        if told and self.rng.random() < 0.5:
            kind = self.rng.choice(told)
        else:
            kind = self.rng.choice(("loc", "park", "holder", "lender", "attr", "rel", "home", "job", "work", "appt",
                                    "count", "pet", "hours", "hobby", "school", "due", "study", "price", "trip", "meet",
                                    "debt", "habit", "habit_time"))
        key = self.subject(kind)
        if key is None:
            return False
        if isinstance(key.slots["_id"], str):
            self.used.add(key.slots["_id"])  # never state it later: the question stays unanswerable
        s = self.slots(key, self.statement_ref(key.person), None)
        if kind == "hobby":       # which of its questions: an instrument, a sport or a language
            s["tags"] = s["tags"] | {self.rng.choice(("instrument", "sport", "language"))}
        templates = [t for t in _usable(self.templates(key, "questions"), s["tags"]) if "{v}" not in t]
        text, _ = render(self.rng.choice(templates), s)
        alike = sorted(i for k in self.keys.values() if k.kind == kind and k.person is not None
                       and k.person is not key.person for i in k.history)
        self.add(Turn(text, "question", self.tick(), False, True, qkind="unanswerable", lookalike=alike))
        self.asked["unanswerable"] += 1
        return True

    def ask_unsaid(self) -> bool:
        """An unanswerable question about a told fact or a thing I did: what its memory leaves out (UNSAID)."""
        told = [k for k in self.keys.values() if k.value is not None and k.kind in UNSAID]
        if self.done and (not told or self.rng.random() < 0.2):
            _, asked, said, _, _ = self.rng.choice(self.done)
            text, _ = render(self.rng.choice(DID_UNSAID), {"asked": asked, "said": said})
        elif told:
            key = self.rng.choice(told)
            s = self.slots(key, key.ref, key.value)
            templates = [t for t in _usable(UNSAID[key.kind], s["tags"]) if not (key.reason and _ASKS_WHY.match(t))
                         and not (key.detail and t in DETAILS[key.kind][0])]
            if not templates:
                return False
            text, _ = render(self.rng.choice(templates), s, key.value.core)
        else:
            return False
        self.add(Turn(text, "question", self.tick(), False, True, qkind="unanswerable", unsaid=True))
        self.asked["unanswerable"] += 1
        return True

    def chat(self) -> bool:
        self.add(Turn(self.rng.choice(CHITCHAT), "chitchat", self.tick(), False, False))
        return True

    def did(self) -> bool:
        """Something I did, with a relative time resolved against the moment it is said, or with its date in
        the text ("I renewed my passport on 14 March.", "The boiler was serviced on the 3rd of May.")."""
        if self.rng.random() < 0.45:
            return self.did_on()
        act = self.pick(lx.ACTIVITIES)
        if act is None:
            return False
        self.used.add(act)
        when = self.rng.choice(DID_TIMES)
        shapes = [t for t in DID_FACTS if when or t.startswith("I {past} {when}.")]
        text, _ = render(self.rng.choice(shapes), {"past": act[0], "when": when})
        text, _ = self.padded(text.replace(" .", "."), None)
        i = self.add(Turn(text, "fact", self.tick(), True, False))
        self.done.append((i, f"did I {act[1]}", f"I {act[0]}", relative_date(self.turns[i].created, when), None))
        return True

    def did_on(self) -> bool:
        active = self.rng.random() < 0.5
        act = self.pick(lx.ACTIVITIES if active else lx.DONE_TO_THINGS)
        if act is None:
            return False
        self.used.add(act)
        said, asked = (f"I {act[0]}", f"did I {act[1]}") if active else act
        date = past_date(self.rng)
        template = self.rng.choice(DATED_FACTS)
        text, start = self.padded(*render(template, {"said": said, "at": date.at}, date.core))
        i = self.add(Turn(text, "fact", self.tick(), True, False))
        self.done.append((i, asked, said, date.core, start))
        return True

    def ask_did(self) -> bool:
        if not self.done:
            return False
        i, asked, said, answer, start = self.rng.choice(self.done)
        text, _ = render(self.rng.choice(DID_QUESTIONS), {"asked": asked, "said": said})
        end = None if start is None else start + len(answer)
        self.add(Turn(text, "question", self.tick(), False, True, answer, None if start is None else i, start, end,
                      [i], "when"))
        self.asked["when"] += 1
        return True

    def command(self) -> bool:
        name = self.name_of(self.rng.choice(self.people)) if self.people else "Mum"
        ev = self.rng.choice(lx.EVENTS)
        text, _ = render(self.rng.choice(COMMANDS), {"name": name, "ev_a": f"{a_an(ev)} {ev}"})
        self.add(Turn(text, "request", self.tick(), False, False))
        return True


# Facts of a person that another person may lack: unanswerable questions ask them of someone else.
LOOKALIKE_KINDS = ("home", "job", "work", "hobby", "school", "study")

FACT_KINDS = ("loc", "loc", "park", "holder", "holder", "lender", "attr", "attr", "rel", "rel", "home", "job", "work",
              "appt", "hours", "count", "pet", "hobby", "school", "due", "study", "price", "trip", "meet", "debt",
              "habit", "habit_time")


TURNS = (20, 60)   # turns of a conversation, fewest and most (about half of them statements)


def _conversation(seed: int, split: str, turns: tuple[int, int] = TURNS) -> Conversation:
    rng = random.Random(seed)
    start = datetime(2021, 1, 1, tzinfo=timezone.utc).timestamp() + rng.uniform(0, 4 * 365) * 86400
    w = World(rng, split, start, seed)
    target = rng.randint(*turns)
    if rng.random() < 0.5:
        w.chat()
    steps = (  # (weight, action): facts first and most, questions once something is known
        (0.26, lambda: w.new_fact(rng.choice(FACT_KINDS))),
        (0.04, w.introduce),
        (0.03, w.two_facts),
        (0.05, w.did),
        (0.10, w.update),
        (0.25, w.ask),
        (0.03, w.ask_did),
        (0.06, w.ask_unanswerable),
        (0.03, w.ask_unsaid),
        (0.03, lambda: w.ask(only="why")),
        (0.03, lambda: w.ask(only="detail")),
        (0.11, w.chat),
        (0.05, lambda: w.ask(request=True)),
        (0.04, w.command),
    )
    weights = [s[0] for s in steps]
    for _ in range(target * 20):
        if len(w.turns) >= target:
            break
        action = steps[0][1] if len(w.turns) < 4 else rng.choices(steps, weights)[0][1]
        action()
    return Conversation(w.turns, seed, split)


def casual_text(text: str, lower: bool, bare: bool) -> str:
    """`text` as people type to a bot: in lower case (`lower`), without its final punctuation (`bare`). Every
    character left keeps its place (a lower case that would change the length is not applied)."""
    if bare:
        text = text.rstrip(".?!") or text
    low = text.lower() if lower else text
    return low if len(low) == len(text) else text


def _answer_spans(conv: Conversation) -> dict[int, list[tuple[int, int]]]:
    """Per statement, the (start, end) of every answer span the conversation's questions have in it."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for t in conv.turns:
        if t.answer_support is not None and t.answer_start is not None and t.answer_end is not None:
            spans.setdefault(t.answer_support, []).append((t.answer_start, t.answer_end))
    return spans


def typed_casually(conv: Conversation, rng: random.Random) -> Conversation:
    """The conversation as one person types it: lower case, no final punctuation, or both, for every turn (a habit,
    not a coin per line). Answer spans keep their offsets; a final mark inside an answer stays."""
    lower, bare = rng.random() < 0.7, rng.random() < 0.6
    lower = lower or not bare
    ends = {i: max(e for _, e in v) for i, v in _answer_spans(conv).items()}
    turns = []
    for i, t in enumerate(conv.turns):
        text = casual_text(t.text, lower, bare)
        if len(text) < ends.get(i, 0):
            text = casual_text(t.text, lower, False)
        said = t.answer
        if said is not None and t.answer_support is not None:      # a span of the (lowered) supporting turn
            said = casual_text(conv.turns[t.answer_support].text, lower, False)[t.answer_start:t.answer_end]
        turns.append(replace(t, text=text, answer=said))
    return Conversation(turns, conv.seed, conv.split)


# People who write notes rather than sentences (the helper's "terse" user; LoCoMo's short replies): "Lent drill to
# Yusuf.", "Dog: Biscuit, a beagle.", "Mother's name?", "whats my job". Each is a habit of the writer, drawn once per
# conversation; an edit never touches an answer's span, and every span keeps pointing at its words.
_PAST = ("lent gave put left kept keep stored parked moved bought got took sold lost found hid met started paid had "
         "borrowed tucked packed handed squeezed finished booked hung dropped sent").split()
_PLACE_WORDS = "to in on at into under behind from of".split()
TERSE_HABITS: dict[str, tuple[float, bool, tuple[tuple[str, str], ...]]] = {
    # habit: (share of writers, statements only, (pattern, replacement) edits)
    "no_subject": (0.7, True, ((r"^(?:I|we) (?=(?:" + "|".join(_PAST) + r")\b)", ""),)),
    "no_my": (0.6, True, ((r"\b[Mm]y (?=[a-z])", ""),)),
    "no_article": (0.4, True, ((r"\b(" + "|".join(_PAST + _PLACE_WORDS) + r") (?:the|a|an) (?=[a-z])", r"\1 "),)),
    "colon": (0.5, True, ((r"^((?:(?!and\b|I\b|we\b)[\w'-]+ ){0,4}(?!I\b)[\w'-]+) (?:is|are) (?:called |named )?"
                           r"(?=[\w\"'])", r"\1: "),)),
    "no_apostrophe": (0.4, False, ((r"(?<=\w)'(?=(?:s|m|re|ve|ll|d|t)\b)", ""),)),
    # "What is my cat's name?" -> "Cat's name?"; not "What is Joaquin using my rake for?"
    "bare_question": (0.6, False, ((r"^(?:[Ww]hat is|[Ww]hat's|[Ww]hats|[Ww]hat was) (?:my |the )?"
                                    r"(?=(?:(?!who\b|that\b)[\w'-]+(?<!ing) ){0,3}(?!who\b)[\w'-]+(?<!ing)\?$)", ""),)),
}
_TERSE = {k: (share, facts, tuple((re.compile(p), r) for p, r in edits)) for k, (share, facts, edits) in
          TERSE_HABITS.items()}


def _edited(text: str, spans: list[tuple[int, int]], edits) -> tuple[str, list[tuple[int, int]]]:
    """`text` with each (pattern, replacement) applied in turn, except where a match would touch a span; the spans
    moved with their words."""
    for pat, repl in edits:
        out, last, moves = [], 0, []
        for m in pat.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in spans):
                continue
            new = m.expand(repl)
            out += [text[last:m.start()], new]
            last = m.end()
            moves.append((m.end(), len(new) - (m.end() - m.start())))
        text = "".join(out) + text[last:]
        spans = [(s + d, e + d) for s, e in spans for d in [sum(dd for end, dd in moves if end <= s)]]
    return text, spans


def tersely(conv: Conversation, rng: random.Random) -> Conversation:
    """The conversation as a person who writes notes tells it (TERSE_HABITS: some of them, a habit per writer).
    Supports, answers and their offsets follow."""
    habits = [_TERSE[k] for k in TERSE_HABITS if rng.random() < _TERSE[k][0]]
    spans = _answer_spans(conv)
    moved: dict[int, dict[tuple[int, int], tuple[int, int]]] = {}
    turns = []
    for i, t in enumerate(conv.turns):
        old = spans.get(i, [])
        text, new = t.text, old
        for _, facts_only, edits in habits:
            if t.is_fact and not t.question or not facts_only and t.question:
                text, new = _edited(text, new, edits)
        lead = len(text) - len(text.lstrip())
        text = text.strip()
        if text and t.text[:1].isupper() and text[:1].islower() and not any(s == 0 for s, _ in new):
            text = text[0].upper() + text[1:]
        moved[i] = {o: (s - lead, e - lead) for o, (s, e) in zip(old, new)}
        turns.append(replace(t, text=text or t.text))
    for t in turns:
        if t.answer_support is not None and t.answer_start is not None and t.answer_end is not None:
            t.answer_start, t.answer_end = moved[t.answer_support][(t.answer_start, t.answer_end)]
            t.answer = turns[t.answer_support].text[t.answer_start:t.answer_end]
    return Conversation(turns, conv.seed, conv.split)


# Two statements told in one turn, as people write them: "Our dog is called Pippin and he is seven.",
# "Thandiwe's fiancé is called Rokas, he's a sound engineer." Mid-sentence joiners go on from the first statement
# without its final mark; the others start a sentence of their own.
JOINERS = (", and ", " and ", ", also ", "; ", ", plus ", " - ", ", ")
SENTENCE_JOINERS = ("Oh and ", "Also, ", "", "", "And ")
PRONOUNS = (("he", "his"), ("she", "her"))
_OPENING_NAME = re.compile(r"([A-Z][\w-]+(?: [A-Z][\w-]+)?)('s)? ")
_SAME_SESSION = 3600.0       # seconds: statements further apart were not one message
# Words that are no name: function words, and the words a statement may open with (lower-cased when it goes on
# mid-sentence)
_NO_NAME = STOP_WORDS | frozenset(
    w.lower().strip(",.!?")
    for w in [p.split()[0] for p in FACT_PREFIXES + FILLER_OPENERS + FILLER_SUBJECTS + QUESTION_PREFIXES]
    + "we're it's there's got guess note actually yesterday today every last two three".split())


def _names_besides(text: str, name: str) -> bool:
    """Whether `text` names anyone (or anywhere) but `name`: a capitalised word that is not a sentence's usual
    opening word. Then "he" or "she" after it could mean either ("Oskar's godson is Janek, also her electrician is
    Joaquin")."""
    rest = re.sub(_as_word(name), " ", text)
    for m in re.finditer(r"\b[A-Z][\w'-]*", rest):
        w = m.group(0)
        opens = not rest[: m.start()].strip() or rest[: m.start()].rstrip()[-1:] in ".!?:"
        if w in ("I", "I'm", "I've", "I'd", "I'll") or opens and re.sub(r"'s$", "", w).lower() in _NO_NAME:
            continue
        return True
    return False


def _opening_person_named_in(b: str, a: str) -> re.Match | None:
    """The person `b` opens with, where `a` names them too ("Tuan is studying law." after "... goes by Tuan.")."""
    m = _OPENING_NAME.match(b)
    if m and m.group(1).lower() not in _NO_NAME and _name_at(a, m.group(1)):
        return m
    return None


def _joined(a: str, b: str, joiner: str, pron: tuple[str, str], keep_b_start: bool) -> tuple[str, int, int, int]:
    """Statements `a` and `b` as one: (text, where b's text starts in it, how many of b's first characters were
    replaced, by how many characters more). When b opens with a person `a` named, the person becomes a pronoun."""
    whole = joiner in SENTENCE_JOINERS
    if whole:
        a, joiner = (a if a.endswith((".", "!", "?")) else a + "."), " " + joiner
    else:
        a = a.rstrip(".!")
    starts = whole and not joiner.strip()       # b opens a sentence of its own: its casing stays
    cut, new = 0, ""
    m = _opening_person_named_in(b, a)
    first = re.split(r"[\s',]", b, maxsplit=1)[0]
    if m and not keep_b_start and not _names_besides(a, m.group(1)):
        cut, new = len(m.group(0)) - 1, pron[1] if m.group(2) else pron[0]
        new = new.capitalize() if starts else new
    elif not starts and not keep_b_start and first.lower() in _NO_NAME - {"i"} and not first.isupper():
        cut, new = 1, b[0].lower()
    return a + joiner + new + b[cut:], len(a) + len(joiner), cut, len(new) - cut


def compounded(conv: Conversation, rng: random.Random, share: float) -> Conversation:
    """The conversation with some pairs of statements told back to back merged into one turn (`share` of the pairs
    that can be: neither an update, superseded, or dated by its write time, both said within the hour). Every label
    follows: supports, answer spans and their offsets, look-alikes."""
    turns = conv.turns
    answered: dict[int, list[int]] = {}       # statement -> the questions whose answer span is in it
    by_note: set[int] = set()                 # statements whose write time is an answer ("When did I tell you...?")
    superseded = {t.supersedes for t in turns if t.supersedes is not None}
    for j, t in enumerate(turns):
        if t.answer_support is not None:
            answered.setdefault(t.answer_support, []).append(j)
        elif t.answer is not None:
            by_note.update(t.support)

    def mergeable(i: int) -> bool:
        t = turns[i]
        return (t.is_fact and not t.question and t.supersedes is None and i not in superseded and i not in by_note
                and len(t.text) < 200)

    def partner(i: int) -> int | None:
        """The statement to tell with statement i: a later one about a person i names, if one comes before the
        next question (so no question moves past its answer), else the next statement."""
        if not mergeable(i):
            return None
        near = None
        for j in range(i + 1, min(i + 6, len(turns))):
            if turns[j].question or turns[j].created - turns[i].created >= _SAME_SESSION:
                break
            if j in taken or not mergeable(j):
                continue
            if _opening_person_named_in(turns[j].text, turns[i].text):
                return j
            near = j if near is None and j == i + 1 else near
        return near

    new_index: dict[int, int] = {}
    shift: dict[int, tuple[int, int, int]] = {}        # b's old index -> (start in the merged text, cut, delta)
    taken: set[int] = set()
    out: list[Turn] = []
    for i, t in enumerate(turns):
        if i in taken:
            continue
        k = partner(i) if rng.random() < share else None
        if k is not None:
            b = turns[k]
            a_end = max((turns[j].answer_end for j in answered.get(i, [])), default=0)
            b_start = min((turns[j].answer_start for j in answered.get(k, [])), default=len(b.text))
            joiner = rng.choice(JOINERS + SENTENCE_JOINERS)
            if a_end > len(t.text.rstrip(".!")) or t.text.endswith("?"):      # the first statement ends as it was
                joiner = rng.choice(SENTENCE_JOINERS)
            text, at, cut, delta = _joined(t.text, b.text, joiner, rng.choice(PRONOUNS), keep_b_start=b_start < 2)
            if b_start < cut:            # never cut into an answer
                text, at, cut, delta = _joined(t.text, b.text, joiner, ("", ""), keep_b_start=True)
            new_index[i] = new_index[k] = len(out)
            shift[k] = (at, cut, delta)
            taken.add(k)
            out.append(replace(t, text=text))     # said at the first one's time: write times stay in order
            continue
        new_index[i] = len(out)
        out.append(replace(t))
    if len(out) == len(turns):
        return conv

    def moved(k: int, pos: int) -> int:
        at, cut, delta = shift[k]
        return at + pos + (delta if pos >= cut else 0)

    for j, t in enumerate(turns):
        u = out[new_index[j]]
        if t.supersedes is not None:
            u.supersedes = new_index[t.supersedes]
        if not t.question:
            continue
        u.support = list(dict.fromkeys(new_index[k] for k in t.support))
        u.lookalike = list(dict.fromkeys(new_index[k] for k in t.lookalike))
        if t.qkind == "two_hop" and len(u.support) == 1:     # both hops now in one statement: one hop, as plans()
            u.qkind = "update" if turns[t.support[-1]].kind == "update" else "single"
        if t.answer_support is not None:
            k = t.answer_support
            u.answer_support = new_index[k]
            if k in shift:
                u.answer_start, u.answer_end = moved(k, t.answer_start), moved(k, t.answer_end)
            u.answer = out[u.answer_support].text[u.answer_start:u.answer_end]
    return Conversation(out, conv.seed, conv.split)


def generate(n_conversations: int, seed: int = 0, split: str = "train",
             turns: tuple[int, int] = TURNS) -> list[Conversation]:
    """`n_conversations` conversations of `turns` turns (fewest, most); the same arguments always give the same
    conversations. Longer ones are one person's memory as it grows (a hundred statements and their updates)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    check_turns(turns)
    return [_conversation(seed * 1_000_003 + i, split, turns) for i in range(n_conversations)]


def check_turns(turns: tuple[int, int]) -> tuple[int, int]:
    """`turns` as `generate` takes it, or ValueError: two whole numbers (fewest, most), 1 <= fewest <= most."""
    if len(turns) != 2 or not all(type(t) is int for t in turns) or not 1 <= turns[0] <= turns[1]:
        raise ValueError(f"turns must be two whole numbers (fewest, most) with 1 <= fewest <= most, not {turns!r}")
    return turns


def as_told(n_conversations: int, seed: int, compound: float, casual: float,
            split: str = "train", terse: float = 0.0, turns: tuple[int, int] = TURNS) -> list[Conversation]:
    """Conversations (of `turns` turns) as people tell them: `compound` of the statement pairs that can be told in
    one turn so told (`compounded`), `terse` of the conversations written as notes (`tersely`), and `casual` of
    them typed casually (`typed_casually`); seeded by `seed`."""
    rng = random.Random(seed)
    convs = [compounded(c, rng, compound) for c in generate(n_conversations, seed=seed, split=split, turns=turns)]
    if terse:    # its own stream: the other shares draw the same conversations as without it
        t_rng = random.Random(seed + 17)
        convs = [tersely(c, t_rng) if t_rng.random() < terse else c for c in convs]
    return [typed_casually(c, rng) if rng.random() < casual else c for c in convs]


# ---------------------------------------------------------------------------- writers

_QUESTION_OPENERS = {"who", "whom", "whose", "what", "which", "where", "when", "why", "how", "is", "are", "do",
                     "does", "did", "can", "could", "will", "would"}


def _reads_as_question(text: str) -> bool:
    """chatmem.input's rule, without spaCy: '?' at the end, or a question word first."""
    first = text.split()[0].lower().strip(",")
    return text.endswith("?") or (first in _QUESTION_OPENERS and not text.endswith((".", "!")))


def to_chat_script(conv: Conversation) -> str:
    """chatmem's replay format; questions carry their expected answer after " => "."""
    lines = [f"# generated conversation, seed {conv.seed}, {conv.split} split"]
    for t in conv.turns:
        if not t.question:
            lines.append(t.text)
        elif t.answer is None:
            lines.append(f"{t.text}  # unanswerable: expect a decline")
        elif _reads_as_question(t.text):
            lines.append(f"{t.text}{EXPECT}{t.answer}")
        else:  # a request in statement form ("Remind me where my keys are.") cannot carry "=>"
            lines.append(f"{t.text}  # request, answer: {t.answer}")
    return "\n".join(lines) + "\n"


def to_dict(conv: Conversation) -> dict:
    return asdict(conv)


def to_jsonl(convs: list[Conversation]) -> str:
    return "".join(json.dumps(to_dict(c), ensure_ascii=False) + "\n" for c in convs)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m chatmem.generator", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3, help="conversations (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", choices=SPLITS, default="train")
    ap.add_argument("--json", action="store_true", help="JSON Lines, one conversation a line")
    args = ap.parse_args(argv)
    convs = generate(args.n, args.seed, args.split)
    print(to_jsonl(convs) if args.json else "\n".join(to_chat_script(c) for c in convs), end="")


if __name__ == "__main__":
    main()
