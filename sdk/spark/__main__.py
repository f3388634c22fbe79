"""``python -m sdk.spark ...``, and the file to give spark-submit (absolute import: spark-submit runs
it as a script, with the installed SDK on the path)."""

from sdk.spark.job import main

if __name__ == "__main__":
    raise SystemExit(main())
