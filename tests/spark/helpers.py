"""Shared by the Spark tests: the skip rule and the session's master."""
import os
import shutil

import pytest

# local[2, 4]: two cores as local[2], and a failed task is tried up to 4 times (local mode
# otherwise gives up at the first failure, unlike a cluster)
MASTER = "local[2,4]"

# The test JVMs' option (the session's here, spark-submit's in test_spark_submit.py): the C1
# compiler only. A test JVM lives a minute or two of small jobs; C2's compilations never pay
# back there (the scenario's JVM, runs A and B and a rerun: 65 s of CPU with both compilers,
# 39 s with C1 alone; its start 12 -> 7 s).
JAVA_OPTIONS = "-XX:TieredStopAtLevel=1"


def require_spark() -> None:
    """Skip the calling module unless pyspark and Java are there."""
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'shortship[spark]')")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("Java is not installed (Spark needs Java 17+)", allow_module_level=True)
