"""The whole stack on one machine, no AWS account: `chartguard local` (and `make local`).

- moto's server on 127.0.0.1: DynamoDB, SQS (queue + dead-letter queue with the redrive
  policy) and S3, with the tables, index, queue and bucket made from the definitions the CDK
  stack uses (scoring.contracts, infra.constants);
- the SageMaker-Runtime stand-in in its own process, serving the trained model through the
  model artifact's inference code (a small model is trained first if none is cached);
- an event source that calls the real scoring handler with Lambda-shaped SQS events, in
  `concurrency` worker processes (Lambda's concurrent execution environments).

Once ready it writes `.local/stack.env` (export lines for any boto3 program) and prints it; it
runs until SIGINT/SIGTERM and then stops everything it started.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import boto3

from infra.constants import BATCH_SIZE, MAX_BATCHING_WINDOW_SECONDS
from local.endpoint_standin import FaultPlan, serving_interpreter
from local.event_source_mapping import BatchOutcome, parse_outcome_line
from local.resources import (
    DEFAULT_NAMES,
    LOCAL_RETRY_DELAY_SECONDS,
    CreatedResources,
    ResourceNames,
    create_resources,
)

# The default model committed to the repository (`make model` reproduces it; docs/training.md).
DEFAULT_MODEL_DIR = Path("model")
DEFAULT_ENV_FILE = Path(".local/stack.env")
REGION = "us-east-1"
# moto accepts any credentials; these only keep boto3 from looking for real ones.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


@dataclass
class RunnerStats:
    batches: int = 0
    received: int = 0
    succeeded: int = 0
    failed: int = 0
    invocation_errors: int = 0
    timeouts: int = 0  # invocations past the function's timeout: Lambda would have lost the batch
    done: dict[str, float] = field(default_factory=dict)  # message id -> ms from send to deletion
    failed_receipts: dict[str, int] = field(default_factory=dict)  # message id -> failed receipts
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: BatchOutcome) -> None:
        with self.lock:
            self.batches += 1
            self.received += outcome.received
            self.succeeded += outcome.succeeded
            self.failed += outcome.failed
            self.invocation_errors += 1 if outcome.invocation_error else 0
            self.timeouts += 1 if outcome.timed_out else 0
            self.done.update(outcome.done)
            for message_id in outcome.failed_ids:
                self.failed_receipts[message_id] = self.failed_receipts.get(message_id, 0) + 1


def model_fuses(model_dir: Path) -> bool:
    """Whether the artifact also carries the round-trip model (the function then sends both)."""
    metadata = json.loads((Path(model_dir) / "metadata.json").read_text())
    return bool(metadata.get("round_trip"))


def ensure_local_model(model_dir: Path) -> Path:
    """The given model (the shipped one by default), or a quick one trained now if it is absent."""
    if (model_dir / "metadata.json").exists() and (model_dir / "code" / "inference.py").exists():
        return model_dir  # no need to import the trainer (and PyTorch) to serve a cached model
    from training.pipeline import ensure_model

    return ensure_model(model_dir, quick=True)


class LocalStack:
    """Start with `with LocalStack(...) as stack:`; everything stops on exit."""

    def __init__(
        self,
        *,
        model_dir: Path = DEFAULT_MODEL_DIR,
        host: str = "127.0.0.1",
        moto_port: int = 0,
        endpoint_port: int = 0,
        names: ResourceNames = DEFAULT_NAMES,
        batch_size: int = BATCH_SIZE,
        batching_window: float = MAX_BATCHING_WINDOW_SECONDS,
        fail_rate: float = 0.0,
        run_function: bool = True,
        concurrency: int = 2,
        log: Any = None,
    ):
        self.model_dir = model_dir
        self.host = host
        self.moto_port = moto_port
        self.endpoint_port = endpoint_port
        self.names = names
        self.batch_size = batch_size
        self.batching_window = batching_window
        self.fail_rate = fail_rate
        self.run_function = run_function
        self.concurrency = concurrency
        # The function's log lines (its workers' output), for drills that read the reasons.
        self.function_log: list[str] = []
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.stats = RunnerStats()
        self.env: dict[str, str] = {}
        self.resources: Optional[CreatedResources] = None
        self.endpoint_url = ""
        self._servers: list[subprocess.Popen[str]] = []
        self._workers: list[subprocess.Popen[str]] = []
        self._readers: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        started = time.perf_counter()
        self.log("local stack: starting moto's server (DynamoDB, SQS, S3)")
        moto_url = self._spawn(
            [
                sys.executable,
                "-m",
                "local.moto_server",
                "--host",
                self.host,
                "--port",
                str(self.moto_port),
            ],
            "moto's server",
        )

        self.log(f"local stack: model at {self.model_dir} (a quick one is trained only if it is absent)")
        ensure_local_model(self.model_dir)
        standin = [
            serving_interpreter(),
            "-m",
            "local.endpoint_standin",
            "--model-dir",
            str(self.model_dir),
        ]
        standin += [
            "--endpoint-name",
            self.names.endpoint_name,
            "--host",
            self.host,
            "--port",
            str(self.endpoint_port),
        ]
        standin += ["--fail-rate", str(self.fail_rate)]
        self.endpoint_url = self._spawn(
            standin,
            "SageMaker-Runtime stand-in",
        )

        base = {**LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": moto_url}
        clients = {
            name: boto3.client(name, endpoint_url=moto_url, region_name=REGION, **_credentials())
            for name in ("dynamodb", "sqs", "s3")
        }
        self.resources = create_resources(**clients, names=self.names)
        self.env = {
            **base,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.endpoint_url,
            **self.resources.function_environment(),
            "ENDPOINT_FUSES": "true" if model_fuses(self.model_dir) else "false",
            "QUEUE_URL": self.resources.queue_url,
            "DLQ_URL": self.resources.dlq_url,
        }
        if self.run_function:
            self._start_runner()
        self.log(f"local stack: ready in {time.perf_counter() - started:.1f}s")

    def _spawn(self, command: list[str], what: str) -> str:
        """Start a server process that prints `listening on <url>` once ready; returns the URL."""
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self._servers.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"{what} did not start: {line.strip() or 'no output'}")
        self.log(f"local stack: {what} {line.strip()}")
        return line.split()[2]

    def _start_runner(self) -> None:
        # The function reads its configuration from the environment, as in Lambda.
        function_env = {
            **os.environ,
            **self.env,
            "POWERTOOLS_SERVICE_NAME": "chartguard-scoring",
            "POWERTOOLS_METRICS_NAMESPACE": "Chartguard",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            "MPLCONFIGDIR": os.environ.get("MPLCONFIGDIR", str(Path(".local/matplotlib").resolve())),
        }
        assert self.resources is not None
        command = [
            sys.executable,
            "-m",
            "local.event_source_mapping",
            "--queue-url",
            self.resources.queue_url,
        ]
        command += ["--batch-size", str(self.batch_size), "--batching-window", str(self.batching_window)]
        command += ["--retry-delay", str(LOCAL_RETRY_DELAY_SECONDS)]
        for _ in range(self.concurrency):
            worker = subprocess.Popen(command, env=function_env, stdout=subprocess.PIPE, text=True)
            self._workers.append(worker)
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError("an event-source worker did not start (see its output above)")
            reader = threading.Thread(target=self._read_worker, args=(worker,), daemon=True)
            reader.start()
            self._readers.append(reader)
        self.log(
            f"local stack: event source polling {self.resources.queue_url} "
            f"(batch {self.batch_size}, {self.concurrency} concurrent workers)"
        )

    def _read_worker(self, worker: subprocess.Popen[str]) -> None:
        assert worker.stdout is not None
        for line in worker.stdout:
            outcome = parse_outcome_line(line)
            if outcome is not None:
                self.stats.add(outcome)
            else:
                with self.stats.lock:
                    self.function_log.append(line.rstrip("\n"))

    def stop(self) -> None:
        # Workers first (each finishes the batch in hand), then the servers they talk to.
        for process in [*self._workers, *reversed(self._servers)]:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        self._workers.clear()
        self._readers.clear()
        self._servers.clear()

    # -- what clients need ------------------------------------------------------------------
    def export_lines(self) -> str:
        return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in self.env.items())

    def write_env_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# written by `chartguard local`; valid while it runs\n" + self.export_lines())

    def set_faults(self, plan: FaultPlan) -> dict[str, Any]:
        """Change the endpoint stand-in's fault plan; returns its counters."""
        return self._standin("faults", plan)

    def endpoint_stats(self) -> dict[str, Any]:
        """The endpoint stand-in's counters (calls, faults and delays injected) and its plan."""
        return self._standin("stats")

    def _standin(self, path: str, plan: Optional[FaultPlan] = None) -> dict[str, Any]:
        """GET `/_standin/<path>`, or POST the plan to it: the stand-in answers its counters."""
        request = urllib.request.Request(
            f"{self.endpoint_url}/_standin/{path}",
            data=json.dumps(asdict(plan)).encode() if plan is not None else None,
            method="POST" if plan is not None else "GET",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return dict(json.loads(response.read()))

    def client(self, service: str) -> Any:
        return boto3.client(
            service, endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name=REGION, **_credentials()
        )

    def wait_until_drained(
        self,
        expected: int,
        timeout: float = 600.0,
        progress: Optional[Callable[[RunnerStats, int], None]] = None,
        progress_every: float = 3.0,
    ) -> bool:
        """Wait until `expected` messages succeeded and the queue is empty; `progress(stats, waiting)`
        is called at most every `progress_every` seconds."""
        assert self.resources is not None
        sqs = self.client("sqs")
        deadline = time.monotonic() + timeout
        last_report = time.monotonic()
        while time.monotonic() < deadline:
            attributes = sqs.get_queue_attributes(
                QueueUrl=self.resources.queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            waiting = int(attributes["ApproximateNumberOfMessages"]) + int(
                attributes["ApproximateNumberOfMessagesNotVisible"]
            )
            if waiting == 0 and self.stats.succeeded >= expected:
                return True
            if progress is not None and time.monotonic() - last_report >= progress_every:
                last_report = time.monotonic()
                progress(self.stats, waiting)
            time.sleep(0.5)
        return False


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }
