"""The page-rendering worker's pipe (pipeline/act/workers.py): nothing but answers on it, and an
answer that cannot be read is the worker's failure (its chunks rendered by the run), not a
traceback in a thread."""
import os
import pickle
import subprocess
import sys

import pytest

from pipeline.act import workers
from pipeline.errors import ShortshipError

# a worker whose rendering writes to descriptor 1 below Python (as a C library may) and prints
NOISY = """
import os, sys
import pipeline.act.workers as w
def render(job):
    os.write(1, b"noise on descriptor 1\\n")
    print("a print")
    return [("o1", "sha", 3, True)]
w.render_share = render
w.main()
"""


def test_answers_stay_readable_when_the_worker_writes_to_stdout():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen([sys.executable, "-c", NOISY], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate(pickle.dumps({"job": 1}), timeout=60)
    assert proc.returncode == 0, err.decode()
    assert pickle.loads(out) == ("ok", [("o1", "sha", 3, True)])
    assert b"noise on descriptor 1" in err and b"a print" in err


@pytest.mark.parametrize("garbage, told", [
    # a frame whose string is not UTF-8 (pickle raises UnicodeDecodeError, not UnpicklingError)
    (b"\x80\x05\x95\x07\x00\x00\x00\x00\x00\x00\x00\x8c\x04\xff\xfe\x95\x95.",
     "answer could not be read (UnicodeDecodeError)"),
    (b"not a pickle", "stopped"),
    (b"", "stopped"),
])
def test_an_unreadable_answer_is_the_workers_failure(garbage, told):
    w = workers.Worker.__new__(workers.Worker)  # no real worker started: its place taken by
    w._answer, w._thread = None, None            # a process that reads the job, answers garbage and exits
    w._proc = subprocess.Popen([sys.executable, "-c", "import pickle, sys; pickle.load(sys.stdin.buffer); "
                                f"sys.stdout.buffer.write({garbage!r})"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    w.submit({"job": 1})
    with pytest.raises(ShortshipError, match="evidence pages: a page-rendering worker") as e:
        w.result()
    assert told in str(e.value)
    w.kill()
