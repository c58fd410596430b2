"""The load and fault drill at CI size: every message accounted for, nothing recorded twice."""

from __future__ import annotations

import pytest

from bench.load_fault import print_report, run_drill

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_every_message_is_flagged_scored_or_dead_lettered_with_a_reason(model_dir, capsys):
    report = run_drill(
        messages=40,
        accounts=10,
        seed=3,
        model_dir=model_dir,
        # Messages finish a batch (up to ten) at a time: each stretch spans a few batches.
        fault_rate=0.3,
        fault_share=0.25,
        delay_rate=0.3,
        delay_share=0.5,
        log=lambda m: None,
    )
    print_report(report)
    assert report.malformed_sent == 1 and report.duplicates_sent == 1 and report.injected_faults > 0
    assert report.injected_delays > 0  # the endpoint was held past the client's read timeout
    assert report.unaccounted == [] and report.good_in_dlq == [] and report.malformed_not_in_dlq == []
    assert report.dead_lettered == report.dead_lettered_at_once == report.malformed_sent  # at once
    assert set(report.dead_letter_reasons) == {"rejected"}
    assert report.timed_out_invocations == 0 and report.invocation_errors == 0  # no batch lost
    assert report.flagged_messages + report.scored_clean_messages + report.dead_lettered == report.sent
    assert report.duplicate_records == 0 and report.extra_evidence == 0
    assert report.done == report.sent  # each left the queue: scored, or dead-lettered by the function
    assert report.flagged_withdrawals > 0 and report.below_threshold_or_idle > 0
