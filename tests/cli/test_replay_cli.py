"""``callstate replay``, black box: a real process, real files, stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "calls.jsonl"


def replay(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callstate", "replay", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_bundled_example():
    result = replay(str(EXAMPLE), "--now", "2026-11-24T18:00:00+00:00")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    calls = report["calls"]
    a, b, c, d = (calls["CA" + ch * 32] for ch in "abcd")
    assert (a["status"], a["deliveries"], a["duplicates"]) == ("completed", 4, 1)
    assert list(a["timeline"]) == ["initiated", "ringing", "in-progress", "completed"]
    assert b["status"] == "busy"  # ended (unknown), then reconciled
    assert b["outcome_known"]
    assert c["status"] == "ringing"
    assert c["needs_reconciliation"]  # stuck in ringing, past the horizon
    assert d["status"] == "completed"
    assert d["anomalies"][0]["kind"] == "conflicting_final"
    assert [r["line"] for r in report["rejected"]] == [12, 13, 14]
    assert report["rejected"][0]["error"].startswith("SequenceNumber:")


def test_without_now_nothing_is_overdue_but_unknown_outcomes_are_flagged():
    line = json.dumps(
        {
            "params": {
                "CallSid": "CA1",
                "CallStatus": "completed",
                "SequenceNumber": "3",
                "CallDuration": "0",
            }
        }
    )
    result = replay("-", stdin=line + "\n")
    assert result.returncode == 0
    call = json.loads(result.stdout)["calls"]["CA1"]
    assert call["status"] == "ended"
    assert call["final"]
    assert not call["outcome_known"]
    assert call["needs_reconciliation"]


def test_a_null_in_a_params_line_is_an_absent_field():
    # As Twilio's JSON writes them: null where a value is missing; numbers as numbers.
    params = {
        "CallSid": "CA1",
        "CallStatus": "busy",
        "SequenceNumber": 3,
        "CallDuration": 0,
        "Timestamp": None,
        "ForwardedFrom": None,
        "CallerName": None,
        "ParentCallSid": None,
        "Price": 0.5,
        "SipHeaders": {"X-Tag": "a"},
        "Flags": [True, None],
    }
    result = replay("-", stdin=json.dumps({"params": params}) + "\n")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rejected"] == []
    assert report["calls"]["CA1"]["status"] == "busy"
    # Only the fields the core reads refuse a line.
    for bad in ({**params, "SequenceNumber": None}, {**params, "CallDuration": 1.5}):
        result = replay("-", stdin=json.dumps({"params": bad}) + "\n")
        (rejected,) = json.loads(result.stdout)["rejected"]
        assert rejected["error"].startswith(("SequenceNumber: is missing", "CallDuration: must"))


def test_dialect_changes_the_reading_of_completed():
    line = json.dumps({"body": "CallSid=CA1&CallStatus=completed&SequenceNumber=3&CallDuration=0"})
    twilio = json.loads(replay("-", "--dialect", "twilio", stdin=line).stdout)
    assert twilio["calls"]["CA1"]["status"] == "completed"
    restcomm = json.loads(replay("-", "--dialect", "restcomm", stdin=line).stdout)
    assert restcomm["calls"]["CA1"]["status"] == "ended"


def test_bad_lines_are_rejected_and_the_rest_applied(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [
                '{"params": {"CallSid": "CA1", "CallStatus": "ringing", "SequenceNumber": "1"}}',
                "[1, 2]",
                '{"params": {}, "body": ""}',
                '{"resource": {"sid": "CA1"}}',
                '{"params": {"CallSid": "CA1", "CallStatus": "busy", "SequenceNumber": "3"},'
                ' "received_at": "yesterday"}',
                '{"params": {"CallSid": "CA1", "CallStatus": "busy", "SequenceNumber": "3"}}',
            ]
        )
        + "\n"
    )
    result = replay(str(path))
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["calls"]["CA1"]["status"] == "busy"
    assert [(r["line"], r["error"].split(":")[0]) for r in report["rejected"]] == [
        (2, "line"),
        (3, "line"),
        (4, "status"),
        (5, "received_at"),
    ]


def test_unusable_arguments_exit_2(tmp_path):
    assert replay(str(tmp_path / "missing.jsonl")).returncode == 2
    assert replay(str(EXAMPLE), "--now", "tomorrow").returncode == 2
    assert replay(str(EXAMPLE), "--now", "2026-11-24T18:00:00").returncode == 2
    assert replay(str(EXAMPLE), "--dialect", "klingon").returncode == 2
    assert replay(str(tmp_path)).returncode == 2  # a directory


RINGING = '{"params": {"CallSid": "CA1", "CallStatus": "ringing", "SequenceNumber": "1"}}'


def test_placement_and_reconciliation_request_lines_are_applied():
    lines = [
        '{"registered": {"call_sid": "CA1", "placed_at": "2026-11-24T17:00:00+00:00",'
        ' "ring_timeout": 30}}',
        RINGING,
        '{"reconciliation_requested": {"call_sid": "CA1", "at": "2026-11-24T18:00:00+00:00"}}',
        '{"registered": {"call_sid": "CA2", "placed_at": "2026-11-24T17:00:00Z"}}',
    ]
    result = replay("-", stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rejected"] == []
    # Without --now nothing is overdue: the request line is what flags CA1.
    assert report["calls"]["CA1"]["needs_reconciliation"]
    assert not json.loads(replay("-", stdin=RINGING + "\n").stdout)["calls"]["CA1"][
        "needs_reconciliation"
    ]
    assert report["calls"]["CA2"]["status"] == "queued"  # placed, nothing heard yet


def test_bad_placement_and_request_lines_name_the_field(tmp_path):
    placed = '"placed_at": "2026-11-24T17:00:00+00:00"'
    bad = [
        ('{"registered": "CA1"}', "registered"),
        ('{"registered": {"placed_at": "2026-11-24T17:00:00+00:00"}}', "registered.call_sid"),
        ('{"registered": {"call_sid": 7, ' + placed + "}}", "registered.call_sid"),
        ('{"registered": {"call_sid": "CA1"}}', "registered.placed_at"),
        ('{"registered": {"call_sid": "CA1", "placed_at": "noon"}}', "registered.placed_at"),
        (
            '{"registered": {"call_sid": "CA1", "placed_at": "2026-11-24T17:00:00"}}',
            "registered.placed_at",
        ),
        (
            '{"registered": {"call_sid": "CA1", ' + placed + ', "ring_timeout": -1}}',
            "registered.ring_timeout",
        ),
        (
            '{"registered": {"call_sid": "CA1", ' + placed + ', "ring_timeout": "30"}}',
            "registered.ring_timeout",
        ),
        (
            '{"registered": {"call_sid": "CA1", ' + placed + ', "ring_timeout": true}}',
            "registered.ring_timeout",
        ),
        (
            '{"registered": {"call_sid": "CA1", ' + placed + ', "ring_timeout": 1e300}}',
            "registered.ring_timeout",
        ),
        (
            '{"registered": {"call_sid": "CA1", ' + placed + ', "timeout": 30}}',
            "registered.timeout",
        ),
        ('{"reconciliation_requested": []}', "reconciliation_requested"),
        ('{"reconciliation_requested": {"call_sid": "CA1"}}', "reconciliation_requested.at"),
        (
            '{"reconciliation_requested": {"call_sid": "", "at": "2026-11-24T17:00:00Z"}}',
            "reconciliation_requested.call_sid",
        ),
        (
            '{"reconciliation_requested": {"call_sid": "CA1", "at": 5}}',
            "reconciliation_requested.at",
        ),
        ('{"registered": {}, "reconciliation_requested": {}}', "line"),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([RINGING] + [line for line, _ in bad]) + "\n")
    for store in ([], ["--store", str(tmp_path / "calls.sqlite")]):
        result = replay(str(path), *store)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["calls"]["CA1"]["status"] == "ringing"
        assert [(r["line"], r["error"].split(":")[0]) for r in report["rejected"]] == [
            (number, field) for number, (_, field) in enumerate(bad, start=2)
        ]
