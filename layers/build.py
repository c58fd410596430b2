"""Build the scoring function's Lambda layers without Docker, reproducibly.

Run it with the interpreter of the Lambda runtime it builds for (the Makefile's `make layer`
does): pip evaluates environment markers for the interpreter that runs it, and the `.pyc` files
must be compiled by the runtime's own Python version.

    python3.9 layers/build.py            # -> layers/build/python3.9/{plotting,powertools}.zip

Two layers, both attached to the function:
- `plotting`: numpy and pillow (the renderer, scoring/chart.py, stamps its dots with numpy and
  encodes the PNG with pillow);
- `powertools`: aws-lambda-powertools, aws-xray-sdk (its Tracer imports it), pydantic; minus
  anything already in `plotting`, and minus the AWS SDK, which the Lambda runtime provides.

Steps: `pip install --platform manylinux2014_x86_64 --only-binary=:all: --target` with
requirements.txt as constraints (every installed distribution must be pinned there); prune what
the function never imports (tests, type stubs, headers, build tools, scripts); strip extension modules (not the vendored libraries in `*.libs`, whose names and
hashes auditwheel fixed); precompile `.pyc` (unchecked-hash, so valid on Lambda's read-only /opt
whatever the files' mtimes); check the pruned packages still import; zip with
sorted entries, fixed timestamps and modes, so the same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PLATFORM = "manylinux2014_x86_64"
# Where Lambda extracts a layer's `python/` folder; compiled code records its file names under it.
LAMBDA_LAYER_ROOT = "/opt/python"
ZIP_DATE = (2020, 1, 1, 0, 0, 0)

LAYERS = {
    "plotting": ("numpy", "pillow"),
    "powertools": ("aws-lambda-powertools", "aws-xray-sdk", "pydantic"),
}
# The Lambda Python runtime ships boto3 and its dependencies; a copy in a layer would shadow the
# runtime's botocore with one that boto3 was not released with. aws-xray-sdk pulls them in.
PROVIDED_BY_RUNTIME = {"boto3", "botocore", "s3transfer", "urllib3"}

# Paths (relative to the layer's python/ folder, glob syntax) that the function never imports.
PRUNE_GLOBS = (
    "bin",  # console scripts, with this machine's interpreter in their shebang
    "share",  # man pages and data files of console tools
    "**/__pycache__",  # whatever pip left; recompiled below
    "**/tests",
    "**/*.pyi",
    "**/*.pxd",
    "**/*.h",
    "numpy/_core/include",
    "numpy/_core/lib/pkgconfig",
    "numpy/f2py",  # Fortran wrapper generator: a build tool
    "numpy/distutils",  # build tooling (3.9-3.11 wheels only)
    "numpy/_pyinstaller",
)
PINNED = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(constraints: Path) -> dict[str, str]:
    pins = {}
    for line in constraints.read_text().splitlines():
        match = PINNED.match(line)
        if match:
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def installed_distributions(site: Path) -> dict[str, tuple[str, Path]]:
    """canonical name -> (version, dist-info folder) of what pip installed into `site`."""
    found = {}
    for info in site.glob("*.dist-info"):
        metadata = (info / "METADATA").read_text(encoding="utf-8").splitlines()
        fields = dict(line.split(": ", 1) for line in metadata if ": " in line and not line.startswith(" "))
        found[canonical(fields["Name"])] = (fields["Version"], info)
    return found


def remove_distribution(site: Path, info: Path) -> None:
    """Delete every file an installed distribution's RECORD lists, then its empty folders."""
    folders: set[Path] = set()
    for line in (info / "RECORD").read_text(encoding="utf-8").splitlines():
        relative = line.rsplit(",", 2)[0]
        path = (site / relative).resolve()
        if site.resolve() not in path.parents:
            continue  # console scripts recorded as ../../bin/...
        if path.is_file():
            path.unlink()
        folders.update(p for p in path.parents if site.resolve() in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    shutil.rmtree(info, ignore_errors=True)


def pip_install(packages: tuple[str, ...], site: Path, python_version: str, constraints: Path) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
        "--no-compile", "--no-warn-script-location", "--root-user-action=ignore",
        "--platform", PLATFORM, "--implementation", "cp", "--python-version", python_version,
        "--only-binary=:all:", "--target", str(site), "-c", str(constraints), *packages,
    ]  # fmt: skip
    if subprocess.run(command).returncode != 0:
        raise SystemExit(
            f"pip could not install {' '.join(packages)} for Python {python_version} on {PLATFORM}: a pinned "
            "release may have no wheel for it (numpy 2.0.2 has none for 3.13; docs/deploy.md)"
        )


def prune(site: Path) -> None:
    for pattern in PRUNE_GLOBS:
        for path in sorted(site.glob(pattern), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def strip_extensions(site: Path) -> None:
    """Drop symbol tables and debug sections of the packages' own extension modules."""
    if shutil.which("strip") is None:
        print("  strip not found: extension modules left as they are", file=sys.stderr)
        return
    modules = sorted(
        p for p in site.rglob("*.so*") if p.is_file() and not any(part.endswith(".libs") for part in p.parts)
    )
    if modules:
        subprocess.run(["strip", "--strip-unneeded", *map(str, modules)], check=True)


def precompile(site: Path) -> None:
    """`.pyc` for this interpreter, as unchecked hashes: Lambda's /opt is read-only, so without
    them every cold start compiles everything again in memory; with timestamp-based ones the
    zip's fixed mtimes would make them look stale."""
    command = [
        sys.executable, "-m", "compileall", "-q", "-d", LAMBDA_LAYER_ROOT,
        "--invalidation-mode", "unchecked-hash", "-j", "0", str(site),
    ]  # fmt: skip
    # -d: tracebacks name /opt/python/..., and no build path is recorded. A fixed hash seed:
    # marshal writes set and frozenset constants in hash order, which would differ per run.
    subprocess.run(command, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})


def check_imports(site: Path) -> None:
    """Import the pruned packages from the layer alone (no site-packages): pruning went too far
    if this fails."""
    script = (
        "import sys; sys.path[:0] = [sys.argv[1]]; import numpy, PIL.Image;"
        "assert numpy.__file__.startswith(sys.argv[1]), numpy.__file__"
    )
    environment = {"PATH": os.environ.get("PATH", "")}
    subprocess.run([sys.executable, "-I", "-S", "-B", "-c", script, str(site)], check=True, env=environment)


def zip_folder(folder: Path, archive: Path) -> None:
    """Zip `folder` as the layer's `python/` tree: sorted entries, fixed dates and modes."""
    files = sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for name, path in files:
            info = zipfile.ZipInfo(f"python/{name}", ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3  # Unix, so the modes above are honoured
            out.writestr(info, path.read_bytes(), compresslevel=9)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(out: Path, constraints: Path) -> dict[str, dict[str, Any]]:
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    target = out / f"python{python_version}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    try:
        return _build_layers(target, python_version, constraints)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # no half-built layer for CDK to pick up
        raise


def _build_layers(target: Path, python_version: str, constraints: Path) -> dict[str, dict[str, Any]]:
    pins = read_pins(constraints)
    report: dict[str, dict[str, Any]] = {}
    earlier: dict[str, tuple[str, Path]] = {}
    for layer, packages in LAYERS.items():
        started = time.monotonic()
        site = target / layer / "python"
        print(f"[{layer}] pip install {' '.join(packages)} for cp{python_version.replace('.', '')}")
        pip_install(packages, site, python_version, constraints)
        dists = installed_distributions(site)
        for name, (version, info) in sorted(dists.items()):
            if name in PROVIDED_BY_RUNTIME:
                remove_distribution(site, info)
            elif name in earlier:  # the function gets both layers: one copy is enough
                if earlier[name][0] != version:
                    raise SystemExit(f"{name}: {version} here but {earlier[name][0]} in an earlier layer")
                remove_distribution(site, info)
            elif pins.get(name) != version:
                raise SystemExit(f"{name} {version} is not pinned in {constraints.name}: pin it there")
        kept = {n: d for n, d in installed_distributions(site).items()}
        prune(site)
        strip_extensions(site)
        if (site / "numpy").is_dir():
            check_imports(site)
        precompile(site)
        archive = target / f"{layer}.zip"
        zip_folder(site, archive)
        earlier.update(kept)
        report[layer] = {
            "distributions": {name: version for name, (version, _) in sorted(kept.items())},
            "unzipped_bytes": folder_size(site),
            "zipped_bytes": archive.stat().st_size,
            "sha256": sha256(archive),
            "seconds": round(time.monotonic() - started, 1),
        }
        print(
            f"[{layer}] {report[layer]['unzipped_bytes'] / 1e6:.1f} MB unzipped, "
            f"{report[layer]['zipped_bytes'] / 1e6:.1f} MB zipped -> {archive}"
        )
    manifest = {"python": python_version, "platform": PLATFORM, "layers": report}
    (target / "layers.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    total_unzipped = sum(int(r["unzipped_bytes"]) for r in report.values())
    total_zipped = sum(int(r["zipped_bytes"]) for r in report.values())
    print(f"total: {total_unzipped / 1e6:.1f} MB unzipped, {total_zipped / 1e6:.1f} MB zipped")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "layers" / "build")
    parser.add_argument("--constraints", type=Path, default=REPO / "requirements.txt")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="rebuild in a temporary folder and check the zips are byte-identical to those in --out",
    )
    args = parser.parse_args()
    if not args.verify:
        build(args.out.resolve(), args.constraints.resolve())
        return
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    built = json.loads((args.out / python / "layers.json").read_text())["layers"]
    with tempfile.TemporaryDirectory() as scratch:
        again = build(Path(scratch), args.constraints.resolve())
    different = [name for name in built if built[name]["sha256"] != again[name]["sha256"]]
    if different:
        raise SystemExit(f"not reproducible: {', '.join(different)} differ between two builds")
    print(f"reproducible: {python} layers rebuilt byte for byte")


if __name__ == "__main__":
    main()
