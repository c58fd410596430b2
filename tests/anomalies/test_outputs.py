"""What analysts and operators get: the CLI, the HTML report in headless Chromium, the SNS alert."""

from __future__ import annotations

import argparse
import json
import shutil

import boto3
import pytest

from anomalies.alerts import alert_message, publish_alert
from anomalies.config import ConfigError, load_config
from anomalies.findings import Finding
from anomalies.report import write_report
from chartguard import anomalies_cli
from tests.anomalies.conftest import PLANTED_DAY
from tests.browser import screenshot


def cli(argv):
    parser = argparse.ArgumentParser(prog="chartguard")
    anomalies_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


@pytest.mark.parametrize("command", ["simulate", "run", "findings", "report"])
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli(["anomalies", command, "--help"])
    assert exit_.value.code == 0
    assert f"chartguard anomalies {command}" in capsys.readouterr().out


@pytest.mark.slow
def test_findings_lists_highest_severity_first(planted_run, capsys):
    _, _, out = planted_run
    assert cli(["anomalies", "findings", "--out", str(out), "--day", f"{PLANTED_DAY}", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    order = {"high": 0, "medium": 1, "low": 2}
    assert rows and [order[r["severity"]] for r in rows] == sorted(order[r["severity"]] for r in rows)
    assert (
        cli(["anomalies", "findings", "--out", str(out), "--day", f"{PLANTED_DAY}", "--severity", "high"])
        == 0
    )
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("severity") and all(line.startswith("high") for line in text[1:])


def test_findings_of_a_day_never_run_is_a_clear_error(tmp_path):
    from chartguard.stack_access import UserError

    with pytest.raises(UserError, match="no findings for 2026-01-01"):
        cli(["anomalies", "findings", "--out", str(tmp_path), "--day", "2026-01-01"])


@pytest.mark.slow
def test_the_report_is_escaped_and_renders_in_headless_chromium(planted_run, tmp_path):
    _, _, out = planted_run
    day_dir = tmp_path / "day"
    shutil.copytree(out / f"day={PLANTED_DAY}", day_dir)
    # A hostile value in a finding must come out escaped.
    findings = day_dir / "findings.jsonl"
    lines = findings.read_text().splitlines()
    first = json.loads(lines[0])
    first["detail"] = '<script>alert("x")</script> & co'
    findings.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    html = write_report(day_dir, tmp_path / "report.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in html
    assert "class='hot'" in html and "<svg" in html and ",,cid-" in html

    from PIL import Image

    shot = screenshot(tmp_path / "report.html", tmp_path, height=4000)
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20)
        # the highlighted cells' colour (#ffb3a7) is on the page
        hot = sum(1 for count, colour in (colours or []) if colour == (0xFF, 0xB3, 0xA7))
    assert colours is None or len(colours) > 50, "the screenshot is blank"
    assert hot, "no highlighted monitor cell visible"


def finding(severity: str, detail: str) -> Finding:
    return Finding(
        "id" + detail,
        "2026-11-24",
        "aggregate",
        {"ip": "1.2.3.4"},
        "distinct_users",
        30,
        0,
        9,
        severity,
        "2026-11-24T00:00:00Z",
        "2026-11-25T00:00:00Z",
        detail,
    )


def test_the_alert_names_the_high_findings_and_is_none_without_them():
    summary = {"day": "2026-11-24", "rows_read": 1234}
    assert alert_message(summary, [finding("low", "proxy")]) is None
    text = alert_message(summary, [finding("high", "ring IP"), finding("low", "proxy")])
    assert text is not None and "1 high-severity finding(s) in 1,234 requests" in text
    assert "ring IP" in text and "proxy" not in text


@pytest.mark.integration
def test_the_alert_reaches_the_topic_over_http(monkeypatch):
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        sns, sqs = boto3.client("sns", endpoint_url=url), boto3.client("sqs", endpoint_url=url)
        topic = sns.create_topic(Name="anomaly-findings")["TopicArn"]
        queue = sqs.create_queue(QueueName="phone")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        summary = {"day": "2026-11-24", "rows_read": 10, "alert": "chartguard anomalies 2026-11-24: 1 high"}
        assert publish_alert(sns, topic, summary)
        assert publish_alert(sns, topic, {**summary, "alert": None}) is None
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    finally:
        server.stop()
    assert [m["Body"] for m in messages] == ["chartguard anomalies 2026-11-24: 1 high"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("history_days = -1", "history_days=-1: must be >= 0"),
        ("colour = 1", "colour: unknown key"),
        ("[monitor]\ndimensions = ['device_id', 'shoe_size']", "not request fields"),
        ("[patterns]\nmin_support = 0", "patterns.min_support=0: must be > 0"),
        (
            "[[monitor.rules]]\ndimensions = ['referer']\nmetric = 'requests'\nabove = 3",
            "monitor.rules[0].dimensions: ['referer'] are not all in monitor.dimensions",
        ),
        (
            "[[monitor.rules]]\ndimensions = ['ip']\nmetric = 'bytes'\nabove = 3",
            "monitor.rules[0].metric='bytes'",
        ),
        ("history_days = ", "not valid TOML"),
    ],
)
def test_a_bad_configuration_names_its_key(text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(text)


def test_the_shipped_configuration_is_valid_and_a_partial_file_keeps_the_other_defaults():
    default = load_config()
    assert (
        default.monitor.dimensions == ("device_id", "ip", "user_id")
        and default.patterns.share_threshold == 0.10
    )
    changed = load_config("history_days = 3\n[patterns]\nmin_support = 0.05")
    assert (changed.history_days, changed.patterns.min_support) == (3, 0.05)
    assert changed.monitor == default.monitor
