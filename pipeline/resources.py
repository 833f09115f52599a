"""Where shortship finds its own files: the SQL models, the policy presets, the page templates
and the message catalogue. Nothing else in the library works out a path from `__file__`.

Every file is read through `importlib.resources` from the installed packages, so the same code
works from a checkout (an editable install, `pip install -e .`), from an installed wheel (`pip
install`, `pipx`, a server, a Spark executor's environment) and from a zip on the Python path
(the wheel shipped to Spark's executors with `--py-files`). The SQL models are edited in `sql/`
at the top of the repository; the build installs that folder as the package `pipeline._sql`
(setup.py), and an editable install maps the package name to the repository's folder, so an
edit there takes effect at once.

A resource is a `Traversable` (a `pathlib.Path` when the package lies in a folder, as it does
installed or editable): `read_text`, `read_bytes`, `is_file`, `iterdir`, `/`.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import ShortshipError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

PACKAGE = "pipeline"
SQL_PACKAGE = "pipeline._sql"  # sql/ of the repository, as installed
# the folders of page templates, each beside the code that fills it
TEMPLATE_PACKAGES = ("pipeline.report",)
# what makes up the code a run executes (see `fingerprint`)
CODE_SUFFIXES = (".py", ".sql", ".toml", ".html", ".mo")


def package() -> Traversable:
    """The package's own folder (policies/, locale/, the templates' folders)."""
    return files(PACKAGE)


@lru_cache(maxsize=None)
def sql_root() -> Traversable:
    """The folder of the SQL models (`sql/` of the repository)."""
    try:
        return files(SQL_PACKAGE)
    except ModuleNotFoundError:
        # the code was put on the Python path without installing it (not even editable)
        raise ShortshipError(
            f"the SQL models are not installed beside {location()} (package {SQL_PACKAGE}): "
            "install shortship (pip install shortship-*.whl, or pip install -e . in a checkout)"
        ) from None


def sql(name: str) -> Traversable:
    """The model `name` (`staging/orders.sql`: its path under sql/)."""
    return sql_root().joinpath(*name.split("/"))


def sql_names(folder: str) -> list[str]:
    """The models of one folder of sql/, in name order (`schema/00_macros.sql`, ...)."""
    d = sql(folder)
    if not d.is_dir():
        return []
    return sorted(f"{folder}/{p.name}" for p in d.iterdir() if p.name.endswith(".sql") and p.is_file())


def policy(name: str) -> Traversable:
    """The preset `name` (pipeline/policies/<name>.toml)."""
    return package().joinpath("policies", f"{name}.toml")


def policy_names() -> list[str]:
    d = package().joinpath("policies")
    return sorted(p.name[: -len(".toml")] for p in d.iterdir() if p.name.endswith(".toml"))


def catalogue(lang: str) -> Traversable:
    """The compiled message catalogue of `lang` (pipeline/locale/<lang>/LC_MESSAGES/shortship.mo)."""
    return package().joinpath("locale", lang, "LC_MESSAGES", "shortship.mo")


def template_loader():
    """A Jinja2 loader over the template folders (`<package>/templates`), in or out of a zip."""
    import jinja2

    return jinja2.ChoiceLoader([jinja2.PackageLoader(p, "templates") for p in TEMPLATE_PACKAGES])


def source_dir() -> Path:
    """The package's folder on disk, for the development tools that write into it (`make locale`
    writes the catalogue there); in a checkout, the repository's pipeline/."""
    root = package()
    if not isinstance(root, Path):
        raise ShortshipError(f"{root}: the package is not in a folder (a zip?); run this from a checkout")
    return root


def _walk(root: Traversable, prefix: str, skip: str | None = None):
    for p in root.iterdir():
        if p.name == "__pycache__" or p.name == skip:
            continue
        if p.is_dir():
            yield from _walk(p, f"{prefix}{p.name}/", None)
        elif p.name.endswith(CODE_SUFFIXES):
            yield f"{prefix}{p.name}", p


@lru_cache(maxsize=None)
def fingerprint() -> str:
    """A digest of the code a run executes: every module, model, preset, template and compiled
    catalogue, by its path inside the installed package. The same files give the same digest
    whether the package is a checkout, an installed wheel or a zip (Spark's driver and executors
    compare theirs: they must run the same code)."""
    h = hashlib.sha256()
    found = dict(_walk(package(), "", skip="_sql"))  # installed, the models lie inside the package
    found.update(_walk(sql_root(), "_sql/"))
    for name in sorted(found):
        data = found[name].read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:16]


def location() -> str:
    """Where the package was imported from (for messages)."""
    return str(package())
