"""The `chatmem` command. Heavy modules load inside the subcommands, so --help stays fast."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from chatmem import ChatmemError, __version__


def _count(n: int, one: str, many: str) -> str:
    from chatmem.util import count     # util imports numpy: not at start-up

    return count(n, one, many)


STAGES = ("babi", "relevance", "hop2", "span", "update", "budget", "act")   # `chatmem train --stage`, in order


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chatmem",
        description="A terminal chatbot built on Memory Networks. With no command, opens the chat app.",
    )
    p.add_argument("--version", action="version", version=f"chatmem {__version__}")
    data_help = "where memory lives (default: $CHATMEM_HOME, else the user data dir)"
    p.add_argument("--data-dir", metavar="DIR", help=data_help)
    p.add_argument("--max-memories", type=int, metavar="N", help="the app's memory budget: past N memories, a new "
                   "one takes the slot the trained H chooses and the old one moves to the archive (default: off, "
                   "or the budget set in the app)")
    # Also accepted after a command (`chatmem memory list --data-dir DIR`); SUPPRESS keeps the global value.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help=data_help)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    mem = sub.add_parser("memory", parents=[common], help="list, forget, clear, export or import memories")
    msub = mem.add_subparsers(dest="action", metavar="ACTION", required=True)
    ml = msub.add_parser("list", parents=[common], help="list stored memories")
    ml.add_argument("--json", action="store_true", help="one JSON object per line")
    ml.add_argument("--archived", action="store_true", help="list the archive: memories the budget moved out")
    mf = msub.add_parser("forget", parents=[common], help="forget one memory")
    mf.add_argument("id", type=int)
    mc = msub.add_parser("clear", parents=[common], help="forget every memory")
    mc.add_argument("--yes", action="store_true", help="really clear (required)")
    me = msub.add_parser("export", parents=[common], help="export memories to JSON Lines")
    me.add_argument("file")
    me.add_argument("--archived", action="store_true", help="export the archive instead of working memory")
    mu = msub.add_parser("unlink", parents=[common], help="undo a wrong link: the memory is no longer marked "
                         "superseded by a newer one")
    mu.add_argument("id", type=int)
    ma = msub.add_parser("empty-archive", parents=[common], help="erase the archive (as forget erases a memory)")
    ma.add_argument("--yes", action="store_true", help="really erase it (required)")
    mi = msub.add_parser("import", parents=[common], help="import memories from JSON Lines (embeddings are recomputed)")
    mi.add_argument("file")
    msub.add_parser("path", parents=[common], help="print the memory file's path")
    mr = msub.add_parser("recover", parents=[common], help="move a damaged memory file aside and salvage what can be read")
    mr.add_argument("--force", action="store_true", help="rebuild even a file that is not damaged")

    tr = sub.add_parser("train", parents=[common], help="train the O and R scorers on bAbI (writes assets/)")
    tr.add_argument("--babi-dir", metavar="DIR", help="bAbI tasks_1-20_v1-2/en (default: $CHATMEM_BABI_DIR or ../shared)")
    tr.add_argument("--tasks", default="1-20")
    tr.add_argument("--epochs", type=int)
    tr.add_argument("--seed", type=int)
    tr.add_argument("--lr", type=float, help="learning rate of O and R (default 0.002)")
    tr.add_argument("--warm-from", metavar="DIR", help="go on from the O and R of this model (same vocabulary); "
                    "its span model is kept, to be refitted with scripts/refit_span_gate.py")
    tr.add_argument("--out", metavar="DIR", help="where to write the model (default: assets/)")
    tr.add_argument("--locomo", metavar="FILE", help="LoCoMo development conversations for O's relevance term "
                    "(evidence turns as supporting facts; default: $CHATMEM_LOCOMO or ../shared, if present)")
    tr.add_argument("--stage", choices=STAGES, default="babi",
                    help="where to start: babi (everything), relevance (keep O and R: O's first-hop relevance term), "
                         "hop2 (O's second hop in conversations), span (R's span answers), update (G's superseded links and O's weight on them), budget "
                         "(H's slot choice), act (the classifier of facts, questions, requests, commands and "
                         "chit-chat); each stage writes the model and goes on to the later ones")
    tr.add_argument("--last", choices=STAGES, help="the stage to stop after (default: act; relevance with "
                    "--warm-from, whose span model is then refitted by scripts/refit_span_gate.py)")
    tr.add_argument("--eval-every", type=int, help="validate O and R every this many epochs (default 3)")

    ev = sub.add_parser("eval", parents=[common], help="evaluate the model on the bAbI test sets")
    ev.add_argument("--babi-dir", metavar="DIR", help="bAbI tasks_1-20_v1-2/en (default: $CHATMEM_BABI_DIR or ../shared)")
    ev.add_argument("--tasks", default="1-20")
    ev.add_argument("--split", default="test", choices=["test", "train"])
    ev.add_argument("--json", action="store_true", help="print JSON instead of the table "
                    "(bAbI: one object; LoCoMo: one object per question, then the summary)")
    ev.add_argument("--locomo", metavar="FILE", help="evaluate on LoCoMo conversations (the authors' locomo10.json "
                    "layout) instead of bAbI, beside BM25 and MiniLM cosine on the same memories")
    ev.add_argument("--conversations", type=int, metavar="N", help="LoCoMo: only the first N conversations")

    rp = sub.add_parser("replay", parents=[common], help="play a dialog script or a bAbI file through the bot")
    rp.add_argument("file")
    rp.add_argument("--fresh", action="store_true", help="use a temporary memory, not yours")
    rp.add_argument("--json", action="store_true", help="JSON Lines, one object per question, then a summary")
    rp.add_argument("--check", action="store_true", help="exit 1 if any expected answer is wrong")
    return p


def _babi_dir(arg: str | None) -> Path:
    from chatmem.paths import default_babi_dir

    d = Path(arg) if arg else default_babi_dir()
    if d is None:
        raise ChatmemError("no bAbI data: pass --babi-dir DIR or set CHATMEM_BABI_DIR")
    if not d.is_dir():
        raise ChatmemError(f"bAbI directory {d} does not exist")
    return d


def _memory(args):
    from chatmem.memory import SQLiteMemory
    from chatmem.paths import data_dir

    return SQLiteMemory(data_dir(args.data_dir))


def cmd_memory(args) -> int:
    from chatmem.paths import data_dir

    if args.action == "path":
        from chatmem.memory import DB_NAME

        print(data_dir(args.data_dir) / DB_NAME)
        return 0
    if args.action == "recover":
        from chatmem.memory import recover

        r = recover(data_dir(args.data_dir), force=args.force)
        if r.aside is None:
            print("no memory file to recover")
        else:
            left = f"; {r.skipped} damaged rows were left behind in it" if r.skipped else ""
            print(f"moved the damaged file to {r.aside}; salvaged {r.salvaged} memories into a fresh memory{left}")
        return 0
    from chatmem.input import json_line, printable
    from chatmem.memory import bad_time_warning, damaged_warning

    def warn(line: str) -> None:
        print(f"chatmem: {printable(line)}", file=sys.stderr)

    mem = _memory(args)
    if mem.damaged:
        warn(damaged_warning(mem.damaged))
    try:
        if args.action == "list" and args.archived:
            _list_archive(mem, args.json)
        elif args.action == "list":
            bad = []
            links = mem.links()
            for m in mem.all():
                if args.json:
                    print(json_line(m.to_json() | {"superseded_by": links.get(m.id)}))
                else:
                    arrow = f"  → #{links[m.id]}" if m.id in links else ""
                    # rows other clients wrote may hold escapes
                    print(f"{m.id:>6}  {m.created_iso}  {printable(m.text)}{arrow}")
                if not m.time_ok:
                    bad.append(m.id)
            if bad:
                warn(bad_time_warning(bad))
            if not args.json:
                print(f"{_count(len(mem), 'memory', 'memories')} in {mem.path}", file=sys.stderr)
        elif args.action == "forget":
            if not mem.forget(args.id):
                raise ChatmemError(f"no memory with id {args.id}")
            print(f"forgot memory {args.id}")
        elif args.action == "clear":
            if not args.yes:
                raise ChatmemError("clearing forgets every memory; run `chatmem memory clear --yes` to do it")
            print(f"forgot {mem.clear()} memories")
            if mem.archived():            # "every memory" includes those the budget moved out
                print(f"erased {mem.empty_archive()} archived memories")
        elif args.action == "export":
            n = mem.export_jsonl(args.file, warn=warn, archived=args.archived)
            what = "archived memories" if args.archived else "memories"
            print(f"exported {n} {what} to {args.file}", file=sys.stderr)    # stdout may be the export itself
        elif args.action == "unlink":
            if not mem.unlink(args.id):
                raise ChatmemError(f"memory {args.id} is not marked superseded")
            print(f"memory {args.id} is no longer marked superseded")
        elif args.action == "empty-archive":
            if not args.yes:
                raise ChatmemError("this erases every archived memory; run `chatmem memory empty-archive --yes`")
            print(f"erased {mem.empty_archive()} archived memories")
        elif args.action == "import":
            import time

            from chatmem.bot import Bot
            from chatmem.input import encode, make_utterance
            from chatmem.memory import already_stored, parse_created, read_export

            recs = read_export(args.file)
            present = already_stored(mem, recs)
            new = [r for r, p in zip(recs, present) if not p]
            utts = [make_utterance(r["text"]) for r in new]
            ts = [c if c is not None else time.time() for c in (parse_created(r.get("created")) for r in new)]
            if utts:
                mem.write(encode(utts, Bot(mem).encoder), f"import:{Path(args.file).name}", created=ts)
            skipped = len(recs) - len(new)
            print(f"imported {_count(len(utts), 'memory', 'memories')} from {args.file}"
                  + (f"; skipped {skipped} already in memory (same text and write time)" if skipped else ""))
    finally:
        mem.refresh()             # waits for the snapshot's checksum, whose failure adds a warning
        for line in mem.warnings:
            warn(line)
        mem.close()
    return 0


def _list_archive(mem, as_json: bool) -> None:
    from chatmem.input import json_line, printable
    from chatmem.memory import archived_json

    rows = mem.archived()
    for a in rows:
        j = archived_json(a)
        if as_json:
            print(json_line(j))
        else:
            by = f"  (replaced by #{a['replaced_by']})" if a["replaced_by"] is not None else ""
            print(f"{a['id']:>6}  {j['archived'] or '(bad time)':<25}  {printable(a['text'])}{by}")
    if not as_json:
        print(f"{_count(len(rows), 'archived memory', 'archived memories')} in {mem.path}", file=sys.stderr)


def _locomo(args) -> Path | None:
    """The LoCoMo development file training reads (`--locomo`, else ../shared's), or None where there is none."""
    from chatmem.paths import default_locomo_file

    locomo = Path(args.locomo) if args.locomo else default_locomo_file()
    if locomo is not None and not locomo.is_file():
        raise ChatmemError(f"LoCoMo file {locomo} does not exist")
    return locomo


def cmd_train(args) -> int:
    from chatmem.babi import parse_tasks
    from chatmem.paths import assets_dir
    from chatmem.train import TrainConfig, train

    if args.stage != "babi" and (args.warm_from or args.lr is not None or args.eval_every is not None):
        raise ChatmemError(f"--warm-from, --lr and --eval-every train O and R: they need --stage babi, not {args.stage}")
    last = args.last or ("relevance" if args.warm_from else STAGES[-1])
    if STAGES.index(last) < STAGES.index(args.stage):
        raise ChatmemError(f"--last {last} comes before --stage {args.stage}")
    cfg = TrainConfig(babi_dir=str(_babi_dir(args.babi_dir)), tasks=parse_tasks(args.tasks))
    if args.epochs:
        cfg.epochs = args.epochs
    if args.seed is not None:
        cfg.seed = args.seed
    if args.lr is not None:
        cfg.lr = args.lr
    if args.eval_every is not None:
        cfg.eval_every = args.eval_every
    if args.warm_from:
        cfg.warm_from = args.warm_from
    out = Path(args.out) if args.out else assets_dir()
    log = lambda m: print(m, file=sys.stderr)     # noqa: E731
    later = STAGES[STAGES.index(args.stage): STAGES.index(last) + 1]   # a stage goes on to the later ones
    if "babi" in later:
        train(cfg, out, log=log)
    if "relevance" in later:
        from chatmem.relevance_train import RelevanceTrainConfig, train_relevance

        train_relevance(out, RelevanceTrainConfig(seed=cfg.seed), Path(cfg.babi_dir), _locomo(args), log=log)
    if "hop2" in later:                     # O's second hop in conversations (chatmem.hop2)
        from chatmem.hop2_train import Hop2TrainConfig, train_hop2

        train_hop2(out, Hop2TrainConfig(seed=cfg.seed), log=log)
    if "span" in later:
        from chatmem.span_train import SpanTrainConfig, train_span

        train_span(out, SpanTrainConfig(seed=cfg.seed), Path(cfg.babi_dir), log=log, locomo_path=_locomo(args))
    if "update" in later:                   # G's update links (issue 15)
        from chatmem.update_train import UpdateTrainConfig, train_update

        train_update(out, UpdateTrainConfig(seed=cfg.seed), Path(cfg.babi_dir), log=log)
    if "budget" in later:                   # H's slot choice (issue 15)
        from chatmem.budget_train import BudgetTrainConfig, train_budget

        train_budget(out, BudgetTrainConfig(seed=cfg.seed), Path(cfg.babi_dir), log=log)
    if "act" in later:
        from chatmem.dialogue_act import ActTrainConfig, train_act

        train_act(out, ActTrainConfig(seed=cfg.seed), Path(cfg.babi_dir), log=log)
    from chatmem.report import write_model_card

    write_model_card(out, _babi_dir(args.babi_dir))
    return 0


def cmd_eval(args) -> int:
    if args.locomo:
        return _eval_locomo(args)
    from chatmem.babi import parse_tasks
    from chatmem.report import evaluate_dir

    summary, table = evaluate_dir(_babi_dir(args.babi_dir), parse_tasks(args.tasks), args.split)
    if args.json:
        print(json.dumps(summary))
    else:
        print(table)
    return 0


def _eval_locomo(args) -> int:
    from chatmem.locomo_eval import format_table, row_json, run

    if args.conversations is not None and args.conversations < 1:
        raise ChatmemError("--conversations must be at least 1")
    rows, summary = run(args.locomo, conversations=args.conversations)
    if args.json:
        for r in rows:
            print(json.dumps(row_json(r), ensure_ascii=False))
        print(json.dumps({"summary": summary}))
    else:
        print(format_table(summary))
    return 0


def cmd_replay(args) -> int:
    from chatmem.replay import run_replay

    return run_replay(args)


def cmd_app(args) -> int:
    from chatmem.app import make_app

    if args.max_memories is not None and args.max_memories < 1:
        raise ChatmemError("--max-memories must be at least 1")
    app = make_app(data_dir=args.data_dir, max_memories=args.max_memories)
    app.run()
    code = app.return_code or 0
    # The memory is closed (on_unmount) and the terminal restored; what is left is the interpreter tearing down
    # torch and spaCy, about 2 s of Ctrl+Q for nothing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"memory": cmd_memory, "train": cmd_train, "eval": cmd_eval, "replay": cmd_replay, None: cmd_app}
    try:
        return handlers[args.command](args)
    except ChatmemError as exc:
        from chatmem.input import printable

        print(f"chatmem: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"chatmem: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except OverflowError:
        print("chatmem: error: that number is too large", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chatmem: interrupted", file=sys.stderr)
        return 130
