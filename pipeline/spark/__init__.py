"""shortship on Apache Spark (`shortship spark-run`, the `[spark]` extra).

`shop` runs one shop with the single-machine library (no Spark in it); `job` spreads the shops
over a Spark cluster and writes the datasets. Importing this package does not import pyspark."""
