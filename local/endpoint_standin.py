"""A local stand-in for a SageMaker real-time endpoint, over real HTTP.

It answers SageMaker Runtime's InvokeEndpoint API (`POST /endpoints/<name>/invocations`), so the
scoring function's boto3 `sagemaker-runtime` client reaches it through an endpoint URL with the
same code as in AWS. Behind it runs the model artifact's own `code/inference.py` (model_fn,
input_fn, predict_fn, output_fn), loaded the way SageMaker's PyTorch serving container loads it:
the stand-in serves exactly what the real endpoint would.

For fault drills it can fail a share of calls with SageMaker's own error shapes (throttling,
503, model errors), and hold a share of calls for a while before answering (a slow endpoint,
past the client's read timeout), set at start or at run time through `POST /_standin/faults`.

    python -m local.endpoint_standin --model-dir artifacts/model --endpoint-name chart-classifier

It prints one line `listening on http://127.0.0.1:<port>` once ready, and stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

from local.stop_signal import stop_event_on_signals

# SageMaker Runtime's error codes and statuses for the faults it can inject.
FAULTS = {
    "ThrottlingException": HTTPStatus.BAD_REQUEST,
    "ServiceUnavailable": HTTPStatus.SERVICE_UNAVAILABLE,
    "InternalFailure": HTTPStatus.INTERNAL_SERVER_ERROR,
    "ModelError": HTTPStatus.FAILED_DEPENDENCY,
}


def serving_interpreter() -> str:
    """A Python that can run the model's inference code: this one if it has onnxruntime, else the
    project's 3.11 environment (onnxruntime has no wheels for 3.9, the Lambda runtime the
    function's own tests also run under). CHARTGUARD_SERVING_PYTHON overrides both."""
    explicit = os.environ.get("CHARTGUARD_SERVING_PYTHON")
    if explicit:
        return explicit
    if importlib.util.find_spec("onnxruntime") is not None:
        return sys.executable
    candidate = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
    if candidate.exists():
        return str(candidate)
    raise RuntimeError("no Python with onnxruntime for the endpoint stand-in: run `make venv`")


def load_inference_module(model_dir: Path) -> ModuleType:
    """Import `<model_dir>/code/inference.py` as SageMaker's serving container does."""
    path = model_dir / "code" / "inference.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the model artifact carries its inference code in code/")
    spec = importlib.util.spec_from_file_location("inference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = [f for f in ("model_fn", "input_fn", "predict_fn", "output_fn") if not hasattr(module, f)]
    if missing:
        raise AttributeError(f"{path} lacks {', '.join(missing)}")
    return module


@dataclass
class FaultPlan:
    """Fail `rate` of the calls (0..1) with `code`; `remaining` caps how many (None: no cap).
    Hold `delay_rate` of the calls (0..1) `delay_seconds` before they are answered."""

    rate: float = 0.0
    code: str = "ServiceUnavailable"
    remaining: Optional[int] = None
    seed: int = 0
    delay_rate: float = 0.0
    delay_seconds: float = 0.0


class Model:
    """The artifact's inference functions around one loaded model (thread-safe to call)."""

    def __init__(self, model_dir: Path):
        self.module = load_inference_module(model_dir)
        self.model = self.module.model_fn(str(model_dir))

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        data = self.module.input_fn(body, content_type)
        prediction = self.module.predict_fn(data, self.model)
        output = self.module.output_fn(prediction, accept)
        if isinstance(output, tuple):
            output, accept = output
        if isinstance(output, str):
            output = output.encode()
        return bytes(output), accept


class StandIn:
    def __init__(self, model: Model, endpoint_name: str, faults: FaultPlan):
        self.model = model
        self.endpoint_name = endpoint_name
        self._lock = threading.Lock()
        self._faults = faults
        self._random = random.Random(faults.seed)
        self.stats = {"invocations": 0, "failed_injected": 0, "delayed_injected": 0, "model_errors": 0}

    def set_faults(self, faults: FaultPlan) -> None:
        with self._lock:
            self._faults = faults
            self._random = random.Random(faults.seed)

    def draw_fault(self) -> Optional[str]:
        with self._lock:
            self.stats["invocations"] += 1
            plan = self._faults
            if plan.rate <= 0 or plan.remaining == 0 or self._random.random() >= plan.rate:
                return None
            if plan.remaining is not None:
                plan.remaining -= 1
            self.stats["failed_injected"] += 1
            return plan.code

    def draw_delay(self) -> float:
        """Seconds to hold this call (0: answer at once)."""
        with self._lock:
            plan = self._faults
            if plan.delay_rate <= 0 or plan.delay_seconds <= 0 or self._random.random() >= plan.delay_rate:
                return 0.0
            self.stats["delayed_injected"] += 1
            return plan.delay_seconds

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {**self.stats, "faults": asdict(self._faults), "endpoint": self.endpoint_name}


def _handler_class(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "chartguard-endpoint-standin"
        # The headers and the body go out in two writes: with Nagle's algorithm the body would
        # wait for the client's delayed ACK of the headers on a kept-alive connection.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per call is noise
            pass

        def _send(
            self, status: int, body: bytes, content_type: str, headers: Optional[dict[str, str]] = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, code: str, message: str) -> None:
            # rest-json error shape: botocore reads the code from the header (and the body).
            body = json.dumps({"__type": code, "message": message}).encode()
            self._send(status, body, "application/x-amz-json-1.1", {"x-amzn-ErrorType": code})

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:
            if self.path in ("/ping", "/_standin/stats"):
                self._send(200, json.dumps(standin.snapshot()).encode(), "application/json")
            else:
                self._error(404, "UnknownOperationException", f"no route for GET {self.path}")

        def do_POST(self) -> None:
            body = self._body()
            if self.path == "/_standin/faults":
                try:
                    plan = FaultPlan(**json.loads(body or b"{}"))
                    if plan.code not in FAULTS:
                        raise ValueError(f"code must be one of {sorted(FAULTS)}")
                    if plan.delay_seconds < 0 or not 0 <= plan.delay_rate <= 1:
                        raise ValueError("delay_seconds must be >= 0 and delay_rate in [0, 1]")
                except (TypeError, ValueError) as error:
                    self._error(400, "ValidationError", str(error))
                    return
                standin.set_faults(plan)
                self._send(200, json.dumps(standin.snapshot()).encode(), "application/json")
                return
            parts = self.path.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "endpoints" or parts[2] != "invocations":
                self._error(404, "UnknownOperationException", f"no route for POST {self.path}")
                return
            if parts[1] != standin.endpoint_name:
                self._error(400, "ValidationError", f"Endpoint {parts[1]} of account 000000000000 not found.")
                return
            fault = standin.draw_fault()
            if fault is not None:
                self._error(FAULTS[fault], fault, f"injected fault: {fault}")
                return
            delay = standin.draw_delay()
            if delay:
                time.sleep(delay)  # the client may have given up by then; the answer still goes out
            content_type = self.headers.get("Content-Type", "application/octet-stream")
            accept = self.headers.get("Accept", "application/json")
            try:
                output, output_type = standin.model.invoke(body, content_type, accept)
            except Exception as error:  # the model container's failure, as SageMaker reports it
                standin.stats["model_errors"] += 1
                message = (
                    f'Received client error (400) from primary with message "{type(error).__name__}: {error}"'
                )
                self._error(HTTPStatus.FAILED_DEPENDENCY, "ModelError", message)
                return
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up
                self._send(200, output, output_type, {"x-Amzn-Invoked-Production-Variant": "AllTraffic"})

    return Handler


def serve(
    model_dir: Path, endpoint_name: str, host: str, port: int, faults: FaultPlan
) -> ThreadingHTTPServer:
    """Load the model and bind the server (not yet serving); `server.server_address` has the port."""
    standin = StandIn(Model(model_dir), endpoint_name, faults)
    server = ThreadingHTTPServer((host, port), _handler_class(standin))
    server.daemon_threads = True
    server.standin = standin  # type: ignore[attr-defined]
    return server


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.endpoint_standin", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--model-dir", type=Path, required=True, help="model artifact directory (with code/inference.py)"
    )
    parser.add_argument("--endpoint-name", default="chart-classifier")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback by default)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of calls to fail (0..1)")
    parser.add_argument("--fail-code", default="ServiceUnavailable", choices=sorted(FAULTS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    server = serve(
        args.model_dir,
        args.endpoint_name,
        args.host,
        args.port,
        FaultPlan(args.fail_rate, args.fail_code, None, args.seed),
    )
    host, port = str(server.server_address[0]), int(server.server_address[1])
    print(
        f"listening on http://{host}:{port} (model loaded in {time.perf_counter() - started:.1f}s)",
        flush=True,
    )

    stopping = stop_event_on_signals()

    def shut_down_when_stopped() -> None:  # serve_forever() returns once another thread calls shutdown()
        stopping.wait()
        server.shutdown()

    threading.Thread(target=shut_down_when_stopped, daemon=True).start()
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
