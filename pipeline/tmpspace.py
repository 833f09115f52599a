"""Scratch space of a shortship process: one folder, in one documented place, never left behind.

The root is `--tmp` (env SHORTSHIP_TMP), else `.shortship-tmp/` beside the database file.
Each process works in `<root>/<pid>-<random>/`: the loader's transcoded parts and DuckDB's
spill files (`temp_directory`) go there. The folder is removed when the process ends normally
(atexit), and folders of processes that are gone (killed runs) are removed by the next process
that uses the same root. Library callers that set no root get the system's temp folder.
"""
from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.errors import ShortshipError

ENV = "SHORTSHIP_TMP"
ROOT_NAME = ".shortship-tmp"

_root: Path | None = None
_mine: Path | None = None


def root_for(db_path: str | Path, tmp: str | Path | None = None) -> Path:
    """Where scratch folders live for a database: `tmp`, $SHORTSHIP_TMP, or beside the file."""
    if tmp:
        return Path(tmp)
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    return Path(db_path).resolve().parent / ROOT_NAME


def use(root: Path) -> Path:
    """Make `root` this process's scratch root and return the process's own folder in it;
    leftovers of dead processes under `root` are removed first."""
    global _root, _mine
    if _mine is not None and _root == root and _mine.is_dir():
        return _mine
    try:
        root.mkdir(parents=True, exist_ok=True)
        clean_stale(root)
        mine = root / f"{os.getpid()}-{secrets.token_hex(4)}"
        mine.mkdir()
    except OSError as e:
        raise ShortshipError(f"{root}: cannot use as the temp folder ({e.strerror}); give --tmp DIR") from None
    _release()
    _root, _mine = root, mine
    return mine


def _release() -> None:
    global _mine
    if _mine is not None:
        shutil.rmtree(_mine, ignore_errors=True)
        _mine = None


atexit.register(_release)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_stale(root: Path) -> list[Path]:
    """Remove `<pid>-*` folders under `root` whose process is gone; returns what was removed."""
    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for d in entries:
        head = d.name.split("-", 1)[0]
        if not (d.is_dir() and head.isdigit()):
            continue
        pid = int(head)
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def process_dir() -> Path:
    """This process's scratch folder (under the root set by `use`, else the system temp)."""
    if _mine is not None and _mine.is_dir():
        return _mine
    return use(Path(tempfile.gettempdir()) / "shortship")


@contextmanager
def scratch(prefix: str = "work") -> Iterator[Path]:
    """A fresh folder inside this process's scratch folder, removed on exit."""
    d = process_dir() / f"{prefix}-{secrets.token_hex(4)}"
    try:
        d.mkdir()
    except OSError as e:
        raise ShortshipError(f"{d.parent}: cannot write temporary files ({e.strerror}); give --tmp DIR") from None
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


CACHE_ENV = "SHORTSHIP_CACHE"  # 0: keep nothing between processes


def cache_dir() -> Path | None:
    """A private folder of this user's, kept between processes, for what costs a small run more
    to make than to read back (an empty database of this schema: pipeline/db.py). Unlike the
    scratch folders it is left behind on purpose: `<system temp>/shortship-cache-<uid>`, made
    private (0700) and used only when it is this user's and private. None when there is none
    (env SHORTSHIP_CACHE=0, or a folder that cannot be made or is not ours)."""
    if os.environ.get(CACHE_ENV, "1") == "0" or not hasattr(os, "getuid"):
        return None
    d = Path(tempfile.gettempdir()) / f"shortship-cache-{os.getuid()}"
    try:
        d.mkdir(mode=0o700, exist_ok=True)
        st = d.lstat()
    except OSError:
        return None
    import stat

    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return d
