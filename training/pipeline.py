"""From nothing to a servable model: dataset -> training -> artifact (cached, reproducible).

`ensure_model(model_dir)` is what `make model`, `make demo` and the integration tests call: it
returns at once when the directory already holds a complete artifact, otherwise it builds the
dataset from the seed, trains, writes the serving code and packs `model.tar.gz`. A file lock
keeps two processes from training the same directory at once.

`PROFILES` is the one statement of the training recipe (docs/training.md explains each setting):
- default (`make model`): the narrow ResNet-18 on 10,000 + 10,000 chart-v3 charts at their full
  250 x 150, time mirrored and rotated at random, the hacker class weighted in the loss, the
  whole one-cycle schedule run and the best validation epoch kept, on one torch thread;
- quick (`quick=True`, `--quick`, `QUICK=1 make model` or CHARTGUARD_QUICK_MODEL=1): the small
  CNN on 500 + 500 charts halved to 250 x 76, a minute or two on one thread, still a real
  trained model.

A profile's model built with other settings than the profile's current ones is rebuilt (a full
model of an older recipe still serves quick requests); a model trained by hand is kept.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from training.artifact import is_complete, read_metadata
from training.dataset import DEFAULT_SEED, build_dataset, stale_features
from training.round_trip_model import add_round_trip_model
from training.train import THREADS_ENV, TrainConfig, train

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path("artifacts/model")
# The default model committed to the repository: what `make demo`, `make local` and the
# end-to-end tests serve; `make model` rebuilds it into DEFAULT_MODEL_DIR and compares digests.
SHIPPED_MODEL_DIR = Path("model")
QUICK_ENV = "CHARTGUARD_QUICK_MODEL"
RENDER_WORKERS = min(2, os.cpu_count() or 1)  # rendering gives the same bytes on any number
PROFILES: dict[str, dict[str, Any]] = {
    "default": {
        "images_per_class": 10000,
        # One torch thread: on a machine whose other core is busy a second thread spins waiting
        # for it; one thread also trains the same model wherever it runs (CHARTGUARD_TORCH_THREADS
        # overrides, and then trains another model).
        "threads": 1,
        "train": {
            "architecture": "resnet18_narrow",
            "max_epochs": 6,
            "min_epochs": 6,  # the whole one-cycle schedule runs; the best epoch is kept
            "patience": 2,
            "learning_rate": 3e-3,
            # chart-v3's full 150 rows: the place-in-bar panel's 50 rows are read as drawn.
            "height": 150,
            "width": 250,
            "flip_time": True,
            "roll_time": True,
            "precision": "fp32",
            # A missed thief costs three false alarms: the operating point at the contract's
            # threshold (docs/training.md, "The operating point").
            "hacker_weight": 3.0,
        },
    },
    "quick": {
        "images_per_class": 500,
        "train": {
            "architecture": "small_cnn",
            "max_epochs": 8,
            "min_epochs": 0,
            "patience": 2,
            "learning_rate": 3e-3,
            "height": 76,
            "width": 250,
            "flip_time": True,
            "roll_time": True,
            "precision": "fp32",
            "hacker_weight": 1.0,
        },
    },
}


def quick_requested() -> bool:
    return os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes")


def model_lock(model_dir: Path):
    """The lock ensure_model takes before building `model_dir`."""
    return _locked(Path(model_dir).parent / f".{Path(model_dir).name}.lock")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_model(
    model_dir: Path, profile: str = "default", seed: int = DEFAULT_SEED, progress: bool = True
) -> dict[str, Any]:
    """Build the dataset and train the profile's model into `model_dir` (replaced)."""
    settings = PROFILES[profile]
    model_dir = Path(model_dir)
    work = model_dir.parent / f".{model_dir.name}.build"
    n = settings["images_per_class"]
    dataset_dir = model_dir.parent / f"dataset-{n}-{seed}"
    started = time.perf_counter()
    manifest_file = dataset_dir / "manifest.json"
    cached = (
        manifest_file.exists()
        and json.loads(manifest_file.read_text()).get("requested") == [n, n, seed]
        and not stale_features(dataset_dir)
    )
    if not cached:
        build_dataset(dataset_dir, n, n, seed=seed, progress=progress, workers=RENDER_WORKERS)
    built = time.perf_counter()
    if work.exists():
        shutil.rmtree(work)
    config = profile_config(profile, seed=seed, progress=progress)
    metadata = train(dataset_dir, work, config)
    metadata["profile"] = profile
    metadata["dataset"]["dir"] = dataset_dir.name
    metadata["dataset"]["images_per_class"] = n
    metadata["training"]["dataset_seconds"] = round(built - started, 2) if not cached else 0.0
    metadata["training"]["total_seconds"] = round(time.perf_counter() - started, 2)
    (work / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    # The round-trip model beside the network, on the same training split (it also writes the
    # serving code, the digest and model.tar.gz).
    metadata = add_round_trip_model(work, dataset_dir, seed)
    if model_dir.exists():
        shutil.rmtree(model_dir)
    work.rename(model_dir)
    return metadata


def compare_with_shipped(model_dir: Path, shipped_dir: Path = SHIPPED_MODEL_DIR) -> str:
    """One line saying whether `model_dir`'s digest is the shipped model's."""
    if not (Path(shipped_dir) / "metadata.json").is_file():
        return f"no shipped model at {shipped_dir} to compare with"
    built = (read_metadata(model_dir).get("digest") or {}).get("sha256")
    shipped = (read_metadata(shipped_dir).get("digest") or {}).get("sha256")
    if built and built == shipped:
        return f"digest {built[:16]} is the shipped model's ({shipped_dir})"
    return (
        f"digest {str(built)[:16]} differs from the shipped model's {str(shipped)[:16]} ({shipped_dir}):"
        " another thread count, CPU or library version trains another model (docs/training.md)"
    )


def ship_model(model_dir: Path, shipped_dir: Path = SHIPPED_MODEL_DIR) -> Path:
    """Copy a built model's files (not its tarball: `python -m training pack` remakes it) to `shipped_dir`."""
    shipped_dir = Path(shipped_dir)
    if shipped_dir.exists():
        shutil.rmtree(shipped_dir)
    shutil.copytree(model_dir, shipped_dir, ignore=shutil.ignore_patterns("model.tar.gz*"))
    return shipped_dir


def profile_config(profile: str, **overrides: Any) -> TrainConfig:
    """The TrainConfig a profile's build trains with (its threads too), `overrides` on top."""
    return TrainConfig(**{**PROFILES[profile]["train"], "threads": profile_threads(profile), **overrides})


def profile_threads(profile: str) -> int:
    """torch threads for a profile's build: CHARTGUARD_TORCH_THREADS if set, else the profile's, else 1."""
    return int(os.environ.get(THREADS_ENV) or PROFILES[profile].get("threads", 1))


def settings_changed(metadata: dict[str, Any], profile: str) -> dict[str, tuple[Any, Any]]:
    """The profile's settings a model was built without: {name: (recorded, profile's)}.

    Its training settings and its dataset's size (None for a model from before it was recorded)."""
    config = metadata.get("config", {})
    changed = {
        key: (config.get(key), value)
        for key, value in PROFILES[profile]["train"].items()
        if config.get(key) != value
    }
    images = (metadata.get("dataset") or {}).get("images_per_class")
    if images != PROFILES[profile]["images_per_class"]:
        changed["images_per_class"] = (images, PROFILES[profile]["images_per_class"])
    return changed


def built_as_profiled(metadata: dict[str, Any], profile: str) -> bool:
    """Whether a model's recorded training settings are its profile's current ones."""
    return not settings_changed(metadata, profile)


def _replacing(model_dir: Path) -> str:
    """What ensure_model says of the model it is about to replace: the settings that changed."""
    if not is_complete(model_dir):
        return ""
    metadata = read_metadata(model_dir)
    profile = metadata.get("profile")
    changed = settings_changed(metadata, profile) if profile in PROFILES else {}
    if not changed:  # e.g. a quick model where a full one was asked for
        return f" (replacing a {profile} model)"
    settings = ", ".join(f"{k}: {v!r} -> {w!r}" for k, (v, w) in changed.items())
    return f" (replacing a {profile} model built with other settings: {settings})"


def ensure_model(model_dir: Path, quick: bool = False, *, progress: bool = True) -> Path:
    """Return `model_dir`, training the model first when it holds no complete artifact.

    A quick model satisfies a quick request only; a default (full) model satisfies both.
    `CHARTGUARD_QUICK_MODEL=1` turns any request into a quick one.
    """
    model_dir = Path(model_dir)
    quick = quick or quick_requested()

    def good_enough() -> bool:
        if not is_complete(model_dir):
            return False
        metadata = read_metadata(model_dir)
        profile = metadata.get("profile")
        if profile not in PROFILES:  # trained by hand (`python -m training train`): the user's model
            log.info("%s holds a model built outside the profiles; using it as it is", model_dir)
            return True
        if profile == "quick":  # a quick model serves quick requests, if built as quick is today
            return quick and built_as_profiled(metadata, "quick")
        # A full model serves any request; a quick one may take even an older recipe's.
        return quick or built_as_profiled(metadata, profile)

    if good_enough():
        return model_dir
    with model_lock(model_dir):
        if not good_enough():  # another process may have built it while we waited
            profile = "quick" if quick else "default"
            replacing = _replacing(model_dir)  # a model that would not do: say why it goes
            (log.warning if replacing else log.info)(
                "training the %s model into %s%s", profile, model_dir, replacing
            )
            build_model(model_dir, profile, progress=progress)
    return model_dir
