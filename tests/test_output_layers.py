"""The output stage is three layers without a circle (issue 21): pipeline/export.py declares the
set and calls the writers; the writers sit side by side and import neither one another nor
export.py; under them pipeline/setdata.py (the set's rows) and pipeline/publish.py (staging and
publication) import no writer. Checked on every import statement of the modules, also those
inside functions."""
from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PKG = ROOT / "pipeline"
# writer -> its modules (a package's every module)
WRITERS = {
    "tables": ["tables.py"],
    "act": ["act/__init__.py", "act/evidence.py", "act/facts.py", "act/page.py", "act/workers.py"],
    "workbook": ["export_xlsx.py"],
    "review": ["review.py"],
    "report": ["report/__init__.py", "report/charts.py", "report/render.py", "report/overview.py"],
}
MODULE_OF = {"tables": "pipeline.tables", "act": "pipeline.act", "workbook": "pipeline.export_xlsx",
             "review": "pipeline.review", "report": "pipeline.report"}


def imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names; `from pipeline import x` gives pipeline.x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def reaches(names: set[str], module: str) -> bool:
    return any(n == module or n.startswith(module + ".") for n in names)


def test_writers_import_neither_one_another_nor_the_layer_above():
    for writer, files in WRITERS.items():
        for f in files:
            names = imports(PKG / f)
            assert not reaches(names, "pipeline.export"), f"{f} reaches back up to pipeline.export"
            for other, module in MODULE_OF.items():
                if other != writer:
                    assert not reaches(names, module), f"{f} (writer {writer}) imports the writer {module}"


def test_the_layers_under_the_writers_import_no_writer():
    for f in ("publish.py", "setdata.py"):
        names = imports(PKG / f)
        for module in [*MODULE_OF.values(), "pipeline.export"]:
            assert not reaches(names, module), f"{f} imports {module}"
    assert not reaches(imports(PKG / "publish.py"), "pipeline.setdata")


def test_export_declares_every_writer_once():
    from pipeline import export

    writers = [w for _, w in export.WRITERS]
    assert len(writers) == len(set(writers))
    assert {w.__module__.split(".")[1] for w in writers} == {"tables", "act", "export_xlsx", "review", "report"}
    assert {w for _, w in export.PEOPLE} <= set(writers)
