"""A worker process that renders evidence pages (pipeline/act/evidence.py `stage_pages`) beside
the run's own process, the two sharing the work chunk by chunk.

The run's process writes the facts of every page to render once, as Parquet files in the
staging folder (pipeline/act/facts.py `Gathering.write_share`: the run's transaction is open, so
the worker cannot read the database itself), hands the job to the workers and goes on writing
the rest of the output set; then it renders too. Each process, the run's included, reads the
facts from those files (`read_share`, its own in-memory DuckDB, one thread) a chunk of orders
at a time: the chunks it claims (`claim`: a file created exclusively per chunk, so each chunk
is rendered by exactly one process and the work splits by itself however busy each process
is). It renders the pages, hashes them, writes those whose bytes changed into the staging
folder, and answers which it wrote. Nothing is shared by fork: the worker is `python -m
pipeline.act.workers`, started with the run's interpreter and module path (not the
multiprocessing module: its spawned children import the main program again, and a fork would
copy DuckDB's threads and the heap).

The two talk in pickles over the worker's stdin and stdout: one job (language, policy, staging
folder, facts folder and columns, the orders with their reasons and tasks), answered by
("ok", results) or ("error", message). A worker ignores Ctrl-C (the run handles it) and
stops when its stdin closes, so it never outlives the run.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import signal
import subprocess
import sys
import threading
from datetime import datetime
from typing import Any, Callable

from pipeline.errors import ShortshipError


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def claimer(folder: str) -> Callable[[int], bool]:
    """claim(i): whether this process takes chunk i of a job, the first to ask getting it (a
    file created exclusively in `folder`)."""
    def claim(i: int) -> bool:
        try:
            os.close(os.open(os.path.join(folder, str(i)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            return False
        except OSError as e:
            raise ShortshipError(f"{folder}: cannot write ({e.strerror})") from None
        return True
    return claim


def render_share(job: dict, claim: Callable[[int], bool] | None = None) -> list[tuple]:
    """Render the pages of a job (see the module doc; tasks: order_id -> (rel, clock of its facts,
    SHA-256 of the published copy or None)), the chunks of job["chunk"] orders that `claim`
    (default: claimed in the job's folder job["claims"]; every chunk when it has none) gives
    this process, and write those whose bytes changed into the staging folder. Returns
    (order_id, sha256, size, written) for each page rendered."""
    from pipeline.act.facts import CHUNK, gc_paused, read_share
    from pipeline.act.page import PageTexts, render

    tx = PageTexts(job["lang"])
    policy, folder, tasks = job["policy"], job["folder"], job["tasks"]
    clocks: dict[str, datetime] = {}
    made: set[str] = set()
    out = []
    if claim is None and job.get("claims"):
        claim = claimer(job["claims"])
    with gc_paused():  # pages make no cycles: see gc_paused
        for chunk in read_share(job["facts"], job["columns"], job["order_ids"], job["reasons"],
                                size=job.get("chunk") or CHUNK, claim=claim):
            for p in chunk.pages():
                rel, since, published = tasks[p.order_id]
                at = clocks.get(since) or clocks.setdefault(since, datetime.fromisoformat(since))
                data = render(p, tx, policy, at).encode()
                sha = hashlib.sha256(data).hexdigest()
                written = sha != published
                if written:
                    sub = rel.rpartition("/")[0]
                    if sub not in made:
                        os.makedirs(os.path.join(folder, sub), exist_ok=True)
                        made.add(sub)
                    try:
                        _write(os.path.join(folder, rel), data)
                    except OSError as e:
                        raise ShortshipError(f"{rel}: cannot write ({e.strerror})") from None
                out.append((p.order_id, sha, len(data), written))
    return out


class Worker:
    """One worker process (see the module doc), started at once so that its start overlaps
    the run's own work; `submit` hands it its job, `result` waits for the answer."""

    def __init__(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if isinstance(p, str) and p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.act.workers"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=None if os.environ.get("SHORTSHIP_DEBUG") else subprocess.DEVNULL, env=env)
        self._answer: tuple[str, Any] | None = None
        self._thread: threading.Thread | None = None

    def submit(self, job: dict) -> None:
        def serve() -> None:
            proc = self._proc
            try:
                pickle.dump(job, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                proc.stdin.flush()
                self._answer = pickle.load(proc.stdout)
            except (OSError, EOFError, pickle.UnpicklingError):
                self._answer = ("error", f"a page-rendering worker stopped (exit status {proc.poll()})")
            except Exception as e:  # noqa: BLE001 - an answer that is not a pickle: the run renders its chunks
                self._answer = ("error", f"a page-rendering worker's answer could not be read ({type(e).__name__})")

        self._thread = threading.Thread(target=serve, daemon=True, name="render-worker")
        self._thread.start()

    def result(self) -> list[tuple]:
        assert self._thread is not None
        self._thread.join()
        status, value = self._answer or ("error", "no answer")
        if status != "ok":
            raise ShortshipError(f"evidence pages: {value}")
        return value

    def close(self) -> None:
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()


def main() -> None:
    """A worker: read one job, render it, answer; then wait for stdin to close."""
    from pipeline.heap import keep_freed

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed()
    # nothing but answers on the pipe: the answers get a descriptor of their own, and whatever
    # else writes to stdout (a print, or a library writing to descriptor 1) goes to stderr
    inp, out = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import pipeline.act.page  # noqa: F401 - imported while the run writes the facts

    while True:
        try:
            job = pickle.load(inp)
        except EOFError:
            return
        answer: tuple[str, Any]
        try:
            answer = ("ok", render_share(job))
        except ShortshipError as e:
            answer = ("error", str(e))
        except Exception as e:  # noqa: BLE001 - reported to the main process as one line
            answer = ("error", f"{type(e).__name__}: {e}")
        pickle.dump(answer, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


if __name__ == "__main__":
    main()
