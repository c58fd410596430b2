"""The analysts' policy lets `chartguard flags/show/export/report/trace` run, and nothing else.

Each command runs against moto's server while a botocore hook records every API call it makes;
each call becomes the IAM action and resource ARN it needs, and is evaluated against the
statements of the synthesised `AnalystsPolicy`, whose CloudFormation references are resolved to
the local resources' ARNs. The policy must allow every call, and grant no action no command makes.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from chartguard import cli
from local.resources import put_items
from scoring.chart import render_chart
from scoring.clients import botocore_session
from scoring.market import BAR_SECONDS, Kline, Trade, window_bar_range
from scoring.risk import RiskFlag, RiskRecorder
from tests.conftest import FUNCTION_ENV

pytest.importorskip("aws_cdk")

pytestmark = [pytest.mark.integration, pytest.mark.infra]

REGION, ACCOUNT = "us-east-1", "123456789012"  # moto's
USER = "u-policy"
END = datetime(2026, 11, 20, 13, 37, tzinfo=timezone.utc)
DAY = "2026-11-20"
# botocore's service name -> IAM's service prefix
IAM_PREFIX = {"dynamodb": "dynamodb", "s3": "s3"}


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def call_resource(service: str, operation: str, params: dict[str, Any]) -> str:
    """The ARN IAM authorises an API call against (the cases the analysts' commands reach)."""
    if service == "dynamodb":
        arn = table_arn(params["TableName"])
        return f"{arn}/index/{params['IndexName']}" if params.get("IndexName") else arn
    if service == "s3":
        if "Key" in params:
            return f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"
        return f"arn:aws:s3:::{params['Bucket']}"
    raise AssertionError(f"an analysts' command called {service}:{operation}, which this test cannot map")


class CallRecorder:
    """Every API call made by clients of the tools' botocore session, as (IAM action, resource ARN)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        service = model.service_model.service_name
        self.calls.append(
            (f"{IAM_PREFIX.get(service, service)}:{model.name}", call_resource(service, model.name, params))
        )


def resolver(synth: Any) -> Callable[[Any], Any]:
    """CloudFormation intrinsics of the template -> the values they take for the local resources."""
    stack = synth.stack
    names = {
        synth.logical_id(stack.tables.trades): FUNCTION_ENV["TRADES_TABLE"],
        synth.logical_id(stack.tables.klines): FUNCTION_ENV["KLINES_TABLE"],
        synth.logical_id(stack.tables.risk): FUNCTION_ENV["RISK_TABLE"],
    }
    bucket_id = synth.logical_id(stack.evidence.bucket)
    pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": ""}

    def resolve(value: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return [resolve(v) for v in value]
        ((function, argument),) = value.items()
        if function == "Ref":
            if argument == bucket_id:
                return FUNCTION_ENV["EVIDENCE_BUCKET"]
            return pseudo[argument] if argument in pseudo else names[argument]
        if function == "Fn::GetAtt":
            logical_id, attribute = argument
            assert attribute == "Arn", argument
            if logical_id == bucket_id:
                return f"arn:aws:s3:::{FUNCTION_ENV['EVIDENCE_BUCKET']}"
            return table_arn(names[logical_id])
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(resolve(p) for p in parts)
        raise AssertionError(f"cannot resolve {value}")

    return resolve


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """IAM's evaluation for identity policies without conditions: an Allow matches, no Deny does."""

    def matches(statement: dict[str, Any]) -> bool:
        actions = as_list(statement["Action"])
        resources = as_list(statement["Resource"])
        return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
        )

    assert all("Condition" not in s and "NotAction" not in s and "NotResource" not in s for s in statements)
    if any(s["Effect"] == "Deny" and matches(s) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and matches(s) for s in statements)


@pytest.fixture(scope="module")
def analysts_statements(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    from tests.infra.conftest import ANALYSTS_ROLE, synthesise

    synth = synthesise(
        tmp_path_factory.mktemp("policy"),
        endpoint_name="chart-classifier",
        analysts_role_arn=ANALYSTS_ROLE,
        alarm_email="risk-oncall@example.com",
    )
    policy = synth.json["Resources"][synth.logical_id(synth.stack.policies["Analysts"])]
    resolve = resolver(synth)
    return [
        {**s, "Action": as_list(s["Action"]), "Resource": [resolve(r) for r in as_list(s["Resource"])]}
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


@pytest.fixture
def one_flag(aws: dict[str, Any]) -> None:
    """One flagged withdrawal of USER with its evidence, trades and klines."""
    start = END - timedelta(hours=24)
    first, last = window_bar_range(start, END)
    bars = [Kline("BTC-USD", t, 100, 101, 99, 100.5, 1.0) for t in range(first, last + 1, BAR_SECONDS)]
    trades = [
        Trade(USER, "t1", "BTC-USD", "BUY", 99.1, 1.0, start + timedelta(hours=3), "v-1"),
        Trade(USER, "t2", "BTC-USD", "SELL", 100.9, 1.0, start + timedelta(hours=3, minutes=1), "v-1"),
    ]
    put_items(aws["dynamodb"], FUNCTION_ENV["KLINES_TABLE"], (b.to_item() for b in bars))
    put_items(aws["dynamodb"], FUNCTION_ENV["TRADES_TABLE"], (t.to_item() for t in trades))
    flag = RiskFlag(
        user_id=USER,
        withdrawal_id="w-policy",
        requested_at=END,
        scored_at=END,
        score=0.97,
        threshold=0.9,
        symbol_scores={"BTC-USD": 0.97},
        trade_count=2,
        window_start=start,
        window_end=END,
        endpoint=FUNCTION_ENV["ENDPOINT_NAME"],
        render_version="chart-v1",
    )
    recorder = RiskRecorder(
        dynamodb=aws["dynamodb"],
        s3=aws["s3"],
        table_name=FUNCTION_ENV["RISK_TABLE"],
        bucket=FUNCTION_ENV["EVIDENCE_BUCKET"],
    )
    assert recorder.record(flag, {"BTC-USD": render_chart(bars, trades)})


def commands(out: Path) -> dict[str, list[str]]:
    return {
        "flags": ["flags", "--day", DAY],
        "show": ["show", USER, "--download", str(out / "evidence")],
        "export": ["export", "--day", DAY, "--out", str(out / "flags.csv")],
        "report": ["report", "--day", DAY, "--out", str(out / "report.html")],
        "trace": ["trace", USER],
    }


def test_each_analyst_command_is_allowed_every_call_it_makes_and_no_more(
    aws: dict[str, Any],
    one_flag: None,
    analysts_statements: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch,
) -> None:
    for variable in ("RISK_TABLE", "TRADES_TABLE", "KLINES_TABLE", "EVIDENCE_BUCKET"):
        monkeypatch.setenv(variable, FUNCTION_ENV[variable])
    recorder = CallRecorder()
    # Clients copy the session's hooks when they are made; the commands make theirs afterwards.
    session = botocore_session()
    session.register("before-parameter-build", recorder)
    made: dict[str, list[tuple[str, str]]] = {}
    try:
        for name, argv in commands(tmp_path).items():
            recorder.calls = []
            assert cli.main(argv) == 0, name
            made[name] = recorder.calls
    finally:
        session.unregister("before-parameter-build", recorder)

    for name, calls in made.items():
        assert calls, f"{name} made no call: the hook did not see it"
        denied = [call for call in calls if not allows(analysts_statements, *call)]
        assert denied == [], f"chartguard {name} would be denied {denied}"
    # The commands reach the risk table, its index, the trades, the klines and the evidence.
    assert {"dynamodb:Query", "s3:GetObject"} == {action for calls in made.values() for action, _ in calls}
    assert any(resource.endswith("/index/by-day") for _, resource in made["flags"])
    assert {FUNCTION_ENV["TRADES_TABLE"], FUNCTION_ENV["KLINES_TABLE"]} <= {
        resource.rsplit("/", 1)[-1] for _, resource in made["trace"]
    }
    # Nothing beyond what they call.
    granted = {action for s in analysts_statements for action in s["Action"]}
    assert granted == {"dynamodb:Query", "s3:GetObject"}


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("dynamodb:Scan", table_arn(FUNCTION_ENV["RISK_TABLE"])),
        ("dynamodb:Scan", table_arn(FUNCTION_ENV["TRADES_TABLE"])),
        ("dynamodb:GetRecords", table_arn(FUNCTION_ENV["RISK_TABLE"]) + "/stream/2026-11-20T00:00:00.000"),
        ("dynamodb:PutItem", table_arn(FUNCTION_ENV["RISK_TABLE"])),
        ("dynamodb:Query", table_arn("someone-elses-table")),
        ("dynamodb:Query", table_arn(FUNCTION_ENV["RISK_TABLE"]) + "/index/another-index"),
        ("s3:ListBucket", f"arn:aws:s3:::{FUNCTION_ENV['EVIDENCE_BUCKET']}"),
        ("s3:GetObject", f"arn:aws:s3:::{FUNCTION_ENV['EVIDENCE_BUCKET']}/evidence-bucket/access.log"),
        ("s3:PutObject", f"arn:aws:s3:::{FUNCTION_ENV['EVIDENCE_BUCKET']}/evidence/x.png"),
    ],
)
def test_the_analysts_policy_denies_what_no_command_needs(
    analysts_statements: list[dict[str, Any]], action: str, resource: str
) -> None:
    assert not allows(analysts_statements, action, resource)
