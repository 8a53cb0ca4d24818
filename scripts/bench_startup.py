"""Start-up of the app as a person sees it: seconds from launching `chatmem` in a terminal until the status line
says "ready" (the model and encoder loaded: a question would be answered), and from Ctrl+Q until the process
has exited; beside them, in the same run, `chatmem --help` (the interpreter and the CLI alone).

The app runs in a pseudo-terminal (like tmux), with a throwaway empty CHATMEM_HOME, one torch thread.
The first run warms the disk cache and is not counted (the target is for a warm machine).

    .venv/bin/python scripts/bench_startup.py [--runs 5] [--json docs/bench_startup.json]
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = "ready · ".encode()
TARGET_READY_S = 3.0


def _env(home: str, root: Path = ROOT) -> dict:
    env = dict(os.environ, CHATMEM_HOME=home, PYTHONPATH=str(root), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               TERM="xterm-256color", COLUMNS="120", LINES="36")
    return env


def time_help() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "chatmem", "--help"], env=_env(tempfile.gettempdir()),
                   stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def time_app(root: Path = ROOT, timeout: float = 60.0) -> tuple[float, float]:
    """(seconds to "ready", seconds from Ctrl+Q to exit)."""
    import fcntl
    import termios

    home = tempfile.mkdtemp(prefix="chatmem-bench-")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "chatmem"], env=_env(home, root), stdin=slave, stdout=slave,
                            stderr=slave, close_fds=True, start_new_session=True, cwd=root)
    os.close(slave)
    seen, ready = b"", None
    try:
        while time.perf_counter() - t0 < timeout:
            r, _, _ = select.select([master], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                seen = (seen + chunk)[-4096:]
                if READY in seen:
                    ready = time.perf_counter() - t0
                    break
            if proc.poll() is not None:
                break
        if ready is None:
            raise SystemExit(f"the app did not say ready within {timeout:.0f} s (exit code {proc.poll()})")
        t1 = time.perf_counter()
        os.write(master, b"\x11")                  # Ctrl+Q
        while proc.poll() is None and time.perf_counter() - t1 < timeout:
            r, _, _ = select.select([master], [], [], 0.02)
            if r:
                try:
                    os.read(master, 65536)         # keep the terminal drained, as a real one is
                except OSError:
                    pass
        quit_s = time.perf_counter() - t1
        return ready, quit_s
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", metavar="FILE", default=str(ROOT / "docs" / "bench_startup.json"))
    ap.add_argument("--baseline", metavar="DIR", help="another checkout (e.g. main) measured in the same run, "
                    "interleaved with this one")
    args = ap.parse_args()
    base = Path(args.baseline).resolve() if args.baseline else None
    time_help()
    time_app()                                      # warm-up, not counted
    if base:
        time_app(base)
    helps, readys, quits, b_readys, b_quits = [], [], [], [], []
    for _ in range(args.runs):
        helps.append(time_help())
        r, q = time_app()
        readys.append(r)
        quits.append(q)
        if base:
            r, q = time_app(base)
            b_readys.append(r)
            b_quits.append(q)
    rows = [("chatmem --help", helps), ("app: launch to ready", readys), ("app: Ctrl+Q to exit", quits)]
    if base:
        rows += [("baseline: launch to ready", b_readys), ("baseline: Ctrl+Q to exit", b_quits)]
    print(f"{'what':<26} {'median s':>9} {'min s':>7} {'max s':>7}   runs: {args.runs} (after one warm-up)")
    for name, xs in rows:
        print(f"{name:<26} {statistics.median(xs):>9.2f} {min(xs):>7.2f} {max(xs):>7.2f}")
    med = statistics.median(readys)
    print(f"ready - help (the app's own start-up): {med - statistics.median(helps):.2f} s; "
          f"target <= {TARGET_READY_S:.1f} s to ready: {'met' if med <= TARGET_READY_S else 'NOT met'}")
    out = {"runs": args.runs, "help_s": helps, "ready_s": readys, "quit_s": quits,
           "median": {"help_s": statistics.median(helps), "ready_s": med, "quit_s": statistics.median(quits)},
           "target_ready_s": TARGET_READY_S, "cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    if base:
        out["baseline"] = {"dir": str(base), "ready_s": b_readys, "quit_s": b_quits,
                           "median": {"ready_s": statistics.median(b_readys), "quit_s": statistics.median(b_quits)}}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
