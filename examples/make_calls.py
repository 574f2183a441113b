"""Regenerate calls.jsonl: a few calls as a chaotic network delivers them."""

# Run: python examples/make_calls.py > examples/calls.jsonl
import json
import random
from urllib.parse import urlencode

rng = random.Random(7)
lines = []


def cb(sid, status, seq, ts, duration=None, **extra):
    params = {
        "AccountSid": "AC0f3c5b7e9d1a2b4c6d8e0f1a3b5c7d9e",
        "CallSid": sid,
        "CallStatus": status,
        "SequenceNumber": str(seq),
        "Timestamp": ts,
        "From": "+14155550100",
        "To": "+14155550199",
        "Direction": "outbound-api",
        "CallbackSource": "call-progress-events",
    }
    if duration is not None:
        params["CallDuration"] = str(duration)
    params.update(extra)
    return params


# 1. Twilio style, answered; deliveries reordered and one duplicated.
a = "CA" + "a" * 32
calls = [
    cb(a, "initiated", 0, "Tue, 24 Nov 2026 10:15:30 +0000"),
    cb(a, "ringing", 1, "Tue, 24 Nov 2026 10:15:31 +0000"),
    cb(a, "in-progress", 2, "Tue, 24 Nov 2026 10:15:40 +0000"),
    cb(a, "completed", 3, "Tue, 24 Nov 2026 10:17:40 +0000", 120),
]
order = [0, 2, 1, 3, 3]
for i, k in enumerate(order):
    lines.append({"params": calls[k], "received_at": f"2026-11-24T10:18:0{i}+00:00"})
# 2. Restcomm style, unanswered: completed with no answer, zone name timestamp.
b = "CA" + "b" * 32
lines.append(
    {
        "body": urlencode(cb(b, "completed", 3, "Tue, 24 Nov 2026 05:20:00 America/New_York", 0)),
        "received_at": "2026-11-24T10:20:01+00:00",
    }
)
lines.append(
    {
        "body": urlencode(cb(b, "ringing", 1, "Tue, 24 Nov 2026 05:19:30 America/New_York")),
        "received_at": "2026-11-24T10:20:02+00:00",
    }
)
# ... later reconciled from the Call resource: it was busy.
lines.append(
    {
        "resource": {
            "sid": b,
            "status": "BUSY",
            "date_updated": "Tue, 24 Nov 2026 10:20:05 +0000",
            "end_time": "2026-11-24T10:20:00+00:00",
            "duration": "0",
            "price": "null",
        },
        "observed_at": "2026-11-24T10:25:00+00:00",
    }
)
# 3. A call stuck in ringing: its final callback was lost.
c = "CA" + "c" * 32
lines.append(
    {
        "params": cb(c, "ringing", 1, "Tue, 24 Nov 2026 09:00:00 +0000"),
        "received_at": "2026-11-24T09:00:01+00:00",
    }
)
# 4. Conflicting finals: no-answer, then completed with a higher SequenceNumber.
d = "CA" + "d" * 32
lines.append({"params": cb(d, "completed", 4, "Tue, 24 Nov 2026 10:30:09 +0000", 5)})
lines.append({"params": cb(d, "no-answer", 3, "Tue, 24 Nov 2026 10:30:05 +0000", 0)})
# 5. Bad lines: rejected with the field and the reason, the rest still applied.
lines.append({"params": cb(d, "ringing", "x1", "Tue, 24 Nov 2026 10:30:00 +0000")})
lines.append({"body": "CallSid=CA1&CallStatus=ringing&CallStatus=busy&SequenceNumber=1"})

for line in lines:
    print(json.dumps(line))
