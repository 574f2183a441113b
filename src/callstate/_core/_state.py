"""The call state machine: the one place that says what a call may do.

Everything about statuses lives here, as plain tables: the statuses and their
rank, which of them are final, and the transitions between them, declared once
for ``transitions``. At import, one ``transitions.Machine`` is built from that
declaration (never one per call) and compiled into ``NEXT``, the flat table
the hot path indexes. The diagram is drawn from the same declaration, and a
test proves ``NEXT`` and a live ``Machine`` agree on every (state, trigger)
pair.

Triggers are named by what a piece of evidence says happened; every trigger
leads to the status of the same index (``answer`` leads to ``in-progress``,
``end`` to ``ended``: the call is over and its outcome is not known).

A trigger a state has no transition for is ignored: a late or duplicate piece
of evidence never moves a call backwards. The one conditional transition,
``supersedes``, is the correction of one known final status by another: it
happens only when the new evidence outranks the old (a higher SequenceNumber,
or a reconciliation from the Call resource), and is always reported as an
anomaly.
"""

from __future__ import annotations

import enum
from typing import Any, Final

from transitions import Machine

__all__ = [
    "ANSWER",
    "CANCEL",
    "COMPLETE",
    "COMPLETED_EVENT",
    "END",
    "FINAL_CODES",
    "KNOWN_FINAL_CODES",
    "NEXT",
    "RANK",
    "STATUSES",
    "TRANSITIONS",
    "TRIGGERS",
    "CallStatus",
    "build_machine",
]


class CallStatus(enum.StrEnum):
    """The status callstate derives for a call.

    ``ENDED`` is final: the call is over, but nobody has said how it ended
    (a Restcomm ``completed`` that followed no ``answered``). Reconciling
    from the Call resource refines it to the true outcome.
    """

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    ENDED = "ended"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        """True for a status that never goes back to a live one."""
        return _CODE[self] in FINAL_CODES

    @property
    def rank(self) -> int:
        """0 queued, 1 initiated, 2 ringing, 3 in-progress, 4 any final status."""
        return RANK[_CODE[self]]


#: The statuses in code order: a status's code is its index here.
STATUSES: Final = tuple(CallStatus)
_CODE: Final = {status: code for code, status in enumerate(STATUSES)}

#: Rank by code: what "later" means. All final statuses share the top rank.
RANK: Final = (0, 1, 2, 3, 4, 4, 4, 4, 4, 4)
FINAL_CODES: Final = frozenset(code for code, rank in enumerate(RANK) if rank == 4)
#: Final statuses whose outcome is known (every final one but ``ended``).
KNOWN_FINAL_CODES: Final = FINAL_CODES - {4}

#: Trigger names by code; trigger ``i`` leads to status ``i``.
TRIGGERS: Final = (
    "queue",
    "initiate",
    "ring",
    "answer",
    "end",
    "complete",
    "busy",
    "fail",
    "no_answer",
    "cancel",
)
ANSWER: Final = 3
END: Final = 4
COMPLETE: Final = 5
CANCEL: Final = 9
#: Not a trigger of the machine: a ``completed`` event whose meaning (answered
#: then ended, or ended with the outcome unknown) depends on what else is known.
COMPLETED_EVENT: Final = 10

_LIVE = [s.value for s in STATUSES if RANK[_CODE[s]] < 4]
_KNOWN_FINAL = [STATUSES[c].value for c in sorted(KNOWN_FINAL_CODES)]


def _declare() -> list[dict[str, object]]:
    """The transitions, in the declarative form ``transitions`` takes."""
    declared: list[dict[str, object]] = []
    for code, trigger in enumerate(TRIGGERS):
        dest = STATUSES[code].value
        # Progress: a live call moves to any live status of higher rank and to
        # any final status.
        sources = [s for s in _LIVE if RANK[code] > RANK[_CODE[CallStatus(s)]]]
        if sources:
            declared.append({"trigger": trigger, "source": sources, "dest": dest})
        if code in KNOWN_FINAL_CODES:
            # Refinement: an ended call whose outcome becomes known.
            declared.append({"trigger": trigger, "source": "ended", "dest": dest})
            # Correction: better evidence replaces a known final status.
            others = [s for s in _KNOWN_FINAL if s != dest]
            declared.append(
                {
                    "trigger": trigger,
                    "source": others,
                    "dest": dest,
                    "conditions": "supersedes",
                }
            )
    # An ended call shown to have been answered was a completed call.
    declared.append({"trigger": "answer", "source": "ended", "dest": "completed"})
    return declared


#: The one definition of the machine's transitions.
TRANSITIONS: Final = tuple(_declare())


def build_machine(
    model: object = None, machine: type[Machine] = Machine, **options: Any
) -> Machine:
    """A ``transitions`` machine from the one definition (for tests and diagrams)."""
    return machine(
        model=model,
        states=[s.value for s in STATUSES],
        transitions=[dict(t) for t in TRANSITIONS],
        initial="queued",
        auto_transitions=False,
        **options,
    )


# Entries of NEXT: the destination code, or -1 - dest for a transition that
# needs "supersedes", or the source itself where the trigger is ignored.
def _compile() -> tuple[int, ...]:
    machine = build_machine(ignore_invalid_triggers=True)
    width = len(TRIGGERS)
    table = []
    for source in STATUSES:
        for trigger in TRIGGERS:
            event = machine.events.get(trigger)
            found = [] if event is None else event.transitions.get(source.value, [])
            if not found:
                table.append(_CODE[source])
                continue
            (transition,) = found
            dest = _CODE[CallStatus(str(transition.dest))]
            table.append(-1 - dest if transition.conditions else dest)
    assert len(table) == len(STATUSES) * width
    return tuple(table)


#: ``NEXT[status_code * 10 + trigger_code]``: compiled from the machine once.
NEXT: Final = _compile()
