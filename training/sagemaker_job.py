"""The SageMaker path: dataset to S3, a training job, then an endpoint (or a model URI for CDK).

Two ways to a model behind the same contract-6 endpoint:

1. Built-in image classification, on our .lst files and PNGs in File mode, with
   `image_shape=3,150,250`, the chart's real size. Its
   model answers `image/png` requests with `[p_hacker, p_normal]` from the algorithm's own image.
2. Our own artifact (`make model`, ONNX + code/inference.py): upload model.tar.gz and deploy it
   on the SageMaker PyTorch inference image; or hand `model_data_url` and `image_uri` to the CDK
   stack's context, which deploys it (infra/model_endpoint.py).

    python -m training.sagemaker_job upload-model --bucket B [--prefix chartguard/model]
    python -m training.sagemaker_job train-builtin --bucket B --role-arn R --dataset artifacts/dataset-sm
        [--instance-type ml.g4dn.xlarge] [--wait] [--endpoint chartguard-chart-classifier]
    python -m training.sagemaker_job deploy --model-data s3://B/K/model.tar.gz --image-uri I --role-arn R --endpoint E

boto3 only (no SageMaker SDK); clients are passed in, so the unit tests run every call against
moto. Credentials come from the usual AWS chain and are never printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from training.dataset import read_lst

log = logging.getLogger(__name__)

# Built-in image classification (MXNet) images, per region: account of the algorithm's registry
# (docs: "Docker Registry Paths and Example Code", image-classification:1).
BUILTIN_IC_ACCOUNTS = {
    "us-east-1": "811284229777",
    "us-east-2": "825641698319",
    "us-west-2": "433757028032",
    "eu-west-1": "685385470294",
    "eu-central-1": "813361260812",
    "ap-northeast-1": "501404015308",
    "ap-southeast-1": "475088953585",
}
IMAGE_SHAPE = "3,150,250"  # contract 5: 250 x 150 RGB, channels first as the algorithm wants it
PNG_CHANNEL = "application/x-image"


def builtin_image_uri(region: str) -> str:
    try:
        account = BUILTIN_IC_ACCOUNTS[region]
    except KeyError:
        raise ValueError(
            f"no built-in image-classification registry known for {region}; pass --image-uri"
        ) from None
    return f"{account}.dkr.ecr.{region}.amazonaws.com/image-classification:1"


def upload_dataset(s3: Any, dataset_dir: Path, bucket: str, prefix: str) -> dict[str, str]:
    """PNGs under <prefix>/images/ (one copy; both image channels point there) and the two .lst
    files under <prefix>/train_lst/ and <prefix>/validation_lst/. Returns channel -> S3 URI."""
    dataset_dir = Path(dataset_dir)
    prefix = prefix.strip("/")
    count = 0
    for image in sorted(dataset_dir.glob("*/*.png")):
        key = f"{prefix}/images/{image.relative_to(dataset_dir).as_posix()}"
        s3.upload_file(str(image), bucket, key, ExtraArgs={"ContentType": "image/png"})
        count += 1
    s3.upload_file(str(dataset_dir / "train.lst"), bucket, f"{prefix}/train_lst/train.lst")
    s3.upload_file(str(dataset_dir / "val.lst"), bucket, f"{prefix}/validation_lst/validation.lst")
    manifest = dataset_dir / "manifest.json"
    if manifest.exists():
        s3.upload_file(str(manifest), bucket, f"{prefix}/manifest.json")
    log.info("uploaded %d images and 2 lists to s3://%s/%s/", count, bucket, prefix)
    base = f"s3://{bucket}/{prefix}"
    return {
        "train": f"{base}/images/",
        "validation": f"{base}/images/",
        "train_lst": f"{base}/train_lst/",
        "validation_lst": f"{base}/validation_lst/",
    }


def builtin_hyperparameters(num_training_samples: int, epochs: int = 15, **overrides: Any) -> dict[str, str]:
    """Hyperparameters of the built-in algorithm (all strings, as CreateTrainingJob wants them)."""
    params: dict[str, Any] = {
        "num_layers": 18,  # ResNet-18, as our trainer's default
        "image_shape": IMAGE_SHAPE,
        "num_classes": 2,
        "num_training_samples": num_training_samples,
        "epochs": epochs,
        "learning_rate": 0.01,
        "mini_batch_size": 32,
        "optimizer": "sgd",
        "use_pretrained_model": 0,  # ImageNet features do not know red and green dots
        "early_stopping": "true",
        "early_stopping_patience": 3,
        "early_stopping_min_epochs": 5,
        "precision_dtype": "float32",
    }
    params.update(overrides)
    return {k: str(v) for k, v in params.items()}


def training_job_request(
    job_name: str,
    role_arn: str,
    image_uri: str,
    channels: dict[str, str],
    output_path: str,
    hyperparameters: dict[str, str],
    instance_type: str = "ml.g4dn.xlarge",
    max_runtime_seconds: int = 3600,
) -> dict[str, Any]:
    def channel(name: str) -> dict[str, Any]:
        return {
            "ChannelName": name,
            "ContentType": PNG_CHANNEL,
            "CompressionType": "None",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": channels[name],
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }

    return {
        "TrainingJobName": job_name,
        "RoleArn": role_arn,
        "AlgorithmSpecification": {"TrainingImage": image_uri, "TrainingInputMode": "File"},
        "HyperParameters": hyperparameters,
        "InputDataConfig": [channel(n) for n in ("train", "validation", "train_lst", "validation_lst")],
        "OutputDataConfig": {"S3OutputPath": output_path},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_seconds},
        "Tags": [{"Key": "project", "Value": "chartguard"}],
    }


def wait_for_training(
    sagemaker: Any, job_name: str, poll_seconds: float = 60.0, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    """Poll until the job ends; return its description. A failed or stopped job raises."""
    while True:
        job = sagemaker.describe_training_job(TrainingJobName=job_name)
        status = job["TrainingJobStatus"]
        log.info("training job %s: %s (%s)", job_name, status, job.get("SecondaryStatus", ""))
        if status == "Completed":
            return job
        if status in ("Failed", "Stopped"):
            raise RuntimeError(
                f"training job {job_name} {status}: {job.get('FailureReason', 'no reason given')}"
            )
        sleep(poll_seconds)


def deploy_endpoint(
    sagemaker: Any,
    *,
    name: str,
    model_data_url: str,
    image_uri: str,
    role_arn: str,
    endpoint_name: str,
    instance_type: str = "ml.m5.large",
    pytorch_serving: bool = True,
) -> str:
    """Model -> EndpointConfig -> Endpoint; updates the endpoint when it exists. Returns the action."""
    environment = (
        {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
        if pytorch_serving
        else {}
    )
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": image_uri, "ModelDataUrl": model_data_url, "Environment": environment},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": instance_type,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    try:
        sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except sagemaker.exceptions.ClientError as error:
        if "Could not find" not in str(error) and "ValidationException" not in str(error):
            raise
        sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=name)
        return "created"
    sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=name)
    return "updated"


def upload_model(s3: Any, model_dir: Path, bucket: str, prefix: str) -> str:
    """Upload the artifact's model.tar.gz; return its s3:// URI (CDK context `model_data_url`)."""
    from training.artifact import TARBALL, pack_model, read_metadata

    model_dir = Path(model_dir)
    tarball = model_dir / TARBALL
    if not tarball.exists():
        pack_model(model_dir)
    meta = read_metadata(model_dir)
    key = f"{prefix.strip('/')}/{meta['render_version']}/{meta.get('created_at', 'undated').replace(':', '')}/{TARBALL}"
    s3.upload_file(str(tarball), bucket, key)
    return f"s3://{bucket}/{key}"


def _job_name(stem: str) -> str:
    return f"{stem}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"


def main(argv: Optional[list[str]] = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(
        prog="python -m training.sagemaker_job", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--region", default=None)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "upload-model", help="upload artifacts/model/model.tar.gz; print the CDK context"
    )
    up.add_argument("--model", type=Path, default=Path("artifacts/model"))
    up.add_argument("--bucket", required=True)
    up.add_argument("--prefix", default="chartguard/model")
    up.add_argument("--image-uri", default="<the SageMaker PyTorch inference image URI of your region>")
    tb = commands.add_parser("train-builtin", help="upload the dataset and run the built-in algorithm")
    tb.add_argument("--dataset", type=Path, required=True)
    tb.add_argument("--bucket", required=True)
    tb.add_argument("--prefix", default="chartguard/dataset")
    tb.add_argument("--role-arn", required=True)
    tb.add_argument("--image-uri", default=None)
    tb.add_argument("--instance-type", default="ml.g4dn.xlarge")
    tb.add_argument("--epochs", type=int, default=15)
    tb.add_argument("--wait", action="store_true")
    tb.add_argument("--endpoint", default=None, help="create or update this endpoint when the job completes")
    dp = commands.add_parser("deploy", help="deploy a model.tar.gz to an endpoint")
    dp.add_argument("--model-data", required=True)
    dp.add_argument("--image-uri", required=True)
    dp.add_argument("--role-arn", required=True)
    dp.add_argument("--endpoint", required=True)
    dp.add_argument("--instance-type", default="ml.m5.large")
    dp.add_argument("--builtin", action="store_true", help="the model came from the built-in algorithm")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    session = boto3.session.Session(region_name=args.region)
    s3 = session.client("s3")
    sagemaker = session.client("sagemaker")

    if args.command == "upload-model":
        uri = upload_model(s3, args.model, args.bucket, args.prefix)
        print(json.dumps({"model_data_url": uri}))
        print(f"cdk deploy -c model_data_url={uri} -c image_uri={args.image_uri}")
    elif args.command == "train-builtin":
        channels = upload_dataset(s3, args.dataset, args.bucket, args.prefix)
        n_train = len(read_lst(args.dataset / "train.lst"))
        job_name = _job_name("chartguard-ic")
        image_uri = args.image_uri or builtin_image_uri(session.region_name)
        request = training_job_request(
            job_name,
            args.role_arn,
            image_uri,
            channels,
            f"s3://{args.bucket}/{args.prefix.strip('/')}/output",
            builtin_hyperparameters(n_train, epochs=args.epochs),
            instance_type=args.instance_type,
        )
        sagemaker.create_training_job(**request)
        print(json.dumps({"training_job": job_name}))
        if args.wait or args.endpoint:
            job = wait_for_training(sagemaker, job_name)
            model_data = job["ModelArtifacts"]["S3ModelArtifacts"]
            print(json.dumps({"model_data_url": model_data}))
            if args.endpoint:
                action = deploy_endpoint(
                    sagemaker,
                    name=job_name,
                    model_data_url=model_data,
                    image_uri=image_uri,
                    role_arn=args.role_arn,
                    endpoint_name=args.endpoint,
                    pytorch_serving=False,
                )
                print(json.dumps({"endpoint": args.endpoint, "action": action}))
    elif args.command == "deploy":
        action = deploy_endpoint(
            sagemaker,
            name=_job_name("chartguard-model"),
            model_data_url=args.model_data,
            image_uri=args.image_uri,
            role_arn=args.role_arn,
            endpoint_name=args.endpoint,
            instance_type=args.instance_type,
            pytorch_serving=not args.builtin,
        )
        print(json.dumps({"endpoint": args.endpoint, "action": action}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
