"""The SageMaker path's calls and parameters, against moto (no AWS account here)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from training.dataset import build_dataset, read_lst
from training.sagemaker_job import (
    builtin_hyperparameters,
    builtin_image_uri,
    deploy_endpoint,
    training_job_request,
    upload_dataset,
    upload_model,
    wait_for_training,
)

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/chartguard-sagemaker"
BUCKET = "chartguard-training"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("sm") / "data"
    build_dataset(out, 12, 12, seed=8, days=4, progress=False)
    return out


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        yield s3, boto3.client("sagemaker", region_name=REGION)


def test_dataset_upload_lays_out_the_four_image_format_channels(aws, dataset):
    s3, _ = aws
    channels = upload_dataset(s3, dataset, BUCKET, "cg/ds/")
    assert channels["train"] == channels["validation"] == f"s3://{BUCKET}/cg/ds/images/"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="cg/ds/")["Contents"]}
    assert {"cg/ds/train_lst/train.lst", "cg/ds/validation_lst/validation.lst"} <= keys
    # every path a .lst names exists under the image channel's prefix
    for _, _, relative in read_lst(dataset / "train.lst") + read_lst(dataset / "val.lst"):
        assert f"cg/ds/images/{relative}" in keys


def test_builtin_job_uses_the_charts_real_shape_and_completes(aws, dataset):
    s3, sagemaker = aws
    channels = upload_dataset(s3, dataset, BUCKET, "cg/ds")
    n_train = len(read_lst(dataset / "train.lst"))
    hyper = builtin_hyperparameters(n_train)
    assert hyper["image_shape"] == "3,150,250" and hyper["num_classes"] == "2" and hyper["num_layers"] == "18"
    assert hyper["num_training_samples"] == str(n_train)
    request = training_job_request(
        "cg-job-1", ROLE, builtin_image_uri(REGION), channels, f"s3://{BUCKET}/cg/out", hyper
    )
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == [
        "train",
        "validation",
        "train_lst",
        "validation_lst",
    ]
    assert {c["ContentType"] for c in request["InputDataConfig"]} == {"application/x-image"}
    sagemaker.create_training_job(**request)
    described = sagemaker.describe_training_job(TrainingJobName="cg-job-1")
    assert described["HyperParameters"]["image_shape"] == "3,150,250"
    assert described["AlgorithmSpecification"]["TrainingImage"].endswith("/image-classification:1")
    job = wait_for_training(sagemaker, "cg-job-1", poll_seconds=0)
    assert job["ModelArtifacts"]["S3ModelArtifacts"].startswith("s3://")


def test_wait_raises_on_a_failed_job():
    class Failing:
        def describe_training_job(self, TrainingJobName):
            return {"TrainingJobStatus": "Failed", "FailureReason": "ClientError: bad lst"}

    with pytest.raises(RuntimeError, match="bad lst"):
        wait_for_training(Failing(), "x", poll_seconds=0)


class _RecordsUpdates:
    """moto 5.1 has no UpdateEndpoint: pass every call through, record that one."""

    def __init__(self, client):
        self._client = client
        self.updates = []

    def __getattr__(self, name):
        return getattr(self._client, name)

    def update_endpoint(self, **kwargs):
        self.updates.append(kwargs)


def test_deploy_creates_then_updates_the_endpoint(aws):
    _, client = aws
    sagemaker = _RecordsUpdates(client)
    common = {
        "model_data_url": f"s3://{BUCKET}/cg/model.tar.gz",
        "image_uri": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312",
        "role_arn": ROLE,
        "endpoint_name": "chartguard-chart-classifier",
    }
    assert deploy_endpoint(sagemaker, name="cg-model-1", **common) == "created"
    model = client.describe_model(ModelName="cg-model-1")
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert model["PrimaryContainer"]["ModelDataUrl"] == common["model_data_url"]
    assert (
        client.describe_endpoint(EndpointName="chartguard-chart-classifier")["EndpointConfigName"]
        == "cg-model-1"
    )
    assert deploy_endpoint(sagemaker, name="cg-model-2", **common) == "updated"
    assert sagemaker.updates == [
        {"EndpointName": "chartguard-chart-classifier", "EndpointConfigName": "cg-model-2"}
    ]
    config = client.describe_endpoint_config(EndpointConfigName="cg-model-2")
    assert config["ProductionVariants"][0]["ModelName"] == "cg-model-2"


def test_upload_model_returns_the_uri_for_the_cdk_context(aws, tmp_path):
    s3, _ = aws
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "model.onnx").write_bytes(b"onnx")
    (model_dir / "metadata.json").write_text(
        '{"render_version": "chart-v1", "created_at": "2026-11-22T05:00:00Z"}'
    )
    (model_dir / "code" / "inference.py").write_text("# serving code\n")
    uri = upload_model(s3, model_dir, BUCKET, "cg/model")
    assert uri == f"s3://{BUCKET}/cg/model/chart-v1/2026-11-22T050000Z/model.tar.gz"
    assert s3.head_object(Bucket=BUCKET, Key=uri.split("/", 3)[3])["ContentLength"] > 0


def test_unknown_region_needs_an_explicit_image():
    with pytest.raises(ValueError, match="--image-uri"):
        builtin_image_uri("mars-north-1")
