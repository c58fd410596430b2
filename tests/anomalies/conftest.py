"""One local SparkSession for the whole suite, and one simulated week analysed once.

Starting the JVM costs seconds, so the session is shared; small shuffle partitions keep the
tiny fixtures fast. The simulated logs are small but keep the traffic's shape (NAT and proxy
IPs with many users, family devices, a few dominant app builds) and the planted anomalies.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark")

from anomalies.config import load_config  # noqa: E402
from anomalies.job import build_session, run_day  # noqa: E402
from anomalies.simulate import simulate_logs  # noqa: E402

PLANTED_DAY = date(2026, 11, 26)
CLEAN_DAY = date(2026, 11, 25)
DAYS = 4
USERS = 1000


@pytest.fixture(scope="session")
def spark():
    session = build_session("local[2]", driver_memory="2g", shuffle_partitions=4)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def simulated(tmp_path_factory):
    """Four weekdays of logs: three ordinary days, then the planted day."""
    logs = tmp_path_factory.mktemp("logs")
    truth = simulate_logs(logs, days=DAYS, users=USERS, seed=11, last_day=PLANTED_DAY)
    return logs, truth


@pytest.fixture(scope="session")
def planted_run(spark, simulated, tmp_path_factory):
    logs, truth = simulated
    out = tmp_path_factory.mktemp("findings")
    result = run_day(spark, logs=str(logs), day=PLANTED_DAY, out=str(out), config=load_config())
    return result, truth, out


@pytest.fixture(scope="session")
def clean_run(spark, simulated, tmp_path_factory):
    """The last ordinary day, with the two days before it as history."""
    logs, _ = simulated
    out = tmp_path_factory.mktemp("clean")
    return run_day(spark, logs=str(logs), day=CLEAN_DAY, out=str(out), config=load_config())


def write_lines(folder: Path, day: str, lines: list[str], *, name: str = "part-00000.jsonl") -> Path:
    target = folder / f"day={day}"
    target.mkdir(parents=True, exist_ok=True)
    (target / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return target
