"""What the command under way has made permanent so far, so that every message after an error or
an interrupt says the true state: nothing committed; committed and not yet published (the next
run publishes); or committed and published, with the ledger lines and the yuan.

The library records here the moment something becomes permanent, inside the critical section
of pipeline/interrupts.py (no signal falls between a COMMIT and its record):

* `committed`: a load, the flags, the liabilities with their new ledger lines, or a whole run
  (called by `db.transaction`'s `on_commit`, which fires only for a real COMMIT: a step joined
  to a run's transaction commits nothing of its own; `shortship run` records its own commit);
* `published`: the output set is published (its payouts.parquet holds these ledger lines);
* `marked`: those lines are recorded as published in the database.

The CLI's one error handler (pipeline/cli.py) reads `describe()` wherever an error or a signal
lands, in the library or while the command prints its summary, and a message that already says
the state (`tell`) is not told twice. Each command starts from `reset()`. One record per
process: commands run one at a time.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

NOTHING = "nothing was committed (the database is as it was)"
ZERO = Decimal("0.00")
_TOLD = "_shortship_state_told"


@dataclass
class Outcome:
    subject: str | None = None      # what was committed: "the run", "the load", "the flags" ...
    plural: bool = False            # "the flags were", "the run was"
    detail: str = ""                # counts that are not money: "2 file(s), 1,234 rows loaded"
    lines: int | None = None        # new ledger lines committed (None: the command writes none)
    yuan: Decimal = ZERO
    published: int | None = None    # ledger lines in the published payouts file (None: not published)
    published_yuan: Decimal = ZERO
    published_in: str = "payouts.parquet"
    marked: bool = False            # ... and recorded as published in the database

    def describe(self) -> str:
        """The state in words, for the end of an `Error:` line."""
        if self.subject is None and self.published is None:
            return NOTHING
        pub = (f"{self.published:,} ledger line(s), {self.published_yuan:,} yuan in {self.published_in}"
               if self.published is not None else "")
        again = ("" if self.marked or self.published is None else
                 "; they are not recorded as published: the next run publishes them again "
                 "(payout systems deduplicate on payout_id)")
        if self.subject is None:  # `shortship export`: published what earlier commands committed
            return f"the outputs were published: {pub}{again}"
        verb = "were" if self.plural else "was"
        if self.lines is None:  # a load, the flags: no money
            return f"{self.subject} {verb} committed" + (f": {self.detail}" if self.detail else "")
        money = f"{self.lines:,} new ledger line(s), {self.yuan:,} yuan"
        if self.published is None:
            return (f"{self.subject} {verb} committed but not yet published: {money}; "
                    "the next run or `shortship export` publishes them")
        return f"{self.subject} {verb} committed and published: {money} ({pub}){again}"


_state = Outcome()


def reset() -> None:
    """A new command: nothing committed yet."""
    global _state
    _state = Outcome()


def current() -> Outcome:
    return _state


def describe() -> str:
    return _state.describe()


def anything() -> bool:
    """Whether the command has committed or published anything."""
    return _state.subject is not None or _state.published is not None


def committed(subject: str, plural: bool = False, detail: str = "", lines: int | None = None,
              yuan: Decimal | None = None) -> None:
    """`subject` is committed (with `lines` new ledger lines worth `yuan`, when it wrote any)."""
    _state.subject, _state.plural, _state.detail = subject, plural, detail
    _state.lines, _state.yuan = lines, (yuan if yuan is not None else ZERO)
    _state.published, _state.published_yuan, _state.marked = None, ZERO, False


def published(lines: int, yuan: Decimal, where: str = "payouts.parquet") -> None:
    """The output set is published; its payouts file holds `lines` ledger lines worth `yuan`."""
    _state.published, _state.published_yuan, _state.published_in = lines, yuan, where
    _state.marked = False


def marked() -> None:
    """The published lines are recorded as published."""
    _state.marked = True


def tell(exc: BaseException) -> BaseException:
    """Mark `exc` as an error whose message already says the state."""
    setattr(exc, _TOLD, True)
    return exc


def told(exc: BaseException) -> bool:
    return bool(getattr(exc, _TOLD, False))
