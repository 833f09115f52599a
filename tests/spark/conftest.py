"""The Spark tests share one local session for the whole run (see helpers.MASTER); the test
modules skip themselves with a reason when pyspark (the [spark] extra) or Java is missing."""
import pytest

from tests.spark.helpers import MASTER


@pytest.fixture(scope="session")
def spark():
    from pipeline.spark.job import spark_session

    session = spark_session(MASTER, app_name="shortship-tests")
    yield session
    session.stop()
