"""Ctrl-C and SIGTERM: noticed, never a traceback, and never in the middle of a commit.

`install()` (called once by the CLI) replaces the SIGINT and SIGTERM handlers with one that
records the signal and raises KeyboardInterrupt, as Python's own SIGINT handler does. DuckDB
turns a KeyboardInterrupt raised inside a query into `RuntimeError: Query interrupted`; the
record kept here is how the CLI still knows that the user interrupted (`interrupted()`), and
prints one line and exits 130 (143 for SIGTERM).

`deferred()` marks a critical section (the COMMIT, then publishing the outputs and marking the
ledger lines published): a signal arriving inside it is recorded only, the section finishes,
and KeyboardInterrupt is raised when it ends. (SIGKILL cannot be deferred; the ledger's outbox
covers that case.)

What the command had made permanent when it stopped is in pipeline/outcome.py: the message
after an interrupt says it.

Test hook: with SHORTSHIP_TEST_PAUSE_AT=<point> the command prints `paused at <point>` on
stderr and sleeps SHORTSHIP_TEST_PAUSE_SECONDS (default 60) at `pause_at(point)`, so that a test
can signal or kill it at a known point (the points of a run: pipeline/run.py; `summary`: after
the first line a command prints, pipeline/cli.py).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

PAUSE_ENV = "SHORTSHIP_TEST_PAUSE_AT"
PAUSE_SECONDS_ENV = "SHORTSHIP_TEST_PAUSE_SECONDS"

_received: list[int] = []
_deferring = 0


def _handler(signum, frame) -> None:
    _received.append(signum)
    if not _deferring:
        raise KeyboardInterrupt


def install() -> None:
    """Handle SIGINT and SIGTERM as described above (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


def interrupted() -> int | None:
    """The signal number received since `install` (the first one), or None."""
    return _received[0] if _received else None


def exit_status() -> int:
    """130 after SIGINT, 143 after SIGTERM (128 + the signal number)."""
    return 128 + (interrupted() or signal.SIGINT)


def reset() -> None:
    """Forget received signals (tests run several commands in one process)."""
    _received.clear()


@contextmanager
def deferred() -> Iterator[None]:
    """Run the block to its end even if a signal arrives; raise KeyboardInterrupt afterwards."""
    global _deferring
    before = len(_received)
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    if len(_received) > before and not _deferring:
        raise KeyboardInterrupt


def pause_at(point: str) -> None:
    """Test-only: sleep at `point` when SHORTSHIP_TEST_PAUSE_AT names it."""
    if os.environ.get(PAUSE_ENV) == point:
        print(f"paused at {point}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get(PAUSE_SECONDS_ENV, "60")))
