"""Dataset layout: class folders, im2rec .lst (hacker=0, normal=1), 75/25 by account, manifest."""

from __future__ import annotations

import json

import pytest

from scoring.chart import RENDER_VERSION, decode_png
from training.dataset import build_dataset, read_lst


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "data"
    manifest = build_dataset(out, 30, 30, seed=4, days=4, progress=False)
    return out, manifest


def test_lst_lines_are_index_label_relative_path(dataset):
    out, _ = dataset
    for split in ("train", "val"):
        for line in (out / f"{split}.lst").read_text().splitlines():
            index, label, relative = line.split("\t")
            assert index.isdigit() and label in ("0", "1")
            assert relative.startswith({"0": "hacker/", "1": "normal/"}[label])
            assert decode_png((out / relative).read_bytes()).shape == (150, 250, 3)


def test_split_is_75_25_by_account_and_reproducible(dataset, tmp_path):
    out, manifest = dataset
    records = [json.loads(line) for line in (out / "images.jsonl").read_text().splitlines()]
    split_of_user = {}
    for record in records:
        assert split_of_user.setdefault(record["user_id"], record["split"]) == record["split"]
    val_accounts = sum(1 for s in split_of_user.values() if s == "val")
    assert abs(val_accounts / len(split_of_user) - 0.25) < 0.02
    train, val = read_lst(out / "train.lst"), read_lst(out / "val.lst")
    assert len(train) + len(val) == len(records) == manifest["counts"]["images"]
    again = build_dataset(tmp_path / "again", 30, 30, seed=4, days=4, progress=False)
    assert (tmp_path / "again" / "train.lst").read_text() == (out / "train.lst").read_text()
    assert again["counts"] == manifest["counts"]


def test_manifest_records_render_version_pins_seed_and_counts(dataset):
    out, _manifest = dataset
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["render_version"] == RENDER_VERSION
    assert on_disk["seed"] == 4 and on_disk["class_order"] == ["hacker", "normal"]
    assert on_disk["packages"]["numpy"] == "2.0.2" and on_disk["packages"]["pillow"] == "11.3.0"
    counts = on_disk["counts"]
    assert counts["hacker_train"] + counts["hacker_val"] >= 30
    assert counts["normal_train"] + counts["normal_val"] >= 30
    accounts = [json.loads(line) for line in (out / "accounts.jsonl").read_text().splitlines()]
    assert all(a["trades"] and "trade_key" in a["trades"][0] for a in accounts)


def test_rendering_in_worker_processes_writes_the_same_dataset(dataset, tmp_path, monkeypatch):
    import training.dataset as dataset_module

    out, _ = dataset
    monkeypatch.setattr(dataset_module, "RENDER_CHUNK", 8)  # several chunks for two workers
    build_dataset(tmp_path / "forked", 30, 30, seed=4, days=4, progress=False, workers=2)
    forked = tmp_path / "forked"
    for name in ("train.lst", "val.lst", "images.jsonl", "accounts.jsonl"):
        assert (forked / name).read_text() == (out / name).read_text()
    for _, _, relative in read_lst(out / "train.lst") + read_lst(out / "val.lst"):
        assert (forked / relative).read_bytes() == (out / relative).read_bytes()


def test_charts_hold_the_window_of_the_whole_market():
    """simulate_charts windows each symbol once per withdrawal window; every chart still holds
    exactly the bars the scoring function would read from the whole market's klines."""
    from training.dataset import DEFAULT_SEED, market, simulate_charts
    from training.simulate import window_bars

    klines = market(DEFAULT_SEED, days=5)
    charts = simulate_charts(klines, 30, 30, DEFAULT_SEED)
    assert len({c.account.window_end for c in charts}) > 1
    for chart in charts:
        assert chart.bars == window_bars(klines[chart.symbol], chart.account.window_end)
        assert chart.trades and all(t.symbol == chart.symbol for t in chart.trades)


def test_a_dataset_of_an_older_feature_list_is_stale_and_rebuilt_as_it_was_asked_for(dataset, tmp_path):
    import shutil

    from scoring.round_trip import FEATURE_NAMES
    from training.dataset import rebuild_stale, stale_features

    out, _ = dataset
    old = tmp_path / "old"
    shutil.copytree(out, old)
    manifest = json.loads((old / "manifest.json").read_text())
    assert manifest["requested"] == [30, 30, 4] and not stale_features(old)
    assert rebuild_stale(old) is False
    manifest["feature_names"] = list(FEATURE_NAMES[:14])  # a 14-name list, as older datasets hold
    (old / "manifest.json").write_text(json.dumps(manifest))
    (old / "images.jsonl").write_text("")
    assert stale_features(old)
    assert rebuild_stale(old) is True and not stale_features(old)
    assert (old / "images.jsonl").read_text() == (out / "images.jsonl").read_text()

    manifest["market"] = {"source": "given", "symbols": {}}
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="cannot be rebuilt from its manifest"):
        rebuild_stale(old)
