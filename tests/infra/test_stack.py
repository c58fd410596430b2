"""The synthesised template does what the design asks (docs/design.md: the architecture and its components)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from infra import constants
from scoring.contracts import ALL_TABLES, RISK_BY_DAY_INDEX, RISK_TABLE
from tests.infra.conftest import (
    ANALYSTS_ROLE,
    BUSINESS_ROLE,
    CDK_JSON_CONTEXT,
    DATA_FEED_ROLE,
    IMAGE,
    MODEL_DATA,
    OPERATOR_TOPIC,
    Synth,
    stand_in_layers,
    synthesise,
)

EXISTING_ENDPOINT = {"endpoint_name": "chart-classifier", "alarms_without_subscriber": "true"}

pytestmark = pytest.mark.infra


def getatt(logical_id: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def function_statements(synth: Synth) -> list[dict[str, Any]]:
    """Every statement of the policies attached to the scoring function's role."""
    _, function = synth.one("AWS::Lambda::Function")
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    assert statements, "the function's role has no policy"
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed(statements: list[dict[str, Any]], action: str) -> list[Any]:
    """The resources on which `action` is allowed."""
    return [
        resource
        for s in statements
        if s["Effect"] == "Allow" and action in as_list(s["Action"])
        for resource in as_list(s["Resource"])
    ]


# --- queue and event source ----------------------------------------------------------------------


def test_event_source_reports_batch_item_failures(any_synth: Synth) -> None:
    queue_id = any_synth.logical_id(any_synth.stack.queue.queue)
    _, mapping = any_synth.one("AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["EventSourceArn"] == getatt(queue_id)
    assert props["BatchSize"] == constants.BATCH_SIZE
    assert props["MaximumBatchingWindowInSeconds"] == constants.MAX_BATCHING_WINDOW_SECONDS


def test_visibility_timeout_is_at_least_six_times_the_function_timeout(any_synth: Synth) -> None:
    queue = any_synth.json["Resources"][any_synth.logical_id(any_synth.stack.queue.queue)]
    _, function = any_synth.one("AWS::Lambda::Function")
    timeout = function["Properties"]["Timeout"]
    assert timeout == constants.FUNCTION_TIMEOUT_SECONDS
    assert queue["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_failed_messages_go_to_an_alarmed_dead_letter_queue(default_synth: Synth) -> None:
    resources = default_synth.json["Resources"]
    queue = resources[default_synth.logical_id(default_synth.stack.queue.queue)]["Properties"]
    dlq_id = default_synth.logical_id(default_synth.stack.queue.dead_letter_queue)
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": getatt(dlq_id),
        "maxReceiveCount": constants.MAX_RECEIVE_COUNT,
    }
    assert queue["MessageRetentionPeriod"] >= 4 * 24 * 3600  # an outage weekend
    dlq = resources[dlq_id]["Properties"]
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]  # DLQ keeps first enqueue time
    dlq_alarms = [
        a
        for a in default_synth.resources("AWS::CloudWatch::Alarm").values()
        if {"Name": "QueueName", "Value": getatt(dlq_id, "QueueName")}
        in a["Properties"].get("Dimensions", [])
        and a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    ]
    assert len(dlq_alarms) == 1
    assert dlq_alarms[0]["Properties"]["Threshold"] == 1


def test_queues_are_encrypted_and_tls_only(default_synth: Synth) -> None:
    for queue in default_synth.resources("AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    policies = default_synth.resources("AWS::SQS::QueuePolicy").values()
    denies_plain_http = [
        p
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denies_plain_http) == 2


# --- function ------------------------------------------------------------------------------------


def test_runtime_is_python39_by_default_and_312_with_the_switch(
    default_synth: Synth, model_synth: Synth
) -> None:
    for synth, runtime in ((default_synth, "python3.9"), (model_synth, "python3.12")):
        _, function = synth.one("AWS::Lambda::Function")
        assert function["Properties"]["Runtime"] == runtime
        assert function["Properties"]["Architectures"] == ["x86_64"]
        for layer in synth.resources("AWS::Lambda::LayerVersion").values():
            assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
            assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]


def test_every_supported_python_has_a_lambda_runtime() -> None:
    from infra.scoring_function import RUNTIMES

    assert {v: RUNTIMES[v].name for v in constants.SUPPORTED_PYTHONS} == {
        "3.9": "python3.9",
        "3.12": "python3.12",
        "3.13": "python3.13",
    }


def test_both_layers_are_attached(any_synth: Synth) -> None:
    layers = any_synth.resources("AWS::Lambda::LayerVersion")
    assert len(layers) == 2
    _, function = any_synth.one("AWS::Lambda::Function")
    assert sorted(ref["Ref"] for ref in function["Properties"]["Layers"]) == sorted(layers)


def test_function_environment_is_contract_7(default_synth: Synth) -> None:
    _, function = default_synth.one("AWS::Lambda::Function")
    props = function["Properties"]
    env = props["Environment"]["Variables"]
    stack = default_synth.stack
    assert env == {
        "TRADES_TABLE": {"Ref": default_synth.logical_id(stack.tables.trades)},
        "KLINES_TABLE": {"Ref": default_synth.logical_id(stack.tables.klines)},
        "RISK_TABLE": {"Ref": default_synth.logical_id(stack.tables.risk)},
        "EVIDENCE_BUCKET": {"Ref": default_synth.logical_id(stack.evidence.bucket)},
        "ENDPOINT_NAME": "Chart-Classifier",
        "RISK_THRESHOLD": "0.90",
        "WINDOW_HOURS": "24",
        "KLINES_CACHE_SECONDS": "600",
        "ENDPOINT_FUSES": "false",
        "DEAD_LETTER_QUEUE_URL": {"Ref": default_synth.logical_id(stack.queue.dead_letter_queue)},
        "RECORD_RETENTION_DAYS": str(constants.EVIDENCE_RETENTION_DAYS),
        "POWERTOOLS_SERVICE_NAME": "chartguard-scoring",
        "POWERTOOLS_METRICS_NAMESPACE": "Chartguard",
    }
    assert props["Handler"] == "scoring.handler.lambda_handler"
    assert props["MemorySize"] == constants.FUNCTION_MEMORY_MB
    assert props["TracingConfig"] == {"Mode": "Active"}


def test_missing_layer_build_names_the_make_command(tmp_path: Path) -> None:
    import aws_cdk as cdk

    from infra.stack import add_chartguard

    app = cdk.App(
        outdir=str(tmp_path),
        context={**CDK_JSON_CONTEXT, "layer_dir": str(tmp_path), "python": "3.12", **EXISTING_ENDPOINT},
    )
    with pytest.raises(FileNotFoundError, match=r"make layer LAMBDA_PYTHON=3\.12"):
        add_chartguard(app)


def test_code_asset_is_the_lambdas_folder_without_caches(default_synth: Synth) -> None:
    _, function = default_synth.one("AWS::Lambda::Function")
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    staged = default_synth.outdir / f"asset.{asset_hash}"
    assert staged.is_dir()
    names = {p.relative_to(staged).as_posix() for p in staged.rglob("*")}
    assert "scoring/handler.py" in names and "scoring/chart.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


# --- permissions ---------------------------------------------------------------------------------


def test_function_may_do_its_job_and_nothing_else(default_synth: Synth) -> None:
    statements = function_statements(default_synth)
    stack = default_synth.stack
    trades, klines, risk = (
        default_synth.logical_id(t) for t in (stack.tables.trades, stack.tables.klines, stack.tables.risk)
    )
    bucket = default_synth.logical_id(stack.evidence.bucket)
    dlq = default_synth.logical_id(stack.queue.dead_letter_queue)

    # The tables themselves, never `/index/*`: the function reads no index.
    assert sorted(map(json.dumps, allowed(statements, "dynamodb:Query"))) == sorted(
        map(json.dumps, [getatt(trades), getatt(klines), getatt(risk)])
    )
    assert allowed(statements, "dynamodb:BatchGetItem") == [getatt(klines)]  # a warm message's newest bars
    assert allowed(statements, "dynamodb:PutItem") == [getatt(risk)]
    assert allowed(statements, "s3:PutObject") == [
        {"Fn::Join": ["", [getatt(bucket), f"/{constants.EVIDENCE_PREFIX}*"]]}
    ]
    assert allowed(statements, "sqs:SendMessage") == [getatt(dlq)]  # a rejected message, at once
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert actions == {
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "s3:PutObject",
        "sqs:SendMessage",
        "sagemaker:InvokeEndpoint",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


def test_no_wildcard_action_in_the_function_role(any_synth: Synth) -> None:
    for statement in function_statements(any_synth):
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement


def test_function_invokes_only_the_existing_endpoint_it_names(default_synth: Synth) -> None:
    (arn,) = allowed(function_statements(default_synth), "sagemaker:InvokeEndpoint")
    parts = arn["Fn::Join"][1]
    # SageMaker writes endpoint names in lower case in their ARNs.
    assert parts[0] == "arn:" and parts[-1] == ":endpoint/chart-classifier"


def test_function_invokes_only_the_endpoint_deployed_here(model_synth: Synth) -> None:
    endpoint_id, _ = model_synth.one("AWS::SageMaker::Endpoint")
    assert allowed(function_statements(model_synth), "sagemaker:InvokeEndpoint") == [{"Ref": endpoint_id}]


def test_only_the_tracing_policy_has_a_wildcard_resource(any_synth: Synth) -> None:
    # Its cdk-nag acknowledgement sits on that policy alone: a wildcard elsewhere fails synth.
    tracing_id = any_synth.logical_id(any_synth.stack.scoring.node.find_child("TracingPolicy"))
    _, function = any_synth.one("AWS::Lambda::Function")
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    for logical_id, policy in any_synth.resources("AWS::IAM::Policy").items():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "*" in as_list(statement["Resource"]):
                assert logical_id == tracing_id, statement
                assert sorted(as_list(statement["Action"])) == [
                    "xray:PutTelemetryRecords",
                    "xray:PutTraceSegments",
                ]
    assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}
    assert tracing_id in function["DependsOn"]


def test_a_new_wildcard_grant_to_the_function_fails_the_synth(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam

    from infra.stack import add_chartguard

    layer_dir = stand_in_layers(tmp_path / "layers", "3.9")
    app = cdk.App(
        outdir=str(tmp_path / "cdk.out"),
        context={**CDK_JSON_CONTEXT, "layer_dir": str(layer_dir), **EXISTING_ENDPOINT},
    )
    stack = add_chartguard(app)
    stack.scoring.function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    with pytest.raises(Exception, match=r"AwsSolutions-IAM5\[Resource::\*\]"):
        app.synth()


def test_business_system_may_send_and_analysts_may_read(default_synth: Synth) -> None:
    stack = default_synth.stack
    policies = default_synth.resources("AWS::IAM::ManagedPolicy")
    sender = policies[default_synth.logical_id(stack.policies["BusinessSystem"])]
    analysts = policies[default_synth.logical_id(stack.policies["Analysts"])]
    assert sender["Properties"]["Roles"] == [BUSINESS_ROLE.rsplit("/", 1)[1]]
    assert analysts["Properties"]["Roles"] == [ANALYSTS_ROLE.rsplit("/", 1)[1]]
    queue = getatt(default_synth.logical_id(stack.queue.queue))
    assert queue in allowed(sender["Properties"]["PolicyDocument"]["Statement"], "sqs:SendMessage")
    risk = default_synth.logical_id(stack.tables.risk)
    readable = allowed(analysts["Properties"]["PolicyDocument"]["Statement"], "dynamodb:Query")
    assert getatt(risk) in readable
    assert {"Fn::Join": ["", [getatt(risk), f"/index/{RISK_BY_DAY_INDEX.name}"]]} in readable
    assert not allowed(analysts["Properties"]["PolicyDocument"]["Statement"], "dynamodb:PutItem")
    # tests/integration/test_analyst_policy.py checks each command's calls against these statements.


def test_the_data_feed_may_put_trades_and_klines_but_not_erase_or_rewrite_them(default_synth: Synth) -> None:
    stack = default_synth.stack
    policy = default_synth.resources("AWS::IAM::ManagedPolicy")[
        default_synth.logical_id(stack.policies["DataFeed"])
    ]
    assert policy["Properties"]["Roles"] == [DATA_FEED_ROLE.rsplit("/", 1)[1]]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    tables = [getatt(default_synth.logical_id(t)) for t in (stack.tables.trades, stack.tables.klines)]
    assert {a for s in statements for a in as_list(s["Action"])} == {
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
    }
    for action in ("dynamodb:PutItem", "dynamodb:BatchWriteItem"):
        assert sorted(map(json.dumps, allowed(statements, action))) == sorted(map(json.dumps, tables))


# --- tables and bucket ---------------------------------------------------------------------------


def test_tables_follow_the_contracts(default_synth: Synth) -> None:
    tables = default_synth.resources("AWS::DynamoDB::Table")
    by_keys = {tuple(k["AttributeName"] for k in t["Properties"]["KeySchema"]): t for t in tables.values()}
    assert len(tables) == len(ALL_TABLES)
    for spec in ALL_TABLES:
        table = by_keys[(spec.partition.name, spec.sort.name)]
        props = table["Properties"]
        types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
        assert types[spec.partition.name] == spec.partition.type and types[spec.sort.name] == spec.sort.type
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}
        assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
        assert "TableName" not in props  # no hard-coded physical names

    risk = by_keys[(RISK_TABLE.partition.name, RISK_TABLE.sort.name)]["Properties"]
    (index,) = risk["GlobalSecondaryIndexes"]
    assert index["IndexName"] == RISK_BY_DAY_INDEX.name
    assert [k["AttributeName"] for k in index["KeySchema"]] == [
        RISK_BY_DAY_INDEX.partition.name,
        RISK_BY_DAY_INDEX.sort.name,
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}


def test_evidence_bucket_is_private_tls_only_encrypted_and_expires(default_synth: Synth) -> None:
    bucket_id = default_synth.logical_id(default_synth.stack.evidence.bucket)
    props = default_synth.json["Resources"][bucket_id]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-evidence"]["Prefix"] == constants.EVIDENCE_PREFIX
    assert rules["expire-evidence"]["ExpirationInDays"] == constants.EVIDENCE_RETENTION_DAYS
    assert rules["expire-evidence"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert "LoggingConfiguration" in props
    (policy,) = [
        p
        for p in default_synth.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )


def test_evidence_is_write_once_for_as_long_as_its_record(default_synth: Synth) -> None:
    bucket_id = default_synth.logical_id(default_synth.stack.evidence.bucket)
    props = default_synth.json["Resources"][bucket_id]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": constants.EVIDENCE_RETENTION_DAYS}},
    }
    # The risk record expires (TTL) when its images do; the function sets expires_at from this.
    risk = default_synth.json["Resources"][default_synth.logical_id(default_synth.stack.tables.risk)]
    assert risk["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    _, function = default_synth.one("AWS::Lambda::Function")
    days = function["Properties"]["Environment"]["Variables"]["RECORD_RETENTION_DAYS"]
    assert (
        days
        == str(constants.EVIDENCE_RETENTION_DAYS)
        == str(props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"])
    )


def test_a_shorter_retention_moves_lock_expiry_and_record_lifetime_together(tmp_path: Path) -> None:
    synth = synthesise(tmp_path, evidence_retention_days="30", **EXISTING_ENDPOINT)
    props = synth.json["Resources"][synth.logical_id(synth.stack.evidence.bucket)]["Properties"]
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"] == 30
    assert {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}["expire-evidence"][
        "ExpirationInDays"
    ] == 30
    _, function = synth.one("AWS::Lambda::Function")
    assert function["Properties"]["Environment"]["Variables"]["RECORD_RETENTION_DAYS"] == "30"


# --- model endpoint ------------------------------------------------------------------------------


def test_endpoint_is_deployed_from_the_trained_artifact(model_synth: Synth) -> None:
    _, model = model_synth.one("AWS::SageMaker::Model")
    container = model["Properties"]["PrimaryContainer"]
    assert container["Image"] == IMAGE
    assert container["ModelDataUrl"] == MODEL_DATA
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    _, config = model_synth.one("AWS::SageMaker::EndpointConfig")
    (variant,) = config["Properties"]["ProductionVariants"]
    assert variant["InstanceType"] == "ml.c5.large"
    assert variant["VariantName"] == constants.DEFAULT_ENDPOINT_VARIANT
    _, target = model_synth.one("AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (1, 3)
    # The execution role reads that one artifact and pulls from that one repository.
    statements = [
        s
        for p in model_synth.resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (artifact,) = allowed(statements, "s3:GetObject")
    assert "chartguard-models/chart-v1/model.tar.gz" in json.dumps(artifact)
    (repository,) = allowed(statements, "ecr:BatchGetImage")
    assert "eu-west-1:763104351884:repository/pytorch-inference" in json.dumps(repository)


def test_no_endpoint_resources_when_an_existing_endpoint_is_named(default_synth: Synth) -> None:
    for kind in ("AWS::SageMaker::Model", "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Endpoint"):
        assert not default_synth.resources(kind)


# --- monitoring and outputs ----------------------------------------------------------------------


def test_every_alarm_notifies_the_topic(any_synth: Synth) -> None:
    topic_id = any_synth.logical_id(any_synth.stack.monitoring.topic)
    alarms = any_synth.resources("AWS::CloudWatch::Alarm")
    # the batch side's run alarm is a math expression (failed + timed out executions)
    metrics = {a["Properties"].get("MetricName", "AnomalyRunFailed") for a in alarms.values()}
    assert metrics == {
        "AnomalyRunFailed",
        "ApproximateNumberOfMessagesVisible",  # dead letters
        "ApproximateAgeOfOldestMessage",  # the withdrawal queue's and the dead-letter queue's
        "MessagesFailed",
        "Errors",
        "Duration",
        "Throttles",
        "Invocation5XXErrors",
        "Invocation4XXErrors",
        "ModelLatency",
    }
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"][0] == {"Ref": topic_id}
        assert alarm["Properties"]["AlarmDescription"]


def test_record_level_failures_dead_letters_left_alone_and_near_timeouts_alarm(default_synth: Synth) -> None:
    alarms = {name: a["Properties"] for name, a in default_synth.resources("AWS::CloudWatch::Alarm").items()}
    (failed,) = [a for a in alarms.values() if a.get("MetricName") == "MessagesFailed"]
    # Powertools' metrics: the namespace and `service` dimension the function emits them with.
    assert failed["Namespace"] == constants.METRICS_NAMESPACE
    assert failed["Dimensions"] == [{"Name": "service", "Value": constants.SERVICE_NAME}]
    dlq_id = default_synth.logical_id(default_synth.stack.queue.dead_letter_queue)
    (dead_letter_age,) = [
        a
        for a in alarms.values()
        if a.get("MetricName") == "ApproximateAgeOfOldestMessage"
        and {"Name": "QueueName", "Value": getatt(dlq_id, "QueueName")} in a["Dimensions"]
    ]
    assert dead_letter_age["Threshold"] > 0
    (duration,) = [a for a in alarms.values() if a.get("MetricName") == "Duration"]
    assert duration["Statistic"] == "Maximum"
    assert duration["Threshold"] < constants.FUNCTION_TIMEOUT_SECONDS * 1000


def test_alarms_also_reach_an_operators_existing_topic(model_synth: Synth) -> None:
    topic_id = model_synth.logical_id(model_synth.stack.monitoring.topic)
    assert not model_synth.resources("AWS::SNS::Subscription")  # no e-mail given there
    for alarm in model_synth.resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}, OPERATOR_TOPIC]
        assert alarm["Properties"]["OKActions"] == [{"Ref": topic_id}, OPERATOR_TOPIC]


def test_synth_fails_when_alarms_would_reach_nobody(tmp_path: Path) -> None:
    from infra.cdk_context import ConfigError

    with pytest.raises(ConfigError, match="alarm_email or alarm_topic_arn"):
        synthesise(tmp_path, endpoint_name="chart-classifier")


# --- back-pressure -------------------------------------------------------------------------------


def test_the_queue_drains_at_the_endpoints_pace(default_synth: Synth, model_synth: Synth) -> None:
    per_instance = constants.MAX_CONCURRENCY_PER_ENDPOINT_INSTANCE
    for synth, instances in ((default_synth, 1), (model_synth, 3)):
        _, mapping = synth.one("AWS::Lambda::EventSourceMapping")
        assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": per_instance * instances}
        _, function = synth.one("AWS::Lambda::Function")
        assert function["Properties"]["ReservedConcurrentExecutions"] == per_instance * instances


def test_reserved_concurrency_can_be_given_up_but_the_cap_stays(tmp_path: Path) -> None:
    synth = synthesise(tmp_path, reserved_concurrency="none", max_concurrency="3", **EXISTING_ENDPOINT)
    _, function = synth.one("AWS::Lambda::Function")
    assert "ReservedConcurrentExecutions" not in function["Properties"]
    _, mapping = synth.one("AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 3}


def test_endpoint_alarms_watch_the_endpoint_the_function_calls(model_synth: Synth) -> None:
    endpoint_id, _ = model_synth.one("AWS::SageMaker::Endpoint")
    for alarm in model_synth.resources("AWS::CloudWatch::Alarm").values():
        if alarm["Properties"].get("Namespace") == "AWS/SageMaker":
            assert {"Name": "EndpointName", "Value": getatt(endpoint_id, "EndpointName")} in alarm[
                "Properties"
            ]["Dimensions"]


def test_cloudwatch_may_publish_to_the_tls_only_encrypted_topic(default_synth: Synth) -> None:
    topic_id = default_synth.logical_id(default_synth.stack.monitoring.topic)
    topic = default_synth.resources("AWS::SNS::Topic")[topic_id]
    (policy,) = [
        p
        for p in default_synth.resources("AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id} in p["Properties"]["Topics"]
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key_statements = default_synth.json["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
        and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(as_list(s["Action"]))
        for s in key_statements
    )


def test_alarm_email_subscribes_to_the_topic(default_synth: Synth) -> None:
    _, subscription = default_synth.one("AWS::SNS::Subscription")
    assert subscription["Properties"]["Protocol"] == "email"


def test_outputs_name_what_operators_need(any_synth: Synth) -> None:
    assert {
        "QueueUrl",
        "DeadLetterQueueUrl",
        "TradesTableName",
        "KlinesTableName",
        "RiskTableName",
        "EvidenceBucketName",
        "AlarmTopicArn",
        "EndpointName",
        "ScoringFunctionName",
    } <= set(any_synth.json["Outputs"])


# --- checks at synth: cdk-nag and cfn-lint -------------------------------------------------------


def test_cdk_nag_acknowledgments_each_carry_a_reason(any_synth: Synth) -> None:
    # synthesise() raises on an unacknowledged finding; what was acknowledged is in the metadata.
    acknowledged = {
        rule["id"]: rule["reason"]
        for resource in any_synth.json["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    }
    assert "AwsSolutions-SQS3" in acknowledged  # the dead-letter queue has no dead-letter queue
    for rule, reason in acknowledged.items():
        assert len(reason.strip()) > 20, rule
    report = json.loads((any_synth.outdir / "validation-report.json").read_text())
    for plugin in report["pluginReports"]:
        assert plugin["conclusion"] == "success", plugin["violations"]


def test_an_unacknowledged_cdk_nag_finding_fails_the_synth(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_sqs as sqs

    from infra.stack import add_chartguard

    layer_dir = stand_in_layers(tmp_path / "layers", "3.9")
    app = cdk.App(
        outdir=str(tmp_path / "cdk.out"),
        context={**CDK_JSON_CONTEXT, "layer_dir": str(layer_dir), **EXISTING_ENDPOINT},
    )
    stack = add_chartguard(app)
    sqs.Queue(stack, "Unguarded")  # no TLS-only policy, no dead-letter queue
    with pytest.raises(Exception, match="AwsSolutions-SQS"):
        app.synth()


def test_cfn_lint_finds_no_error(any_synth: Synth) -> None:
    cfnlint_api = pytest.importorskip("cfnlint.api")
    matches = cfnlint_api.lint(any_synth.template_path.read_text(), regions=["us-east-1", "eu-west-1"])
    errors = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id.startswith("E")]
    assert errors == []
