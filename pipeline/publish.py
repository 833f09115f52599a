"""Staging and publication of an output set: the layer under every writer.

A set of outputs is written into a hidden staging folder inside the output folder (same file
system, so that a rename is atomic) while the run's transaction is still open, and published
after the COMMIT:

1. `Stage` is that folder. A writer puts a file into it with `write_bytes` (content in memory,
   hashed there) or writes it at `path(rel)` and calls `add(rel)` (a file DuckDB wrote); either
   way the stage compares the file's SHA-256 with what the previous set published
   (`manifest.json`): a file whose bytes did not change is not kept in the staging folder and
   is carried over as it is (its entry in the new manifest says which set wrote it last). A
   writer that can tell from a cheaper key that a file is unchanged (an evidence page: the hash
   of the facts it shows, kept in the manifest with the page) calls `keep(rel)` and never
   renders it.
2. `publish` moves only the changed files over their old copies (each with os.replace),
   removes the files of the previous set that this set lacks (the payout batches under
   payouts/ are kept forever, and files of the user's own are never touched), and writes
   manifest.json last. Before the first rename it writes a journal (`.shortship-publishing.json`)
   naming every path it is about to replace or remove, and removes it after the manifest: a
   process killed in between leaves each file whole (old or new), the previous manifest and the
   journal, and the next set trusts none of the journal's paths (it writes them again, or
   removes them). So the manifest never vouches for a file it does not describe.
3. The outbox marks (SPEC section 5): `published_payouts` reads back the ledger lines of the
   payouts.parquet just published, and `mark_published` records them in `payout_publications`.

A step that replaces single files of a set outside a run (`shortship report`,
`shortship evidence`) goes through `publish_files`, which journals the paths of the set it
overwrites, so that the next run does not take them for the manifest's bytes.

`manifest.json`: `run_id`, `batch_id`, `as_of`, `policy`, `lang`, `evidence_renderer` (what
rendered the evidence pages: pages rendered otherwise are rendered again) and `files`: each
file of the set with `path`, `rows`, `bytes`, `sha256`, `written_by` (the batch, i.e. the run
id of a run, that wrote it last) and, for an evidence page, `facts` (the hash of the facts it
shows) and `facts_as_of` (the clock of the set in which they last changed, printed on the
page).
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb

from pipeline import db, interrupts
from pipeline.errors import ShortshipError

STAGING_PREFIX = ".shortship-staging-"
MANIFEST = "manifest.json"
JOURNAL = ".shortship-publishing.json"
BATCH_DIR = "payouts"  # payouts/<batch>.parquet: every published batch, never overwritten or removed
# what versions before manifest.json wrote: removed when a new set lacks them
LEGACY_OUTPUTS = ("flags.parquet", "liabilities.parquet", "payouts.parquet", "summary.parquet", "rejects.parquet",
                  "report.html", "liabilities.xlsx")


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of a published set, as manifest.json lists it."""
    path: str                       # relative to the output folder, '/'-separated
    rows: int | None
    bytes: int
    sha256: str
    written_by: str | None = None   # the batch (a run's id) that last wrote it
    facts: str | None = None        # evidence pages: hash of the facts shown
    facts_as_of: str | None = None  # evidence pages: the set clock at which those facts last changed

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}
        if self.written_by is not None:
            d["written_by"] = self.written_by
        if self.facts is not None:
            d["facts"] = self.facts
            d["facts_as_of"] = self.facts_as_of
        return d

    @classmethod
    def from_json(cls, d: Any) -> "Entry | None":
        if not isinstance(d, dict) or not isinstance(d.get("path"), str) or not isinstance(d.get("sha256"), str):
            return None
        try:
            return cls(path=d["path"], rows=d.get("rows"), bytes=int(d.get("bytes") or 0), sha256=d["sha256"],
                       written_by=d.get("written_by"), facts=d.get("facts"), facts_as_of=d.get("facts_as_of"))
        except (TypeError, ValueError):
            return None


def _safe_rel(rel: str) -> bool:
    """A path inside the output folder: relative, no '..' part. A manifest lists one per file
    (310,000 at 10 M orders): the common form (no '..', no drive or backslash, not rooted) is
    told by its characters; only the others go through pathlib."""
    if rel and rel[0] != "/" and ".." not in rel and ":" not in rel and "\\" not in rel:
        return True
    p = Path(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts


@dataclass
class Previous:
    """The set published in an output folder: what the manifest vouches for, and every path it
    owns (the manifest's and the journal's of an interrupted publication)."""
    trusted: dict[str, Entry] = field(default_factory=dict)
    owned: set[str] = field(default_factory=set)
    header: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, out_dir: Path) -> "Previous":
        prev = cls()
        try:
            data = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
            files = data.get("files", []) if isinstance(data, dict) else []
            for f in files if isinstance(files, list) else []:
                e = Entry.from_json(f)
                if e is not None and _safe_rel(e.path):
                    prev.trusted[e.path] = e
                elif isinstance(f, dict) and isinstance(f.get("path"), str) and _safe_rel(f["path"]):
                    prev.owned.add(f["path"])
            prev.header = {k: v for k, v in data.items() if k != "files"} if isinstance(data, dict) else {}
        except FileNotFoundError:
            prev.owned |= set(LEGACY_OUTPUTS)
        except (OSError, ValueError, TypeError, AttributeError):
            prev.owned |= set(LEGACY_OUTPUTS)
        prev.owned |= set(prev.trusted)
        for rel in read_journal(out_dir):  # content unknown: owned, not trusted
            prev.trusted.pop(rel, None)
            prev.owned.add(rel)
        return prev


def read_journal(out_dir: Path) -> list[str]:
    try:
        data = json.loads((out_dir / JOURNAL).read_text(encoding="utf-8"))
        paths = data.get("paths", []) if isinstance(data, dict) else []
        return [p for p in paths if isinstance(p, str) and _safe_rel(p)]
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []


def remove_emptied_folders(path: Path, root: Path) -> None:
    """After `path` was removed: remove the folders above it that it left empty, up to `root`
    (never `root` itself; a folder still holding anything is kept, and so are those above it)."""
    folder = path.parent
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()  # only when empty
        except OSError:
            break
        folder = folder.parent


def _write_json_atomic(path: Path, data: Any, tmp_dir: Path, compact_list: str | None = None) -> None:
    tmp = tmp_dir / f".{path.name}.{os.getpid()}.tmp"
    if compact_list:  # one entry a line: readable, and small for 240,000 files
        items = data[compact_list]
        head = {k: v for k, v in data.items() if k != compact_list}
        text = json.dumps(head, ensure_ascii=False, indent=2)[:-2]
        body = ",\n".join("    " + json.dumps(x, ensure_ascii=False) for x in items)
        text += f',\n  "{compact_list}": [\n{body}\n  ]\n}}\n' if items else f',\n  "{compact_list}": []\n}}\n'
    else:
        text = json.dumps(data, ensure_ascii=False) + "\n"
    tmp.write_text(text, encoding="utf-8")
    try:
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ShortshipError(f"{path}: cannot write ({e.strerror})") from None


def _write_journal(out_dir: Path, tmp_dir: Path, paths: Iterable[str]) -> None:
    paths = sorted(set(paths) | set(read_journal(out_dir)))
    if paths:
        _write_json_atomic(out_dir / JOURNAL, {"paths": paths}, tmp_dir)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class Stage:
    """A staging folder for one output set (see the module doc). `batch` names the set
    (`written_by` of the files it writes)."""

    def __init__(self, out_dir: str | Path, batch: str, tag: str | None = None):
        self.out_dir = Path(out_dir)
        self.batch = batch
        self.folder = new_staging_dir(self.out_dir, tag or batch)
        self.previous = Previous.read(self.out_dir)
        self.entries: dict[str, Entry] = {}
        self.written: list[str] = []     # paths staged (new or changed), in order
        self.meta: dict[str, Any] = {}   # fields writers add to the manifest (evidence_renderer)
        self._listing: dict[str, set[str]] = {}
        self._made: set[str] = set()     # folders made inside the staging folder
        self._deferred: list | None = None  # work finished after the other writers (`deferring`)

    # --- what the previous set holds -------------------------------------------------------

    def previous_entry(self, rel: str) -> Entry | None:
        return self.previous.trusted.get(rel)

    def published(self, rel: str) -> bool:
        """Whether the output folder holds `rel` now (one listing per folder, not a stat per file)."""
        folder, _, name = rel.rpartition("/")
        names = self._listing.get(folder)
        if names is None:
            try:
                names = set(os.listdir(self.out_dir / folder)) if folder else set(os.listdir(self.out_dir))
            except OSError:
                names = set()
            self._listing[folder] = names
        return name in names

    def _unchanged(self, rel: str, sha: str) -> Entry | None:
        e = self.previous.trusted.get(rel)
        return e if e is not None and e.sha256 == sha and self.published(rel) else None

    # --- work that goes on while the other writers write ----------------------------------------

    @contextmanager
    def deferring(self) -> Iterator[None]:
        """Within the block, work a writer hands over (`defer`: an object with `finish()` and
        `abort()`, such as evidence pages being rendered by worker processes) goes on while the
        other writers write, and is finished at the end of the block, in the order given; on
        an error it is aborted."""
        self._deferred = []
        try:
            yield
            while self._deferred:
                self._deferred.pop(0).finish()
        except BaseException:
            for work in self._deferred:
                work.abort()
            raise
        finally:
            self._deferred = None

    @property
    def pending(self) -> int:
        """How many pieces of deferred work are still to finish."""
        return len(self._deferred or ())

    def defer(self, work: Any) -> None:
        """Finish `work` at the end of the `deferring` block (at once outside one)."""
        if self._deferred is None:
            work.finish()
        else:
            self._deferred.append(work)

    # --- writers' calls ----------------------------------------------------------------------

    def path(self, rel: str) -> Path:
        """Where a writer writes `rel` itself (then calls `add`)."""
        return Path(self.staged_path(rel))

    def staged_path(self, rel: str) -> str:
        """The staging path of `rel` as a string, its folder made (once per folder)."""
        folder = rel.rpartition("/")[0]
        if folder not in self._made:
            os.makedirs(os.path.join(self.folder, folder), exist_ok=True)
            self._made.add(folder)
        return os.path.join(self.folder, rel)

    def write_bytes(self, rel: str, data: bytes, rows: int | None = None, **extra: Any) -> bool:
        """Put `rel` with content `data` in the set; written only when it differs from the
        published copy. Returns whether it was staged (changed)."""
        sha = sha256_bytes(data)
        same = self._unchanged(rel, sha)
        if same is not None:
            self.entries[rel] = replace(same, rows=rows if rows is not None else same.rows, **extra)
            return False
        try:
            fd = os.open(self.staged_path(rel), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError as e:
            raise ShortshipError(f"{self.out_dir / rel}: cannot write ({e.strerror})") from None
        self.entries[rel] = Entry(path=rel, rows=rows, bytes=len(data), sha256=sha, written_by=self.batch, **extra)
        self.written.append(rel)
        return True

    def add(self, rel: str, rows: int | None = None, **extra: Any) -> bool:
        """A file a writer wrote at `path(rel)`: in the set; left out of the staging folder when
        its bytes are those published. Returns whether it was staged (changed)."""
        p = self.folder / rel
        sha = sha256_file(p)
        if rows is None:
            rows = _rows(p)
        same = self._unchanged(rel, sha)
        if same is not None:
            p.unlink()
            self.entries[rel] = replace(same, rows=rows, **extra)
            return False
        self.entries[rel] = Entry(path=rel, rows=rows, bytes=p.stat().st_size, sha256=sha, written_by=self.batch,
                                  **extra)
        self.written.append(rel)
        return True

    def unchanged_sha(self, rel: str) -> str | None:
        """The SHA-256 of the published copy of `rel` that the manifest vouches for, if the
        folder holds it: content with this hash need not be written."""
        e = self.previous.trusted.get(rel)
        return e.sha256 if e is not None and self.published(rel) else None

    def record(self, rel: str, sha: str, size: int, staged: bool, rows: int | None = None, **extra: Any) -> None:
        """A file someone else (a worker process) put at `path(rel)` (`staged`), or found
        unchanged against `unchanged_sha(rel)` and did not write."""
        if not staged:
            same = self.previous.trusted[rel]
            self.entries[rel] = replace(same, rows=rows if rows is not None else same.rows, **extra)
            return
        self.entries[rel] = Entry(path=rel, rows=rows, bytes=size, sha256=sha, written_by=self.batch, **extra)
        self.written.append(rel)

    def keep(self, rel: str) -> bool:
        """Carry `rel` over as published, unread (the caller knows its content is unchanged).
        False when there is no trusted published copy: the caller must write it."""
        e = self.previous.trusted.get(rel)
        if e is None or not self.published(rel):
            return False
        self.entries[rel] = e
        return True

    @property
    def paths(self) -> list[str]:
        return sorted(self.entries)

    def remove(self) -> None:
        remove_staging(self.folder)


def _rows(path: Path) -> int | None:
    """Rows of a table-like output: Parquet from its footer; else None. (The run's writers say
    their rows: this is for a Parquet file added without them.)"""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return None


@dataclass
class Published:
    """What a publication did."""
    out_dir: Path
    rels: list[str]         # every file of the set, relative to out_dir (manifest.json last)
    written: int            # files moved into place (new or changed)
    unchanged: int          # files carried over as they were
    removed: int            # files of the previous set removed

    @property
    def paths(self) -> list[Path]:
        return [self.out_dir / rel for rel in self.rels]

    def names(self) -> list[str]:
        """Every file of the set as a path string (as str(path) of `paths`; a Path object per
        file costs eight times as much: 1.3 s for 310,000 evidence pages)."""
        out = str(self.out_dir)
        return [os.path.join(out, rel) for rel in self.rels]


def publish(stage: Stage, header: dict[str, Any]) -> Published:
    """Publish the set staged in `stage` (see the module doc). `header`: the manifest's fields
    besides `files` (run_id, batch_id, as_of, policy, lang, ...)."""
    out_dir = stage.out_dir
    current = set(stage.entries)
    stale = sorted(rel for rel in stage.previous.owned - current
                   if not rel.startswith(BATCH_DIR + "/") and rel != MANIFEST and rel != JOURNAL and _safe_rel(rel))
    _write_journal(out_dir, stage.folder, list(stage.written) + stale)
    made: set[str] = set()
    src_dir, dst_dir = str(stage.folder), str(out_dir)
    # a folder the output folder does not have yet (the evidence pages of a first run) moves
    # in whole: one rename, not one per file
    whole = {rel.partition("/")[0] for rel in stage.written if "/" in rel}
    whole = {d for d in whole if not os.path.lexists(os.path.join(dst_dir, d))}
    for d in sorted(whole):
        try:
            os.replace(os.path.join(src_dir, d), os.path.join(dst_dir, d))
        except OSError as e:
            raise ShortshipError(f"{os.path.join(dst_dir, d)}: cannot write ({e.strerror})") from None
    for rel in stage.written:
        if rel.partition("/")[0] in whole and "/" in rel:
            continue
        target = os.path.join(dst_dir, rel)
        try:
            folder = rel.rpartition("/")[0]
            if folder not in made:
                os.makedirs(os.path.join(dst_dir, folder), exist_ok=True)
                made.add(folder)
            os.replace(os.path.join(src_dir, rel), target)
        except OSError as e:
            raise ShortshipError(f"{target}: cannot write ({e.strerror})") from None
    interrupts.pause_at("renamed")  # test hook: files moved, manifest not yet written
    removed = 0
    for rel in stale:
        path = out_dir / rel
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as e:
            raise ShortshipError(f"{path}: cannot remove an earlier run's output ({e.strerror})") from None
        remove_emptied_folders(path, out_dir)
    entries = [stage.entries[rel].to_json() for rel in sorted(current)]
    _write_json_atomic(out_dir / MANIFEST, {**header, **stage.meta, "files": entries}, stage.folder, compact_list="files")
    try:
        (out_dir / JOURNAL).unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        raise ShortshipError(f"{out_dir / JOURNAL}: cannot remove ({e.strerror})") from None
    return Published(out_dir=out_dir, rels=sorted(current) + [MANIFEST], written=len(stage.written),
                     unchanged=len(current) - len(stage.written), removed=removed)


def publish_files(stage: Stage) -> list[Path]:
    """Move the files written into `stage` into place, one by one, outside a set's publication
    (`shortship report`, `shortship evidence`): the set's manifest is left as it is, and the
    paths it lists are journaled (the next set writes them again). Returns the paths."""
    out_dir = stage.out_dir
    listed = [rel for rel in stage.written if rel in stage.previous.trusted]  # what the manifest vouches for
    if listed:
        _write_journal(out_dir, stage.folder, listed)
    out = []
    for rel in stage.written:
        target = out_dir / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage.folder / rel, target)
        except OSError as e:
            raise ShortshipError(f"{target}: cannot write ({e.strerror})") from None
        out.append(target)
    return out


# --- staging folders ------------------------------------------------------------------------

def new_staging_dir(out_dir: Path, tag: str | None = None) -> Path:
    """A fresh hidden folder inside `out_dir` (same file system, so os.replace is atomic)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        clean_stale_staging(out_dir)
        tag = tag or secrets.token_hex(4)
        d = out_dir / f"{STAGING_PREFIX}{os.getpid()}-{tag}"
        d.mkdir()
    except FileExistsError:
        raise ShortshipError(f"{out_dir}: --out is a file, not a folder") from None
    except NotADirectoryError:
        raise ShortshipError(f"{out_dir}: --out is not a folder (a part of the path is a file)") from None
    except OSError as e:
        raise ShortshipError(f"{out_dir}: cannot write the outputs there ({e.strerror})") from None
    return d


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_staging(out_dir: Path) -> None:
    """Remove staging folders left by killed runs (their process is gone)."""
    if not out_dir.is_dir():
        return
    for d in out_dir.glob(STAGING_PREFIX + "*"):
        try:
            pid = int(d.name[len(STAGING_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def remove_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


# --- the outbox's marks ---------------------------------------------------------------------

def published_payouts(con: duckdb.DuckDBPyConnection, out_dir: Path) -> tuple[list[int], Decimal]:
    """The payout ids the published payouts.parquet holds (what `mark_published` records) and
    their yuan: read back from the file the payout system will read, not recomputed (by DuckDB:
    a run imports no pyarrow, pipeline/setdata.py; the sum in Decimal)."""
    rows = con.execute("select payout_id, yuan from read_parquet(?)", [str(out_dir / "payouts.parquet")]).fetchall()
    total = sum((y for _, y in rows if y is not None), Decimal("0.00"))
    return [int(x) for x, _ in rows], total


def mark_published(con: duckdb.DuckDBPyConnection, batch_id: str, payout_ids: list[int]) -> None:
    """Record that the ledger lines `payout_ids` were published in batch `batch_id` (one
    transaction; insert-only: the ledger itself is never updated)."""
    if not payout_ids:
        return
    from pipeline.clock import china_now

    with db.transaction(con):  # one statement: the ids travel as one list parameter
        con.execute(
            "insert into payout_publications (batch_id, payout_id, published_at) "
            "select $batch, unnest($ids::bigint[]), $at",
            {"batch": batch_id, "ids": payout_ids, "at": china_now()},
        )
