"""Worker processes that render evidence pages (pipeline/act/evidence.py `stage_pages`), when
SHORTSHIP_RENDER_WORKERS asks for them (by default the run's own process renders: on the shared
2-core benchmark machine two workers were slower, see bench/results.md).

When a set has many pages to render, the main process fetches their facts from DuckDB a chunk
at a time and hands each chunk, as plain rows (pipeline/act/facts.py `Chunk`), to one of a few
worker processes, which render the pages, hash them and write those whose bytes changed into
the staging folder, and answer which they wrote. The main process fetches the next chunk
meanwhile. The facts are never shared by fork: each worker holds only the chunk it renders
(a fork of the main process made its large heap copy-on-write, which was measured slower than
one process).

A worker is `python -m pipeline.act.workers`, started with the main process's interpreter and
module path; the two talk in pickles over the worker's stdin and stdout (one pickle per message:
first the language, policy and staging folder, then one chunk per request, answered by
("ok", results) or ("error", message)). Not the multiprocessing module: its spawned children
import the main program again (`python -m pipeline` runs the command line at import), and a
fork would copy DuckDB's threads and the heap. A worker ignores Ctrl-C (the main process
handles it) and stops when its stdin closes, so it never outlives the main process.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from datetime import datetime
from typing import Any

from pipeline.errors import ShortshipError


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def render_chunk(chunk, tasks: dict[str, tuple[str, str, str | None]], tx, policy, folder: str) -> list[tuple]:
    """Render the pages of `chunk` (tasks: order_id -> (rel, clock of its facts, SHA-256 of the
    published copy or None)) and write those whose bytes changed into `folder`. Returns
    (order_id, sha256, size, written) for each page."""
    from pipeline.act.page import render

    clocks: dict[str, datetime] = {}
    out = []
    for p in chunk.pages():
        rel, since, published = tasks[p.order_id]
        at = clocks.get(since) or clocks.setdefault(since, datetime.fromisoformat(since))
        data = render(p, tx, policy, at).encode()
        sha = hashlib.sha256(data).hexdigest()
        written = sha != published
        if written:
            try:
                _write(os.path.join(folder, rel), data)
            except OSError as e:
                raise ShortshipError(f"{rel}: cannot write ({e.strerror})") from None
        out.append((p.order_id, sha, len(data), written))
    return out


class RenderPool:
    """`n` worker processes rendering chunks of pages into `folder` (see the module doc).
    `submit` hands a chunk to the next free worker; `results` gives the answers as they come."""

    def __init__(self, n: int, lang: str, policy, folder: str):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if isinstance(p, str) and p)
        self._procs = [
            subprocess.Popen([sys.executable, "-m", "pipeline.act.workers"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE,
                             stderr=None if os.environ.get("SHORTSHIP_DEBUG") else subprocess.DEVNULL, env=env)
            for _ in range(n)
        ]
        self._tasks: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._threads = []
        for proc in self._procs:
            pickle.dump((lang, policy, folder), proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.flush()
            t = threading.Thread(target=self._serve, args=(proc,), daemon=True, name="render-worker")
            t.start()
            self._threads.append(t)

    def _serve(self, proc: subprocess.Popen) -> None:
        """Feed `proc` one chunk at a time, pass its answers on."""
        while True:
            item = self._tasks.get()
            if item is None:
                return
            try:
                pickle.dump(item, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                proc.stdin.flush()
                answer = pickle.load(proc.stdout)
            except (OSError, EOFError, pickle.UnpicklingError):
                answer = ("error", f"a page-rendering worker stopped (exit status {proc.poll()})")
            self._results.put(answer)
            if answer[0] != "ok":
                return

    def submit(self, chunk, tasks) -> None:
        self._tasks.put((chunk, tasks))

    def result(self) -> list[tuple]:
        status, value = self._results.get()
        if status != "ok":
            raise ShortshipError(f"evidence pages: {value}")
        return value

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)
        for proc in self._procs:
            try:
                proc.stdin.close()
            except OSError:
                pass
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def kill(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self._procs:
            proc.wait()


def main() -> None:
    """A worker: read the set's language, policy and folder, then render chunks until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers on the pipe
    from pipeline.act.page import PageTexts

    lang, policy, folder = pickle.load(inp)
    tx = PageTexts(lang)
    while True:
        try:
            chunk, tasks = pickle.load(inp)
        except EOFError:
            return
        answer: tuple[str, Any]
        try:
            answer = ("ok", render_chunk(chunk, tasks, tx, policy, folder))
        except ShortshipError as e:
            answer = ("error", str(e))
        except Exception as e:  # noqa: BLE001 - reported to the main process as one line
            answer = ("error", f"{type(e).__name__}: {e}")
        pickle.dump(answer, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


if __name__ == "__main__":
    main()
