"""The day's output folder, through Hadoop's FileSystem: the same calls write a local folder or s3://.

`<out>/day=YYYY-MM-DD/`: findings.jsonl, findings.parquet/, summary.json, patterns.jsonl,
monitor.jsonl, series.jsonl, series.parquet/. A rerun deletes the folder first, so it replaces
the day's output instead of adding to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

from pyspark.sql import SparkSession


def day_folder(out: str, day: date) -> str:
    return f"{out.rstrip('/')}/day={day.isoformat()}"


class DayOutput:
    def __init__(self, spark: SparkSession, out: str, day: date) -> None:
        self.spark = spark
        self.folder = day_folder(out, day)
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        self._jvm = jvm
        self._root = jvm.org.apache.hadoop.fs.Path(self.folder)
        self._fs = self._root.getFileSystem(spark._jsparkSession.sessionState().newHadoopConf())

    def clear(self) -> None:
        if self._fs.exists(self._root):
            self._fs.delete(self._root, True)
        self._fs.mkdirs(self._root)

    def path(self, name: str) -> str:
        return f"{self.folder}/{name}"

    def write_text(self, name: str, text: str) -> None:
        stream = self._fs.create(self._jvm.org.apache.hadoop.fs.Path(self.path(name)), True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def write_json(self, name: str, value: Any) -> None:
        self.write_text(name, json.dumps(value, indent=2, sort_keys=True) + "\n")

    def write_jsonl(self, name: str, records: Iterable[dict[str, Any]]) -> None:
        self.write_text(name, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
