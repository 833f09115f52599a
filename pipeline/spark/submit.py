"""The program spark-submit runs: `spark-submit [Spark options] submit.py spark-run ...`.

spark-submit wants a `.py` file; this one is the `shortship` command (the session takes its
master and settings from spark-submit). Take it from the installed package (`python -c 'import
pipeline.spark.submit as m; print(m.__file__)'`) or from the wheel (`unzip -p
shortship-*.whl pipeline/spark/submit.py > submit.py`); see the README, "On a cluster"."""
from pipeline.cli import main

if __name__ == "__main__":
    main()
