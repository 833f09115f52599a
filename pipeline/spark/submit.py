"""The program spark-submit runs: `spark-submit [Spark options] pipeline/spark/submit.py spark-run ...`.

spark-submit wants a `.py` file; this one is the `shortship` command (the session takes its
master and settings from spark-submit)."""
from pipeline.cli import main

if __name__ == "__main__":
    main()
