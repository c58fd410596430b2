"""The image dataset: simulated accounts rendered through the one renderer, in im2rec layout.

    <out>/hacker/<user_id>_<symbol>.png      one chart per (account, symbol), contract 5
    <out>/normal/<user_id>_<symbol>.png
    <out>/train.lst, <out>/val.lst          im2rec: index \\t label \\t relative path (hacker=0, normal=1)
    <out>/images.jsonl                      per image: label, variant, account, split, round-trip features
    <out>/accounts.jsonl                    per account: variant, window, victims, contract-2 trade items
    <out>/manifest.json                     render version, package versions, seed, counts

The 75/25 split is drawn over accounts (fixed seed), not images, so no account has charts on
both sides. Market data comes from `market()`: synthetic crypto and stock klines, reproducible
from the seed alone; or, given `klines` (e.g. `load_csv` of real bars), the simulated accounts
trade that market instead, and the manifest says where its bars came from.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence

import numpy as np

from scoring.chart import HEIGHT_PX, RENDER_VERSION, WIDTH_PX, render_chart
from scoring.contracts import CLASS_ORDER
from scoring.market import Kline, Trade
from scoring.round_trip import FEATURE_NAMES, round_trip_features
from training.market_data import synthetic_klines
from training.simulate import HACKER, SimulatedAccount, account_charts, simulate_accounts, window_bars

DEFAULT_SEED = 20261122
EVALUATION_SEED = 7_000_001  # a different market and different accounts: the held-out test set
VAL_FRACTION = 0.25  # of the accounts, into val.lst (im2rec's 75/25 split)
CRYPTO_SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "DOGE-USD")
STOCK_SYMBOLS = ("COIN", "TSLA", "NVDA", "MSTR")
MARKET_END = datetime(2026, 11, 1, tzinfo=timezone.utc)
MARKET_DAYS = 45
MAX_UNUSABLE_WINDOWS = 500  # draws in a row without a tradable symbol before giving up
ACCOUNTS_PER_WINDOW = (12, 16)  # thieves, ordinary accounts per withdrawal window: 2 of each variant
PACKAGES = ("numpy", "pillow", "torch", "onnx", "onnxruntime", "scikit-learn")
LABEL_INDEX = {name: index for index, name in enumerate(CLASS_ORDER)}  # hacker 0, normal 1


class MarketError(ValueError):
    """The klines give the simulated accounts nothing to trade (too short, or no usable window)."""


@dataclass(frozen=True)
class Chart:
    account: SimulatedAccount
    symbol: str
    bars: list[Kline]
    trades: list[Trade]


def market(seed: int, days: int = MARKET_DAYS, end: datetime = MARKET_END) -> dict[str, list[Kline]]:
    """Synthetic 5-minute klines of the crypto and stock symbols, one seed for both."""
    klines = synthetic_klines(CRYPTO_SYMBOLS, end, days, seed, "crypto")
    klines.update(synthetic_klines(STOCK_SYMBOLS, end, days, seed + 1, "stock"))
    return klines


def simulate_charts(
    klines: Mapping[str, list[Kline]], n_hacker: int, n_normal: int, seed: int, window_hours: int = 24
) -> list[Chart]:
    """Charts from accounts in random withdrawal windows until each class has its count of images.

    Whole accounts are kept, so the last account of a class may add one or two images more.
    """
    rng = np.random.default_rng([seed, 17])
    spans = [
        (min(b.open_time for b in bars), max(b.open_time for b in bars)) for bars in klines.values() if bars
    ]
    if not spans:
        raise MarketError("no klines to simulate accounts on")
    earliest = min(start for start, _ in spans)
    first = earliest + (window_hours + 1) * 3600
    last = max(end for _, end in spans)
    if first >= last:
        hours = (last - earliest) / 3600
        raise MarketError(
            f"the klines span {hours:.1f} h: a {window_hours} h withdrawal window needs more than "
            f"{window_hours + 1} h of bars"
        )
    unusable = 0  # windows in a row where no symbol had enough bars
    wanted = {HACKER: n_hacker, "normal": n_normal}
    have = {HACKER: 0, "normal": 0}
    charts: list[Chart] = []
    window = 0
    while any(have[c] < wanted[c] for c in wanted):
        window += 1
        end = datetime.fromtimestamp(int(rng.integers(first, last)), tz=timezone.utc)
        n_h = ACCOUNTS_PER_WINDOW[0] if have[HACKER] < wanted[HACKER] else 0
        n_n = ACCOUNTS_PER_WINDOW[1] if have["normal"] < wanted["normal"] else 0
        # Each symbol's window cut from the whole market once; the accounts' charts then window
        # one day of bars instead of the market's 45 days (windowing a window keeps all of it).
        in_window = {symbol: window_bars(bars, end, window_hours) for symbol, bars in klines.items()}
        try:
            accounts = simulate_accounts(in_window, n_h, n_n, seed * 100_003 + window, end, window_hours)
        except ValueError as error:  # no symbol trades in this window (e.g. stocks at a weekend)
            unusable += 1
            if unusable >= MAX_UNUSABLE_WINDOWS:
                described = "; ".join(
                    f"{symbol} {span['bars']} bars {span['first']} to {span['last']}"
                    for symbol, span in _span_of(klines).items()
                )
                raise MarketError(
                    f"{unusable} random windows in a row were unusable ({error}); the bars: {described}"
                ) from None
            continue
        unusable = 0
        for account in accounts:
            if have[account.label] >= wanted[account.label]:
                continue
            for symbol, bars, trades in account_charts(account, in_window):
                charts.append(Chart(account, symbol, bars, trades))
                have[account.label] += 1
    return charts


def split_accounts(user_ids: Sequence[str], seed: int, val_fraction: float = VAL_FRACTION) -> dict[str, str]:
    """user_id -> "train" | "val", 75/25 by default, drawn with a fixed seed."""
    unique = sorted(set(user_ids))
    order = np.random.default_rng([seed, 75]).permutation(len(unique))
    n_val = round(len(unique) * val_fraction)
    return {unique[int(i)]: ("val" if rank < n_val else "train") for rank, i in enumerate(order)}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def write_lst(path: Path, rows: Sequence[tuple[int, int, str]]) -> None:
    """im2rec list: `index \\t label \\t relative/path.png` per line."""
    with open(path, "w") as handle:
        for index, label, relative in rows:
            handle.write(f"{index}\t{label}\t{relative}\n")


def read_lst(path: Path) -> list[tuple[int, int, str]]:
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            index, label, relative = line.split("\t")
            rows.append((int(index), int(float(label)), relative))
    return rows


def _trade_json(trade: Trade) -> dict[str, object]:
    return {k: (str(v) if not isinstance(v, str) else v) for k, v in trade.to_item().items()}


def iter_rendered(
    charts: Sequence[Chart], progress: bool = False, workers: int = 1
) -> Iterator[tuple[Chart, bytes, list[float]]]:
    """Each chart with its PNG and round-trip features, in order; `workers` > 1 renders in that
    many forked processes (the same bytes: the work per chart does not change)."""
    from tqdm import tqdm

    disable = None if progress else True  # None: a bar on a terminal only
    with tqdm(total=len(charts), desc="render", unit="img", leave=False, disable=disable) as bar:
        for start, done in _rendered_chunks(charts, workers):
            for offset, (png, features) in enumerate(done):
                yield charts[start + offset], png, features
            bar.update(len(done))


RENDER_CHUNK = 128  # charts per task handed to a render worker
_WORKER_CHARTS: Sequence[Chart] = ()  # set in each worker process


def _render(charts: Sequence[Chart]) -> list[tuple[bytes, list[float]]]:
    return [(render_chart(c.bars, c.trades), round_trip_features(c.bars, c.trades)) for c in charts]


def _start_worker(charts: Sequence[Chart]) -> None:
    global _WORKER_CHARTS
    _WORKER_CHARTS = charts


def _render_in_worker(bounds: tuple[int, int]) -> list[tuple[bytes, list[float]]]:
    return _render(_WORKER_CHARTS[bounds[0] : bounds[1]])


def _rendered_chunks(
    charts: Sequence[Chart], workers: int
) -> Iterator[tuple[int, list[tuple[bytes, list[float]]]]]:
    bounds = [
        (start, min(start + RENDER_CHUNK, len(charts))) for start in range(0, len(charts), RENDER_CHUNK)
    ]
    if workers <= 1 or len(bounds) <= 1:
        for start, stop in bounds:
            yield start, _render(charts[start:stop])
        return
    # fork: a forked worker's initializer arguments are inherited, not pickled, so the charts are
    # shared copy-on-write. Call it before any torch work starts (the pipeline builds the dataset
    # first), so that no thread pool is forked mid-flight; fork is Linux's default, not macOS's.
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_start_worker, initargs=(charts,)) as pool:
        yield from zip((start for start, _ in bounds), pool.imap(_render_in_worker, bounds))


def build_dataset(
    out_dir: Path,
    n_hacker: int = 2000,
    n_normal: int = 2000,
    seed: int = DEFAULT_SEED,
    val_fraction: float = VAL_FRACTION,
    days: int = MARKET_DAYS,
    progress: bool = True,
    workers: int = 1,
    klines: Optional[Mapping[str, list[Kline]]] = None,
    market_source: Optional[Mapping[str, object]] = None,
) -> dict[str, object]:
    """Simulate, render and list a dataset into `out_dir` (replaced). Returns the manifest.

    `workers` > 1 renders in that many processes (the same files, in the same order).
    `klines` ({symbol: bars}): the market the accounts trade, instead of the synthetic one of
    `seed` and `days`; `market_source` describes it in the manifest (e.g. files and checksums)."""
    out_dir = Path(out_dir)
    if klines is None:
        market_record: dict[str, object] = {
            "source": "synthetic",
            "crypto": list(CRYPTO_SYMBOLS),
            "stock": list(STOCK_SYMBOLS),
            "days": days,
            "end": MARKET_END.isoformat(),
        }
        klines = market(seed, days)
    else:
        market_record = {"source": "given", **(market_source or {}), "symbols": _span_of(klines)}
    charts = simulate_charts(klines, n_hacker, n_normal, seed)
    if out_dir.exists():  # only once the market proved usable
        shutil.rmtree(out_dir)
    for name in CLASS_ORDER:
        (out_dir / name).mkdir(parents=True)
    split_of = split_accounts([c.account.user_id for c in charts], seed, val_fraction)
    lists: dict[str, list[tuple[int, int, str]]] = {"train": [], "val": []}
    with open(out_dir / "images.jsonl", "w") as images:
        for index, (chart, png, features) in enumerate(iter_rendered(charts, progress, workers)):
            account = chart.account
            relative = f"{account.label}/{account.user_id}_{chart.symbol}.png"
            (out_dir / relative).write_bytes(png)
            split = split_of[account.user_id]
            lists[split].append((index, LABEL_INDEX[account.label], relative))
            record = {
                "path": relative,
                "label": account.label,
                "variant": account.variant,
                "user_id": account.user_id,
                "symbol": chart.symbol,
                "split": split,
                "n_trades": len(chart.trades),
                "features": features,
            }
            images.write(json.dumps(record) + "\n")
    for split, rows in lists.items():
        write_lst(out_dir / f"{split}.lst", rows)
    accounts = {c.account.user_id: c.account for c in charts}
    with open(out_dir / "accounts.jsonl", "w") as handle:
        for user_id in sorted(accounts):
            account = accounts[user_id]
            handle.write(
                json.dumps(
                    {
                        "user_id": user_id,
                        "label": account.label,
                        "variant": account.variant,
                        "split": split_of[user_id],
                        "window_end": account.window_end.isoformat() if account.window_end else None,
                        "window_hours": account.window_hours,
                        "victims": list(account.victims),
                        "trades": [_trade_json(t) for t in account.trades],
                    }
                )
                + "\n"
            )
    counts = Counter((c.account.label, split_of[c.account.user_id]) for c in charts)
    manifest: dict[str, object] = {
        "render_version": RENDER_VERSION,
        "image_size": {"width": WIDTH_PX, "height": HEIGHT_PX},
        "class_order": list(CLASS_ORDER),
        "seed": seed,
        # what was asked for (a class may hold an image or two more): rebuild_stale reads it
        "requested": [n_hacker, n_normal, seed],
        "val_fraction": val_fraction,
        "market": market_record,
        "packages": package_versions(),
        "feature_names": list(FEATURE_NAMES),
        "counts": {
            "images": len(charts),
            "accounts": len(accounts),
            **{
                f"{label}_{split}": counts[(label, split)]
                for label in CLASS_ORDER
                for split in ("train", "val")
            },
        },
        "variants": dict(sorted(Counter(f"{c.account.label}/{c.account.variant}" for c in charts).items())),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _span_of(klines: Mapping[str, list[Kline]]) -> dict[str, dict[str, object]]:
    """Per symbol: how many bars, the first and the last bar's open time (UTC)."""
    out: dict[str, dict[str, object]] = {}
    for symbol, bars in sorted(klines.items()):
        times = [b.open_time for b in bars]
        out[symbol] = {
            "bars": len(bars),
            "first": datetime.fromtimestamp(min(times), tz=timezone.utc).isoformat() if times else None,
            "last": datetime.fromtimestamp(max(times), tz=timezone.utc).isoformat() if times else None,
        }
    return out


def stale_features(dataset_dir: Path) -> bool:
    """Whether the dataset's records hold another list of round-trip features than
    `scoring.round_trip` computes now (they are computed once, when the dataset is built)."""
    manifest = json.loads((Path(dataset_dir) / "manifest.json").read_text())
    return manifest.get("feature_names") != list(FEATURE_NAMES)


def rebuild_stale(dataset_dir: Path, progress: bool = False, workers: int = 1) -> bool:
    """Rebuild a dataset of the synthetic market whose features are stale, as its manifest says it
    was asked for; True if it was rebuilt. A dataset of given klines cannot be: ValueError."""
    dataset_dir = Path(dataset_dir)
    if not stale_features(dataset_dir):
        return False
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    requested = manifest.get("requested")
    market_record = manifest.get("market", {})
    if not requested or market_record.get("source") != "synthetic":
        raise ValueError(
            f"{dataset_dir} holds round-trip features of an older list than scoring.round_trip's"
            " and cannot be rebuilt from its manifest: build it again with `python -m training dataset`"
        )
    n_hacker, n_normal, seed = requested
    build_dataset(
        dataset_dir,
        n_hacker,
        n_normal,
        seed=seed,
        val_fraction=manifest.get("val_fraction", VAL_FRACTION),
        days=market_record.get("days", MARKET_DAYS),
        progress=progress,
        workers=workers,
    )
    return True


def load_records(dataset_dir: Path, split: Optional[str] = None) -> list[dict]:
    records = [json.loads(line) for line in (Path(dataset_dir) / "images.jsonl").read_text().splitlines()]
    return [r for r in records if split is None or r["split"] == split]
