"""The built layers (layers/build.py) hold what the function imports, for the runtime's Python.

These need `make layer` first (a minute): without a build they are skipped and say so.
`make ci-infra` builds the 3.9 and 3.12 layers and sets REQUIRE_BUILT_LAYERS, which turns those
skips into failures. The interpreter of each runtime is `python3.X` on PATH, or the command in
LAYER_PYTHON_3X (the Makefile sets them).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scoring.chart import HEIGHT_PX, WIDTH_PX, render_chart_pixels

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "layers" / "build"
LAYER_NAMES = ("plotting", "powertools")
REQUIRED = {v for v in os.environ.get("REQUIRE_BUILT_LAYERS", "").split(",") if v}
PRESENT = {p.name.removeprefix("python") for p in BUILD.glob("python3.*") if (p / "layers.json").is_file()}
LAMBDA_UNZIPPED_LIMIT = 262_144_000  # function code plus all its layers

# One symbol's 24 hours of bars and a round-tripping account, built the same way in both processes.
SCENE = """
from datetime import datetime, timezone
from scoring.market import Kline, Trade
T0 = 1_763_164_800
bars = [Kline("BTC-USD", T0 + i * 300, 100 + i % 7, 106 + i % 5, 96 - i % 3, 101 + i % 4) for i in range(288)]
trades = [
    Trade("u-1", f"t-{i}", "BTC-USD", "BUY" if i % 2 else "SELL", 96.5 + (i * 37) % 9, 1.0,
          datetime.fromtimestamp(T0 + (i * 53 % 288) * 300 + 17, tz=timezone.utc))
    for i in range(40)
]
"""


@dataclass(frozen=True)
class BuiltLayers:
    python: str
    folder: Path
    command: list[str]
    manifest: dict[str, Any]

    def zip(self, name: str) -> Path:
        return self.folder / f"{name}.zip"

    def site(self, name: str) -> Path:
        return self.folder / name / "python"


def interpreter(python: str) -> list[str]:
    return shlex.split(os.environ.get(f"LAYER_PYTHON_{python.replace('.', '')}", f"python{python}"))


def skip_or_fail(python: str, reason: str) -> None:
    if python in REQUIRED:
        pytest.fail(f"REQUIRE_BUILT_LAYERS names {python}, but {reason}")
    pytest.skip(reason)


@pytest.fixture(params=sorted(PRESENT | REQUIRED) or ["3.9"], scope="module")
def layers(request: pytest.FixtureRequest) -> BuiltLayers:
    python = request.param
    folder = BUILD / f"python{python}"
    if not (folder / "layers.json").is_file():
        skip_or_fail(
            python, f"layers/build/python{python} is not built: run `make layer LAMBDA_PYTHON={python}`"
        )
    command = interpreter(python)
    try:
        probe = subprocess.run([*command, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=60)  # fmt: skip
    except FileNotFoundError:
        probe = None
    if probe is None or probe.returncode != 0 or probe.stdout.strip() != python:
        skip_or_fail(
            python, f"no Python {python} to run its layer: set LAYER_PYTHON_{python.replace('.', '')}"
        )
    manifest = json.loads((folder / "layers.json").read_text())
    return BuiltLayers(python, folder, command, manifest)


@pytest.fixture(scope="module")
def runtime_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the Lambda runtime's own boto3 (its /var/runtime), which the layers leave out.

    Links to the Python 3.9 environment's copies (`make venv39`): pure Python, and releases that
    still run on 3.9, so every runtime from 3.9 up can import them.
    """
    site = REPO / ".venv39" / "lib" / "python3.9" / "site-packages"
    if not (site / "botocore").is_dir():
        pytest.skip("no .venv39 to lend the runtime's boto3: run `make venv39`")
    folder = tmp_path_factory.mktemp("var-runtime")
    for package in ("boto3", "botocore", "s3transfer", "urllib3"):
        (folder / package).symlink_to(site / package, target_is_directory=True)
    return folder


def run_in_layers(
    layers: BuiltLayers, runtime_sdk: Path, script: str, tmp: Path
) -> subprocess.CompletedProcess[bytes]:
    """Run `script` under the runtime's Python with nothing but the layers, the SDK and lambdas/.

    -I: no environment variables or user site; -S: no site-packages at all; -B: write no .pyc.
    """
    paths = [str(layers.site(n)) for n in LAYER_NAMES] + [str(runtime_sdk), str(REPO / "lambdas")]
    prologue = f"import sys; sys.path[:0] = {paths!r}\n"
    return subprocess.run(
        [*layers.command, "-I", "-S", "-B", "-c", prologue + script],
        capture_output=True,
        timeout=300,
        env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
    )


def test_function_imports_and_renders_identical_pixels_from_the_layers_alone(
    layers: BuiltLayers, runtime_sdk: Path, tmp_path: Path
) -> None:
    script = SCENE + (
        "import time\n"
        "started = time.perf_counter()\n"
        "import scoring.handler  # the function's whole import chain\n"
        "seconds = time.perf_counter() - started\n"
        "import numpy, PIL, pydantic, pydantic_core, aws_lambda_powertools, aws_xray_sdk\n"
        "assert 'matplotlib' not in sys.modules, 'the function imports no plotting library'\n"
        "for module in (numpy, PIL, pydantic, pydantic_core, aws_lambda_powertools, aws_xray_sdk):\n"
        f"    assert module.__file__.startswith({str(layers.folder)!r}), module.__file__\n"
        "from scoring.chart import render_chart_pixels\n"
        "pixels = render_chart_pixels(bars, trades)\n"
        "sys.stderr.write('import scoring.handler: %.2f s\\n' % seconds)\n"
        "sys.stdout.buffer.write(pixels.tobytes())\n"
    )
    done = run_in_layers(layers, runtime_sdk, script, tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    print(f"python{layers.python}: {done.stderr.decode().strip()}")

    scene: dict[str, Any] = {}
    exec(SCENE, scene)  # the same scene, rendered by this (the training) environment
    expected = render_chart_pixels(scene["bars"], scene["trades"])
    got = np.frombuffer(done.stdout, dtype=np.uint8).reshape(HEIGHT_PX, WIDTH_PX, 3)
    assert (got != 255).any(), "the chart has no dots"
    np.testing.assert_array_equal(got, expected)


def test_every_module_is_precompiled_with_unchecked_hashes(layers: BuiltLayers) -> None:
    tag = f"cpython-{layers.python.replace('.', '')}"
    for name in LAYER_NAMES:
        with zipfile.ZipFile(layers.zip(name)) as archive:
            names = set(archive.namelist())
            sources = [n for n in names if n.endswith(".py")]
            assert sources
            for source in sources:
                folder, _, stem = source.rpartition("/")
                cached = f"{folder}/__pycache__/{stem[:-3]}.{tag}.pyc"
                assert cached in names, f"{source} has no .pyc"
            for cached in [n for n in names if n.endswith(".pyc")][:200]:
                flags = int.from_bytes(archive.read(cached)[4:8], "little")
                assert flags == 0b01, f"{cached}: not an unchecked-hash pyc"  # read-only /opt: never stale


def test_layers_leave_out_the_sdk_scripts_tests_and_build_paths(layers: BuiltLayers) -> None:
    build_path = str(layers.folder).encode()
    for name in LAYER_NAMES:
        with zipfile.ZipFile(layers.zip(name)) as archive:
            names = archive.namelist()
            tops = {n.split("/")[1] for n in names}
            assert not tops & {"boto3", "botocore", "s3transfer", "urllib3", "bin"}, tops
            assert not [n for n in names if "/tests/" in n]
            assert all(info.date_time == (2020, 1, 1, 0, 0, 0) for info in archive.infolist())
            assert names == sorted(names)
            for entry in names:
                assert build_path not in archive.read(entry), f"{entry} records the build folder"


def test_function_and_layers_fit_lambdas_unzipped_limit(layers: BuiltLayers) -> None:
    sizes = {name: layer["unzipped_bytes"] for name, layer in layers.manifest["layers"].items()}
    code = sum(
        p.stat().st_size
        for p in (REPO / "lambdas").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    total = sum(sizes.values()) + code
    print(f"python{layers.python}: layers {sizes}, code {code} bytes, total {total / 1e6:.1f} MB unzipped")
    assert total < LAMBDA_UNZIPPED_LIMIT
    for name in LAYER_NAMES:
        assert layers.zip(name).stat().st_size == layers.manifest["layers"][name]["zipped_bytes"]
