"""Where the scoring function's CPU goes per warm message: each AWS call, each render, the rest.

    python -m bench.cpu_split [--messages 40] [--model-dir artifacts/model]

The set-up of `bench.handler` (the real handler against the local stack, klines cache on), for a
clean and a flagged withdrawal. The account's calls run one after another here (the fan-out is
made sequential) so that each call's CPU time is its own; the total is comparable with
`bench.handler`'s "function CPU".
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.handler import WARM_UP, loaded_stack, run
from local.stack import DEFAULT_MODEL_DIR
from scoring.contracts import DEFAULT_RISK_THRESHOLD


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=40, help="per mode")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args()
    with loaded_stack(args.model_dir) as stack:
        assert stack.resources is not None
        names = stack.resources.names

        import botocore.client

        from scoring import decision, fanout, handler, settings

        fanout._local.in_pool = True  # the fan-out's own rule: a pool thread runs its calls inline
        spent: dict[str, float] = collections.defaultdict(float)
        calls: collections.Counter[str] = collections.Counter()

        def timed(name: str, call: Any) -> Any:
            def wrapper(*a: Any, **k: Any) -> Any:
                label = a[1] if name == "aws" else name
                started = time.process_time()
                try:
                    return call(*a, **k)
                finally:
                    spent[label] += time.process_time() - started
                    calls[label] += 1

            return wrapper

        botocore.client.BaseClient._make_api_call = timed("aws", botocore.client.BaseClient._make_api_call)
        decision.render_chart = timed("render", decision.render_chart)  # type: ignore[assignment]
        arn = f"arn:aws:sqs:us-east-1:000000000000:{names.queue}"
        for label, threshold, outcome in (
            ("clean", str(DEFAULT_RISK_THRESHOLD), "below-threshold"),
            ("flagged", "1e-15", "flagged"),
        ):
            os.environ.update({"RISK_THRESHOLD": threshold, "KLINES_CACHE_SECONDS": "600"})
            settings.get_settings.cache_clear()
            handler.collaborators.cache_clear()
            run(handler, arn, WARM_UP, f"warm-{label}", outcome)
            spent.clear()
            calls.clear()
            cpu = run(handler, arn, args.messages, label, outcome)["function CPU (this process)"]
            count = args.messages + WARM_UP  # run() also sends its warm-up messages
            mean = statistics.fmean(cpu)
            print(
                f"{label}: function CPU per message mean {mean:.2f} ms, p50 {statistics.median(cpu):.2f} ms"
            )
            for name in sorted(spent, key=lambda n: -spent[n]):
                each = spent[name] * 1000 / calls[name]
                print(
                    f"  {name:16s} {calls[name] / count:4.1f} per message  {each:6.2f} ms each  {spent[name] * 1000 / count:6.2f} ms"
                )
            print(f"  {'the rest':16s} {'':18s} {mean - sum(spent.values()) * 1000 / count:6.2f} ms")


if __name__ == "__main__":
    main()
