"""The simulator: seeded, contract 8, and shaped so that a naive threshold fails on ordinary days."""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from datetime import date

from anomalies.simulate import simulate_logs

DAY = date(2026, 11, 24)


def read_day(folder, day=DAY):
    records = []
    for part in sorted((folder / f"day={day}").glob("*.jsonl.gz")):
        with gzip.open(part, "rt") as f:
            records.extend(json.loads(line) for line in f)
    return records


def test_same_seed_same_logs_and_every_record_meets_contract_8(tmp_path):
    a = simulate_logs(tmp_path / "a", days=1, users=300, seed=3, last_day=DAY)
    b = simulate_logs(tmp_path / "b", days=1, users=300, seed=3, last_day=DAY)
    assert a == b and read_day(tmp_path / "a") == read_day(tmp_path / "b")
    records = read_day(tmp_path / "a")
    assert len(records) == a.requests_per_day[f"{DAY}"]
    assert all(
        {"ts", "request_id", "event", "api"} <= r.keys() and r["ts"].startswith(f"{DAY}") for r in records
    )
    assert len({r["request_id"] for r in records}) == len(records)


def test_ordinary_traffic_has_shared_ips_family_devices_two_peaks_and_dominant_builds(tmp_path):
    simulate_logs(tmp_path, days=1, users=3000, seed=5, last_day=DAY, plant=False)
    records = read_day(tmp_path)
    users_by_ip, users_by_device = defaultdict(set), defaultdict(set)
    for r in records:
        if "user_id" in r:
            users_by_ip[r.get("ip")].add(r["user_id"])
            users_by_device[r.get("device_id")].add(r["user_id"])
    crowded_ips = [ip for ip, users in users_by_ip.items() if len(users) >= 100]
    assert len(crowded_ips) >= 3, "carrier NAT and proxy IPs carry hundreds of users"
    shared = Counter(len(u) for u in users_by_device.values())
    assert shared[2] + shared[3] >= 10 and max(shared) <= 4, "family devices: two or three accounts"
    hours = Counter(int(r["ts"][11:13]) for r in records)
    assert hours[9] > 3 * hours[3] and hours[20] > 3 * hours[3] and hours[14] < hours[9]
    agents = Counter(r.get("user_agent") for r in records).most_common()
    assert sum(n for _, n in agents[:3]) > 0.6 * len(records)


def test_the_planted_day_carries_each_anomaly_with_its_ground_truth(tmp_path):
    truth = simulate_logs(tmp_path, days=1, users=500, seed=5, last_day=DAY, targets=["u0000001", "u0000002"])
    kinds = {p.kind: p for p in truth.planted}
    assert set(kinds) == {
        "device_farm",
        "credential_stuffing",
        "scraper",
        "takeover_ring",
        "registration_burst",
    }
    records = read_day(tmp_path)
    stuffing = [r for r in records if r.get("ip") == kinds["credential_stuffing"].keys["ip"]]
    assert len(stuffing) == 1000 and sum(r["status"] == 401 for r in stuffing) > 900
    assert stuffing[-1]["ts"][11:16] < "04:10" and stuffing[0]["ts"][11:16] >= "03:10"
    scraper = kinds["scraper"].keys
    scraped = [r for r in records if r.get("client_id") == scraper["client_id"]]
    assert len(scraped) > 0.10 * len(records) and {r["api"] for r in scraped} == {scraper["api"]}
    assert kinds["takeover_ring"].users == ["u0000001", "u0000002"]
    farm = [r for r in records if r.get("device_id") == kinds["device_farm"].keys["device_id"]]
    assert Counter(r["event"] for r in farm)["order"] == len({r["user_id"] for r in farm}) == 40
