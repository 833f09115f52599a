"""The Spark tests share one local session for the whole run (see helpers.MASTER); the test
modules skip themselves with a reason when pyspark (the [spark] extra) or Java is missing."""
import os

import pytest

from tests.spark.helpers import JAVA_OPTIONS, MASTER


@pytest.fixture(scope="session")
def spark():
    from pipeline.spark.job import spark_session

    # The JVM's own options reach it only as spark-submit's arguments when pyspark launches it
    # (PYSPARK_SUBMIT_ARGS; a session setting comes after the JVM started): the C1 compiler
    # only and no UI (helpers.JAVA_OPTIONS). A launch set by the environment is left alone.
    own = "PYSPARK_SUBMIT_ARGS" not in os.environ
    if own:
        os.environ["PYSPARK_SUBMIT_ARGS"] = (f"--driver-java-options {JAVA_OPTIONS} "
                                             "--conf spark.ui.enabled=false pyspark-shell")
    try:
        session = spark_session(MASTER, app_name="shortship-tests")
    finally:
        if own:
            del os.environ["PYSPARK_SUBMIT_ARGS"]
    yield session
    session.stop()
