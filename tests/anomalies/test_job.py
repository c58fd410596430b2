"""The job end to end on local files: bad input counted, edge days, reruns, planted anomalies found."""

from __future__ import annotations

import json
from datetime import date

import pytest

from anomalies.config import load_config
from anomalies.job import MissingInput, main, run_day
from tests.anomalies.conftest import CLEAN_DAY, PLANTED_DAY, write_lines

DAY = "2026-11-24"


def good(i: int, **extra) -> str:
    record = {
        "ts": f"{DAY}T10:{i % 60:02d}:00Z",
        "request_id": f"r{i}",
        "event": "login",
        "api": "/apis/reglogin/login.action",
        "user_id": f"u{i % 3}",
        "device_id": "d1",
        "ip": "10.0.0.1",
        "status": 200,
        **extra,
    }
    return json.dumps(record)


BAD_LINES = {
    "not_json": ["{not json", "login,u1,10.0.0.1", '{"ts": "2026-11-24T10:00:00Z", "request_id": '],
    "missing_request_id": [json.dumps({"ts": f"{DAY}T10:00:00Z", "event": "login", "api": "/x"})],
    "missing_event": [json.dumps({"ts": f"{DAY}T10:00:00Z", "request_id": "x1", "api": "/x", "event": ""})],
    "missing_ts": [json.dumps({"request_id": "x2", "event": "login", "api": "/x"})],
    "bad_timestamp": [
        json.dumps({"ts": "yesterday", "request_id": "x3", "event": "login", "api": "/x"}),
        json.dumps({"ts": "2026-13-45T99:00:00Z", "request_id": "x4", "event": "login", "api": "/x"}),
    ],
    "outside_day": [
        json.dumps({"ts": "2026-11-23T23:59:59Z", "request_id": "x5", "event": "login", "api": "/x"})
    ],
    "blank_line": [""],
}


def summary_of(out, day=DAY) -> dict:
    return json.loads((out / f"day={day}" / "summary.json").read_text())


def findings_of(out, day=DAY) -> list[dict]:
    return [json.loads(line) for line in (out / f"day={day}" / "findings.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_bad_lines_are_counted_by_reason_and_the_good_ones_analysed(spark, tmp_path):
    lines = [good(i) for i in range(40)] + [line for group in BAD_LINES.values() for line in group]
    write_lines(tmp_path / "logs", DAY, lines)
    result = run_day(
        spark,
        logs=str(tmp_path / "logs"),
        day=date(2026, 11, 24),
        out=str(tmp_path / "out"),
        config=load_config(),
    )
    summary = summary_of(tmp_path / "out")
    assert summary["rows_read"] == len(lines)
    assert summary["rows_accepted"] == 40
    assert summary["rows_rejected"] == {reason: len(group) for reason, group in BAD_LINES.items()}
    assert result.summary["rows_rejected"] == summary["rows_rejected"]


@pytest.mark.slow
def test_an_empty_day_completes_with_nothing_read_and_nothing_found(spark, tmp_path):
    write_lines(tmp_path / "logs", DAY, [])
    result = run_day(
        spark,
        logs=str(tmp_path / "logs"),
        day=date(2026, 11, 24),
        out=str(tmp_path / "out"),
        config=load_config(),
    )
    assert result.findings == []
    summary = summary_of(tmp_path / "out")
    assert (summary["rows_read"], summary["rows_rejected"], summary["findings"]) == (0, {}, 0)
    assert findings_of(tmp_path / "out") == []


def test_a_missing_day_fails_the_run_with_a_clear_error_and_writes_nothing(spark, tmp_path, capsys):
    (tmp_path / "logs").mkdir()
    with pytest.raises(MissingInput, match="no logs for 2026-11-24"):
        run_day(
            spark,
            logs=str(tmp_path / "logs"),
            day=date(2026, 11, 24),
            out=str(tmp_path / "out"),
            config=load_config(),
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_every_planted_anomaly_is_a_finding(planted_run):
    result, truth, _ = planted_run
    by_kind = {p.kind: p for p in truth.planted}
    found = result.findings

    def has(kind, severity="high", **key):
        return any(
            f.kind == kind and f.severity == severity and all(f.key.get(k) == v for k, v in key.items())
            for f in found
        )

    assert has("aggregate", device_id=by_kind["device_farm"].keys["device_id"])
    assert has("aggregate", ip=by_kind["credential_stuffing"].keys["ip"])
    assert has("aggregate", ip=by_kind["takeover_ring"].keys["ip"])
    scraper = by_kind["scraper"].keys
    assert has("pattern", client_id=scraper["client_id"], ip=scraper["ip"], api=scraper["api"])
    stuffing = next(f for f in found if f.key == {"ip": by_kind["credential_stuffing"].keys["ip"]})
    assert stuffing.metric == "failed_logins" and stuffing.value > 900
    assert (
        set(stuffing.sample_users) <= set(by_kind["credential_stuffing"].users)
        and len(stuffing.sample_users) == 20
    )


@pytest.mark.slow
def test_the_registration_burst_is_a_high_timeseries_finding(planted_run):
    result, truth, _ = planted_run
    burst = next(p for p in truth.planted if p.kind == "registration_burst")
    assert any(
        f.kind == "timeseries"
        and f.key["metric"] == "registrations"
        and f.severity == "high"
        and f.start <= burst.end
        and f.end >= burst.start
        for f in result.findings
    )


@pytest.mark.slow
def test_benign_concentrations_are_not_ranked_high(planted_run):
    result, _, _ = planted_run
    high = [f for f in result.findings if f.severity == "high"]
    nat_or_proxy = [f for f in result.findings if f.key.get("ip", "").startswith(("100.64.", "198.51.100."))]
    assert nat_or_proxy, "the carrier NAT and proxy IPs should be flagged (they hold many users)"
    assert all(f.severity == "low" for f in nat_or_proxy)
    assert not any("ExchangeApp" in f.key.get("user_agent", "") for f in high)
    assert result.findings.index(high[-1]) < result.findings.index(nat_or_proxy[0])


@pytest.mark.slow
def test_a_clean_day_has_no_high_severity_finding(clean_run):
    assert [f.detail for f in clean_run.findings if f.severity == "high"] == []
    assert clean_run.summary["rows_rejected"] == {}


@pytest.mark.slow
def test_a_rerun_replaces_the_day_with_the_same_findings(spark, simulated, planted_run, tmp_path):
    logs, _ = simulated
    result, _, out = planted_run
    before = (out / f"day={PLANTED_DAY}" / "findings.jsonl").read_text()
    rerun = run_day(spark, logs=str(logs), day=PLANTED_DAY, out=str(out), config=load_config())
    after = (out / f"day={PLANTED_DAY}" / "findings.jsonl").read_text()
    assert after == before
    assert [f.finding_id for f in rerun.findings] == [f.finding_id for f in result.findings]
    parquet = spark.read.parquet(str(out / f"day={PLANTED_DAY}" / "findings.parquet"))
    assert parquet.count() == len(result.findings)


@pytest.mark.slow
def test_the_entry_point_exits_0_with_findings_and_2_on_a_missing_day(simulated, tmp_path, capsys):
    logs, _ = simulated
    assert (
        main(["--logs", str(logs), "--day", f"{CLEAN_DAY}", "--out", str(tmp_path), "--master", "local[2]"])
        == 0
    )
    assert "findings" in capsys.readouterr().out
    assert main(["--logs", str(logs), "--day", "2026-01-01", "--out", str(tmp_path)]) == 2
    assert "no logs for 2026-01-01" in capsys.readouterr().err


def test_an_unknown_detector_stops_the_run_before_any_work(spark, tmp_path):
    from anomalies.config import ConfigError

    with pytest.raises(ConfigError, match=r"series\.detector='prophet'"):
        run_day(
            spark,
            logs=str(tmp_path),
            day=date(2026, 11, 24),
            out=str(tmp_path / "out"),
            config=load_config(),
            detector="prophet",
        )
    assert not (tmp_path / "out").exists()
