"""The one thing about the build that pyproject.toml cannot say.

The SQL models stay in `sql/` at the top of the repository, where they are edited, and are
installed inside the package as `pipeline/_sql/`: `pipeline._sql` is a package whose folder is
`sql/` (its sub-folders are its sub-packages; the `.sql` files are its package data, listed in
pyproject.toml). So an installed shortship (a wheel, `pip install .`, `pipx`, a Spark executor's
environment or a `--py-files` zip) carries its models, and an editable install (`pip install
-e .`) finds them in the repository's `sql/`, where edits take effect at once.
`pipeline.resources` is the one place the code looks for them."""
from setuptools import find_namespace_packages, setup

SQL = "pipeline._sql"

setup(
    packages=find_namespace_packages(include=["pipeline*"], exclude=[SQL, f"{SQL}.*", "*.__pycache__"])
    + [SQL] + [f"{SQL}.{p}" for p in find_namespace_packages(where="sql", exclude=["*.__pycache__"])],
    package_dir={SQL: "sql"},
)
