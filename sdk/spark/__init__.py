"""The SDK over Spark DataFrames (needs the ``[spark]`` extra: pyspark, pandas, pyarrow).

    import sdk.spark
    out = sdk.spark.check(df, utterance_col="utterance", context_col="context")
    out = sdk.spark.emotion(df, text_col="text")
    out = sdk.spark.audit(df, turns_col="turns")

Each returns ``df`` with result columns and an ``error`` column: one output row per input row.
As a job: ``python -m sdk.spark check --input in.jsonl --output out/`` (also under spark-submit).
"""

from .frames import AUDIT_COLUMNS, CHECK_COLUMNS, EMOTION_COLUMNS, CheckerSpec, audit, check, emotion

__all__ = ["check", "emotion", "audit", "CheckerSpec", "CHECK_COLUMNS", "EMOTION_COLUMNS", "AUDIT_COLUMNS"]
