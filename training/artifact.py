"""The model artifact: what SageMaker and the local endpoint stand-in load.

<model_dir>/model.onnx          the network with softmax on top (input "image", N x 3 x h x w)
<model_dir>/round_trip.onnx     optional: the round-trip model (input "round_trip", N x features)
<model_dir>/metadata.json       class order, render version, input spec, architecture, figures
<model_dir>/code/inference.py   training/serving/inference.py, verbatim
<model_dir>/code/requirements.txt   what the SageMaker PyTorch container must add (onnxruntime)
<model_dir>/model.tar.gz        the same files packed for SageMaker: model files at the root, code/ inside
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

from training.serving import inference

SERVING_SOURCE = Path(inference.__file__)
# The SageMaker PyTorch inference container has numpy and Pillow; it lacks onnxruntime.
SERVING_REQUIREMENTS = "onnxruntime==1.31.1\n"
TARBALL = "model.tar.gz"
REQUIRED_FILES = ("model.onnx", "metadata.json", "code/inference.py")
MODEL_FILES = ("model.onnx", "round_trip.onnx")  # what the digest covers: the models' own bytes


def digest_files(model_dir: Path) -> dict[str, object]:
    """SHA-256 of each model file present and of them together: the same recipe and seed on the
    same software give the same digest; metadata (times, dates) is left out on purpose."""
    files = {
        name: hashlib.sha256((Path(model_dir) / name).read_bytes()).hexdigest()
        for name in MODEL_FILES
        if (Path(model_dir) / name).is_file()
    }
    combined = hashlib.sha256("".join(f"{name} {sha}\n" for name, sha in sorted(files.items())).encode())
    return {"sha256": combined.hexdigest(), "files": files}


def write_serving_code(model_dir: Path) -> None:
    code = Path(model_dir) / "code"
    code.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SERVING_SOURCE, code / "inference.py")
    (code / "requirements.txt").write_text(SERVING_REQUIREMENTS)


def is_complete(model_dir: Path) -> bool:
    return all((Path(model_dir) / name).is_file() for name in REQUIRED_FILES)


def read_metadata(model_dir: Path) -> dict:
    return json.loads((Path(model_dir) / "metadata.json").read_text())


def pack_model(model_dir: Path, tar_path: Path | None = None) -> Path:
    """model.tar.gz for SageMaker: model.onnx and metadata.json at the root, code/ inside.

    Entries carry fixed owners and times, so the same files give the same archive members.
    """
    model_dir = Path(model_dir)
    tar_path = Path(tar_path) if tar_path else model_dir / TARBALL
    members = ["model.onnx", "round_trip.onnx", "metadata.json", "code/inference.py", "code/requirements.txt"]

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    partial = tar_path.with_name(tar_path.name + ".partial")
    with tarfile.open(partial, "w:gz") as archive:
        for name in members:
            if (model_dir / name).exists():
                archive.add(model_dir / name, arcname=name, filter=clean)
    partial.replace(tar_path)
    return tar_path
