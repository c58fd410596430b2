"""`chartguard local` serves any boto3 program that sources .local/stack.env, and stops cleanly."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


def chartguard(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chartguard.cli", *args],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def port_open(url: str) -> bool:
    parsed = urlparse(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parsed.hostname, parsed.port)) == 0


def test_local_stack_scores_what_any_boto3_program_sends_and_stops_cleanly(model_dir, tmp_path):
    env_file = tmp_path / "stack.env"
    stack = subprocess.Popen(
        [sys.executable, "-m", "chartguard.cli", "local", "--env-file", str(env_file), "--model-dir", str(model_dir)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not env_file.exists() and time.monotonic() < deadline and stack.poll() is None:
            time.sleep(0.2)
        assert env_file.exists(), (
            f"no env file; stack exited {stack.poll()}: {stack.stderr.read() if stack.poll() is not None else ''}"
        )
        env = read_env_file(env_file)
        for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                     "TRADES_TABLE", "KLINES_TABLE", "RISK_TABLE", "EVIDENCE_BUCKET", "ENDPOINT_NAME",
                     "QUEUE_URL", "DLQ_URL"):  # fmt: skip
            assert env.get(name), name

        # Another program (here: the project's own CLI in a fresh process) loads data and sends.
        truth = tmp_path / "truth.csv"
        loaded = chartguard(
            ["load", "accounts", "--hackers", "2", "--normals", "2", "--seed", "5", "--truth", str(truth)],
            env,
        )
        assert loaded.returncode == 0, loaded.stderr
        rows = [line.split(",") for line in truth.read_text().splitlines()[1:]]
        for n, (user_id, *_rest) in enumerate(rows):
            sent = chartguard(["send", "--user-id", user_id, "--withdrawal-id", f"w-local-{n}"], env)
            assert sent.returncode == 0, sent.stderr
            assert json.loads(sent.stdout)["message_id"]

        import boto3

        sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                           aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            attributes = sqs.get_queue_attributes(QueueUrl=env["QUEUE_URL"], AttributeNames=["All"])[
                "Attributes"
            ]
            if (
                attributes["ApproximateNumberOfMessages"] == "0"
                and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
            ):
                break
            time.sleep(0.5)
        else:
            pytest.fail("the local stack did not consume the messages")
        dynamodb = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                                aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
        flagged = {item["user_id"]["S"] for item in dynamodb.scan(TableName=env["RISK_TABLE"])["Items"]}
        hackers = {user for user, label, *_ in rows if label == "hacker"}
        assert flagged <= hackers and flagged, (flagged, rows)
        endpoint_url = env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"]
    finally:
        stack.send_signal(signal.SIGTERM)
        code = stack.wait(timeout=30)
    assert code == 0, stack.stderr.read()
    assert not port_open(env["AWS_ENDPOINT_URL"]) and not port_open(endpoint_url), "a port is still served"
    assert not env_file.exists()
