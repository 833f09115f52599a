"""Shared by the Spark tests: the skip rule and the session's master."""
import os
import shutil

import pytest

# local[2, 4]: two cores as local[2], and a failed task is tried up to 4 times (local mode
# otherwise gives up at the first failure, unlike a cluster)
MASTER = "local[2,4]"


def require_spark() -> None:
    """Skip the calling module unless pyspark and Java are there."""
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'shortship[spark]')")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("Java is not installed (Spark needs Java 17+)", allow_module_level=True)
