"""The batch side in the template: daily schedule, the job role's reach, the failure alarm."""

from __future__ import annotations

import json

import pytest

from infra.cdk_context import AnomalySettings, ConfigError
from tests.infra.conftest import synthesise

pytest.importorskip("aws_cdk")
pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def existing_logs_synth(tmp_path_factory):
    return synthesise(
        tmp_path_factory.mktemp("existing-logs"),
        endpoint_name="Chart-Classifier",
        anomaly_logs_bucket="exchange-api-logs",
        anomaly_logs_prefix="gateway/requests",
        anomaly_schedule_hour_utc="3",
        anomaly_max_vcpu="8",
        anomaly_max_memory_gb="32",
        alarm_email="risk-oncall@example.com",
    )


def _policy_statements(synth, role_logical_id):
    statements = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _resources(statement):
    found = statement["Resource"]
    return found if isinstance(found, list) else [found]


def test_the_spark_application_is_emr_serverless_8_with_auto_start_stop_and_a_ceiling(default_synth):
    _, app = default_synth.one("AWS::EMRServerless::Application")
    props = app["Properties"]
    assert props["ReleaseLabel"] == "emr-spark-8.0.0" and props["Type"] == "Spark"
    assert props["AutoStartConfiguration"] == {"Enabled": True}
    assert props["AutoStopConfiguration"] == {"Enabled": True, "IdleTimeoutMinutes": 15}
    assert props["MaximumCapacity"] == {"Cpu": "16 vCPU", "Memory": "64 GB"}


def test_a_daily_schedule_starts_the_state_machine_that_waits_for_the_job(default_synth):
    _, schedule = default_synth.one("AWS::Scheduler::Schedule")
    props = schedule["Properties"]
    assert (
        props["ScheduleExpression"] == "cron(0 1 * * ? *)"
        and props["ScheduleExpressionTimezone"] == "Etc/UTC"
    )
    machine_id, machine = default_synth.one("AWS::StepFunctions::StateMachine")
    assert props["Target"]["Arn"] == {"Ref": machine_id}
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert "emr-serverless:startJobRun.sync" in definition
    assert "--py-files" in definition and "summary.json" in definition


def test_the_job_role_reaches_only_its_buckets(default_synth):
    synth = default_synth
    role_id = synth.logical_id(synth.stack.anomalies.job_role)
    _, role = next((k, v) for k, v in synth.resources("AWS::IAM::Role").items() if k == role_id)
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    assert "aws:SourceAccount" in json.dumps(trust["Condition"])
    logs_id = synth.logical_id(synth.stack.anomalies.logs_bucket)
    findings_id = synth.logical_id(synth.stack.anomalies.findings_bucket)
    allowed = {logs_id, findings_id}
    for statement in _policy_statements(synth, role_id):
        assert statement["Effect"] == "Allow"
        for resource in _resources(statement):
            text = json.dumps(resource)
            assert resource != "*" and ":s3:::*" not in text
            assert any(b in text for b in allowed) or "cdk-hnb659fds-assets" in text, text
            if logs_id in text and "s3:PutObject" in json.dumps(statement["Action"]):
                pytest.fail("the job may not write the request logs")
    reads = [s for s in _policy_statements(synth, role_id) if logs_id in json.dumps(s["Resource"])]
    assert any("/requests/*" in json.dumps(s["Resource"]) for s in reads)


def test_an_existing_logs_bucket_is_read_under_its_prefix_and_not_created(existing_logs_synth):
    synth = existing_logs_synth
    role_id = synth.logical_id(synth.stack.anomalies.job_role)
    text = json.dumps(_policy_statements(synth, role_id))
    assert "exchange-api-logs/gateway/requests/*" in text and "PutObject" in text
    assert len(synth.resources("AWS::S3::Bucket")) == 3  # evidence, its access logs, findings
    _, schedule = synth.one("AWS::Scheduler::Schedule")
    assert schedule["Properties"]["ScheduleExpression"] == "cron(0 3 * * ? *)"
    _, app = synth.one("AWS::EMRServerless::Application")
    assert app["Properties"]["MaximumCapacity"] == {"Cpu": "8 vCPU", "Memory": "32 GB"}


def test_a_failed_or_timed_out_run_alarms_on_the_stack_alarm_topic(default_synth):
    synth = default_synth
    alarm_id = synth.logical_id(synth.stack.anomalies.failure_alarm)
    alarm = synth.resources("AWS::CloudWatch::Alarm")[alarm_id]["Properties"]
    topic_id = synth.logical_id(synth.stack.monitoring.topic)
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    assert metrics["failed"]["MetricStat"]["Metric"]["MetricName"] == "ExecutionsFailed"
    assert metrics["timedOut"]["MetricStat"]["Metric"]["MetricName"] == "ExecutionsTimedOut"
    assert alarm["Threshold"] == 1 and alarm["TreatMissingData"] == "notBreaching"


def test_the_findings_topic_is_encrypted_and_the_state_machine_may_publish_to_it(default_synth):
    synth = default_synth
    topic_id = synth.logical_id(synth.stack.anomalies.findings_topic)
    topic = synth.resources("AWS::SNS::Topic")[topic_id]["Properties"]
    assert "alias/aws/sns" in json.dumps(topic["KmsMasterKeyId"])
    machine_role = synth.logical_id(synth.stack.anomalies.state_machine.role)
    statements = _policy_statements(synth, machine_role)
    assert any(s["Action"] == "sns:Publish" and s["Resource"] == {"Ref": topic_id} for s in statements)
    assert any("iam:PassRole" in json.dumps(s["Action"]) for s in statements)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"anomaly_logs_bucket": "Not_A_Bucket"}, "anomaly_logs_bucket='Not_A_Bucket'"),
        ({"anomaly_schedule_hour_utc": "25"}, "anomaly_schedule_hour_utc=25 is out of range"),
        ({"anomaly_max_vcpu": "8", "anomaly_max_memory_gb": "8"}, "anomaly_max_memory_gb=8 is out of range"),
    ],
)
def test_bad_anomaly_settings_name_their_key(context, message):
    with pytest.raises(ConfigError, match=message):
        AnomalySettings.from_context(context.get)
