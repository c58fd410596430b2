# Over 400 lines: the ordinary traffic and the five planted anomalies belong together.
"""A seeded request-log simulator (contract 8): an exchange's ordinary traffic plus planted anomalies.

Ordinary traffic is built so that a naive rule fails on it: users follow a two-peak daily rhythm
with one to three devices each, some devices are shared by a family's two or three accounts,
carrier-NAT and corporate-proxy IPs carry hundreds of users every day, and a handful of app builds
and browsers hold most of the traffic. On the planted day it adds, with ground truth: a device
farm, credential stuffing, a scraper, an account-takeover ring and a registration burst.

Output: `<out>/day=YYYY-MM-DD/part-NNNNN.jsonl.gz`, one JSON object per line, and
`<out>/ground_truth.json` describing what was planted and where.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import numpy as np

API = {
    "login": "/apis/reglogin/login.action",
    "register": "/apis/reglogin/register.action",
    "order": "/apis/trade/order.action",
    "withdraw": "/apis/wallet/withdraw.action",
}
QUERY_APIS = (
    "/apis/market/ticker.action",
    "/apis/market/kline.action",
    "/apis/account/balance.action",
    "/apis/market/depth.action",
)
QUERY_WEIGHTS = (0.4, 0.25, 0.2, 0.15)

# (platform, client_id, share of users, [(user agent, share within the platform)]): a few builds
# and browsers hold most of the traffic, as on any exchange.
PLATFORMS: tuple[tuple[str, str, float, tuple[tuple[str, float], ...]], ...] = (
    (
        "ios",
        "ios-app",
        0.45,
        (
            ("ExchangeApp/5.12.1 (iPhone; iOS 18.1; Scale/3.00)", 0.8),
            ("ExchangeApp/5.11.0 (iPhone; iOS 17.6; Scale/3.00)", 0.15),
            ("ExchangeApp/5.10.3 (iPad; iOS 17.2; Scale/2.00)", 0.05),
        ),
    ),
    (
        "android",
        "android-app",
        0.35,
        (
            ("okhttp/4.12.0 ExchangeApp/5.12.0 (Android 14)", 0.75),
            ("okhttp/4.11.0 ExchangeApp/5.11.2 (Android 13)", 0.25),
        ),
    ),
    (
        "web",
        "web",
        0.2,
        (
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/131.0.0.0 Safari/537.36",
                0.6,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                "Version/18.1 Safari/605.1.15",
                0.25,
            ),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", 0.15),
        ),
    ),
)
WEB_REFERERS = ("https://www.exchange.example/trade", "https://www.exchange.example/markets")
STUFFING_UA = "python-requests/2.31.0"
SCRAPER_UA = "Go-http-client/1.1"
KINDS = ("device_farm", "credential_stuffing", "scraper", "takeover_ring", "registration_burst")


@dataclass(frozen=True)
class Planted:
    """One planted anomaly: what it is, the keys that carry it, and when (ground truth)."""

    kind: str
    day: str
    start: str
    end: str
    keys: dict[str, str]
    users: list[str]
    requests: int


@dataclass
class GroundTruth:
    days: list[str]
    planted_day: Optional[str]
    requests_per_day: dict[str, int] = field(default_factory=dict)
    planted: list[Planted] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _User:
    user_id: str
    devices: tuple[str, ...]
    platform: int
    user_agent: str
    network: str  # "nat", "proxy" or "home"
    ip: str


def _token(*parts: object, length: int = 12) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:length]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Population:
    """The exchange's users, their devices, networks and clients; stable across the week."""

    def __init__(self, users: int, seed: int) -> None:
        rng = np.random.default_rng([seed, 1])
        self.seed = seed
        nat_ips = [f"100.64.{i // 250}.{i % 250 + 1}" for i in range(max(2, users // 1000))]
        proxy_ips = [f"198.51.100.{i + 10}" for i in range(max(1, users // 1500))]
        platform_shares = np.array([p[2] for p in PLATFORMS])
        self.users: list[_User] = []
        for index in range(users):
            user_id = f"u{index:07d}"
            count = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
            devices = tuple(f"dev-{_token(seed, user_id, d)}" for d in range(count))
            platform = int(rng.choice(len(PLATFORMS), p=platform_shares))
            agents = PLATFORMS[platform][3]
            agent = agents[int(rng.choice(len(agents), p=[a[1] for a in agents]))][0]
            draw = rng.random()
            if draw < 0.35:
                network, ip = "nat", nat_ips[int(rng.integers(len(nat_ips)))]
            elif draw < 0.45:
                network, ip = "proxy", proxy_ips[int(rng.integers(len(proxy_ips)))]
            else:
                network, ip = (
                    "home",
                    f"{int(rng.integers(11, 220))}.{int(rng.integers(256))}.{int(rng.integers(256))}.{int(rng.integers(1, 255))}",
                )
            self.users.append(_User(user_id, devices, platform, agent, network, ip))
        # Families: a few accounts use a relative's phone as well as their own.
        for _ in range(max(1, users // 40)):
            owner = int(rng.integers(users))
            for relative in rng.integers(users, size=int(rng.integers(1, 3))):
                u = self.users[int(relative)]
                self.users[int(relative)] = _User(
                    u.user_id,
                    (*u.devices, self.users[owner].devices[0]),
                    u.platform,
                    u.user_agent,
                    u.network,
                    u.ip,
                )
        self.nat_ips, self.proxy_ips = nat_ips, proxy_ips


def _record(
    moment: datetime,
    event: str,
    user: Optional[_User],
    *,
    rid: str,
    api: Optional[str] = None,
    user_id: Optional[str] = None,
    device: Optional[str] = None,
    ip: Optional[str] = None,
    user_agent: Optional[str] = None,
    client_id: Optional[str] = None,
    status: int = 200,
) -> dict[str, Any]:
    record: dict[str, Any] = {"ts": _iso(moment), "request_id": rid, "event": event, "api": api or API[event]}
    uid = user_id if user_id is not None else (user.user_id if user else None)
    if uid is not None:
        record["user_id"] = uid
    if device or user:
        record["device_id"] = device or (user.devices[0] if user else None)
    if ip or user:
        record["ip"] = ip or (user.ip if user else None)
    agent = user_agent or (user.user_agent if user else None)
    if agent:
        record["user_agent"] = agent
    cid = client_id or (PLATFORMS[user.platform][1] if user else None)
    if cid:
        record["client_id"] = cid
    if user is not None and PLATFORMS[user.platform][0] == "web" and not user_agent:
        record["referer"] = WEB_REFERERS[int(rid[-1]) % 2]
    record["status"] = status
    if event == "order":
        record["order_id"] = f"o-{rid}"
    return record


def _session_start(rng: np.random.Generator, midnight: datetime) -> datetime:
    """The two daily peaks (morning and evening, UTC) over a low floor."""
    draw = rng.random()
    if draw < 0.45:
        hours = rng.normal(9.5, 1.5)
    elif draw < 0.9:
        hours = rng.normal(20.5, 1.6)
    else:
        hours = rng.uniform(0, 24)
    return midnight + timedelta(seconds=float(np.clip(hours, 0, 23.9) * 3600))


def _ordinary_day(
    pop: _Population, day: date, rng: np.random.Generator, new_users: int
) -> Iterator[dict[str, Any]]:
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    weekend = day.weekday() >= 5
    seq = 0

    def rid() -> str:
        nonlocal seq
        seq += 1
        return f"{day:%Y%m%d}-{seq:09d}"

    active_p = 0.5 if weekend else 0.6
    for user in pop.users:
        if rng.random() >= active_p:
            continue
        ip = user.ip
        if user.network == "proxy" and weekend:
            ip = f"{int(rng.integers(11, 220))}.{int(rng.integers(256))}.{int(rng.integers(256))}.7"
        for _ in range(1 + int(rng.poisson(0.6))):
            start = _session_start(rng, midnight)
            device = user.devices[int(rng.integers(len(user.devices)))]
            kw: dict[str, Any] = {"device": device, "ip": ip}
            if rng.random() < 0.04:  # a mistyped password first
                yield _record(start, "login", user, rid=rid(), status=401, **kw)
            yield _record(start + timedelta(seconds=2), "login", user, rid=rid(), **kw)
            moment = start + timedelta(seconds=3)
            for _ in range(1 + int(rng.poisson(7))):
                moment += timedelta(seconds=float(rng.exponential(60)))
                api = QUERY_APIS[int(rng.choice(4, p=QUERY_WEIGHTS))]
                yield _record(moment, "query", user, rid=rid(), api=api, **kw)
            if rng.random() < 0.35:
                for _ in range(1 + int(rng.random() < 0.3)):
                    moment += timedelta(seconds=float(rng.exponential(30)))
                    yield _record(moment, "order", user, rid=rid(), **kw)
            if rng.random() < 0.02:
                yield _record(moment + timedelta(seconds=20), "withdraw", user, rid=rid(), **kw)
    # A steady trickle of sign-ups over the day.
    for k in range(new_users):
        user = pop.users[int(rng.integers(len(pop.users)))]
        uid = f"n{day:%Y%m%d}{k:05d}"
        start = _session_start(rng, midnight)
        kw = {"device": f"dev-{_token(pop.seed, uid)}", "ip": user.ip}
        yield _record(start, "register", user, rid=rid(), user_id=uid, **kw)
        yield _record(start + timedelta(seconds=5), "login", user, rid=rid(), user_id=uid, **kw)
        yield _record(
            start + timedelta(seconds=9), "query", user, rid=rid(), user_id=uid, api=QUERY_APIS[0], **kw
        )


def _planted_day(
    pop: _Population, day: date, rng: np.random.Generator, ordinary: int, targets: Sequence[str]
) -> tuple[list[dict[str, Any]], list[Planted]]:
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    out: list[dict[str, Any]] = []
    truth: list[Planted] = []
    seq = 0

    def rid(kind: str) -> str:
        nonlocal seq
        seq += 1
        return f"{day:%Y%m%d}-{kind}-{seq:07d}"

    def plant(kind: str, records: list[dict[str, Any]], keys: dict[str, str]) -> None:
        stamps = sorted(r["ts"] for r in records)
        users = sorted({r["user_id"] for r in records if "user_id" in r})
        truth.append(Planted(kind, f"{day}", stamps[0], stamps[-1], keys, users, len(records)))
        out.extend(records)

    template = pop.users[0]
    # Device farm: one phone, tens of fresh accounts, one order each.
    farm_device, farm_ip = f"dev-farm-{_token(pop.seed, day, 'farm')}", "203.0.113.45"
    records = []
    moment = midnight + timedelta(hours=14)
    for k in range(40):
        uid = f"f{day:%Y%m%d}{k:03d}"
        for event in ("register", "login", "order"):
            moment += timedelta(seconds=float(rng.uniform(5, 40)))
            records.append(
                _record(moment, event, template, rid=rid("farm"), user_id=uid, device=farm_device, ip=farm_ip)
            )
    plant("device_farm", records, {"device_id": farm_device})

    # Credential stuffing: one IP and a script's user agent, ~1,000 logins in under an hour.
    stuff_ip = "45.155.205.99"
    records = []
    start = midnight + timedelta(hours=3, minutes=10)
    for k in range(1000):
        victim = pop.users[int(rng.integers(len(pop.users)))].user_id
        moment = start + timedelta(seconds=k * 3.2 + float(rng.uniform(0, 1)))
        status = 200 if rng.random() < 0.02 else 401
        records.append(
            _record(
                moment,
                "login",
                None,
                rid=rid("stuff"),
                user_id=victim,
                device=None,
                ip=stuff_ip,
                user_agent=STUFFING_UA,
                client_id="web",
                status=status,
            )
        )
    plant("credential_stuffing", records, {"ip": stuff_ip, "user_agent": STUFFING_UA})

    # Account-takeover ring: a few devices and one IP log into many existing accounts, then withdraw.
    ring_ip = "91.240.118.7"
    ring_devices = [f"dev-ring-{_token(pop.seed, 'ring', d)}" for d in range(3)]
    victims = list(targets) or [
        pop.users[int(i)].user_id for i in rng.choice(len(pop.users), 30, replace=False)
    ]
    records = []
    moment = midnight + timedelta(hours=1, minutes=30)
    for k, victim in enumerate(victims):
        device = ring_devices[k % len(ring_devices)]
        for event in ("login", "query", "withdraw"):
            moment += timedelta(seconds=float(rng.uniform(10, 60)))
            api = QUERY_APIS[2] if event == "query" else None
            records.append(
                _record(
                    moment,
                    event,
                    template,
                    rid=rid("ring"),
                    api=api,
                    user_id=victim,
                    device=device,
                    ip=ring_ip,
                )
            )
    plant("takeover_ring", records, {"ip": ring_ip})

    # Registration burst: 300 sign-ups in 20 minutes from many devices and addresses.
    records = []
    start = midnight + timedelta(hours=16, minutes=5)
    for k in range(300):
        uid = f"b{day:%Y%m%d}{k:04d}"
        moment = start + timedelta(seconds=float(rng.uniform(0, 1200)))
        records.append(
            _record(
                moment,
                "register",
                template,
                rid=rid("burst"),
                user_id=uid,
                device=f"dev-{_token(pop.seed, uid)}",
                ip=f"203.0.113.{int(rng.integers(60, 250))}",
            )
        )
    plant("registration_burst", records, {"metric": "registrations"})
    # Scraper: one client id and IP on one API, over 10% of the day's requests.
    scraper_ip, scraper_client = "185.220.101.33", f"cli-{_token(pop.seed, 'scraper', length=8)}"
    count = int((ordinary + len(out)) * 0.12 / 0.88)  # 12% of the whole day
    records = [
        _record(
            midnight + timedelta(seconds=float(s)),
            "query",
            None,
            rid=rid("scrape"),
            api=QUERY_APIS[3],
            device=None,
            ip=scraper_ip,
            user_agent=SCRAPER_UA,
            client_id=scraper_client,
        )
        for s in np.sort(rng.uniform(0, 86_399, size=count))
    ]
    plant("scraper", records, {"client_id": scraper_client, "ip": scraper_ip, "api": QUERY_APIS[3]})

    return out, truth


class _DayWriter:
    """Streams one day's records into gzip JSON Lines parts (several, so Spark reads them in parallel)."""

    def __init__(self, folder: Path, lines_per_file: int) -> None:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        self.folder, self.lines_per_file, self.count = folder, lines_per_file, 0
        self._file: Optional[Any] = None

    def write(self, record: dict[str, Any]) -> None:
        if self.count % self.lines_per_file == 0:
            self.close()
            name = f"part-{self.count // self.lines_per_file:05d}.jsonl.gz"
            self._file = gzip.open(self.folder / name, "wt", compresslevel=1, encoding="utf-8")  # noqa: SIM115 (closed by close())
        assert self._file is not None
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def write_day(
    out_dir: Path, day: str, records: Iterable[dict[str, Any]], *, lines_per_file: int = 250_000
) -> Path:
    """Write one day's records under out_dir/day=<day>/ (an empty day is an empty part)."""
    writer = _DayWriter(out_dir / f"day={day}", lines_per_file)
    for record in records:
        writer.write(record)
    if writer.count == 0:
        gzip.open(writer.folder / "part-00000.jsonl.gz", "wt").close()
    writer.close()
    return writer.folder


def simulate_logs(
    out_dir: Path,
    *,
    days: int = 7,
    users: int = 3000,
    seed: int = 7,
    last_day: Optional[date] = None,
    plant: bool = True,
    targets: Sequence[str] = (),
    lines_per_file: int = 250_000,
) -> GroundTruth:
    """Simulate `days` days ending on `last_day` (default: yesterday, UTC); plant on the last day.

    `targets`: accounts the takeover ring logs into (e.g. the chart demo's victims); by default
    30 existing users picked at random.
    """
    last = last_day or (datetime.now(timezone.utc).date() - timedelta(days=1))
    day_list = [last - timedelta(days=days - 1 - i) for i in range(days)]
    pop = _Population(users, seed)
    truth = GroundTruth(days=[f"{d}" for d in day_list], planted_day=f"{last}" if plant else None)
    out_dir.mkdir(parents=True, exist_ok=True)
    for d in day_list:
        rng = np.random.default_rng([seed, d.toordinal()])
        # Sessions late in the evening run past midnight; those requests belong to the next day.
        end = _iso(datetime(d.year, d.month, d.day, tzinfo=timezone.utc) + timedelta(days=1))
        writer = _DayWriter(out_dir / f"day={d}", lines_per_file)
        for record in _ordinary_day(pop, d, rng, new_users=max(1, users // 250)):
            if record["ts"] < end:
                writer.write(record)
        if plant and d == last:
            extra, planted = _planted_day(pop, d, rng, writer.count, targets)
            for record in extra:
                writer.write(record)
            truth.planted.extend(planted)
        writer.close()
        truth.requests_per_day[f"{d}"] = writer.count
    (out_dir / "ground_truth.json").write_text(json.dumps(truth.to_json(), indent=2) + "\n")
    return truth
