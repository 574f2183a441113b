"""The call state machine: everything that decides what a call may do, in this one file.

As in h11's ``_state.py``, the rules are plain tables, read from top to bottom:

1. ``CallStatus``: the statuses, their rank (what "later" means) and which are final.
2. ``Trigger``: what a piece of evidence says happened. Trigger ``i`` leads to
   status ``i`` (``ANSWER`` to ``in-progress``, ``END`` to ``ended``: the call
   is over and its outcome is not known).
3. ``TRIGGER_OF``: which trigger each reported ``CallStatus`` value is, in both
   vocabularies (Twilio statuses, Restcomm event names).
4. ``TRANSITIONS``: the machine itself, written out row by row. This literal
   table is what ``transitions.Machine`` is built from (``build_machine``) and
   what the docs' diagram draws; a (status, trigger) pair it does not list is
   ignored: late or repeated evidence never moves a call backwards.
5. What does not fit a table, as code, here too: the ``completed`` event's two
   meanings (``read_completed``, ``completed_as``), the machine's one
   condition, ``supersedes``, and ``resolve``: the status that all of a
   call's evidence says, which is always a move the table allows.
6. ``NEXT``: the table compiled once at import from one
   ``transitions.Machine`` (never one per call), read as
   ``NEXT[status][trigger]``, and ``NEXT_SUPERSEDING``, the same where the
   condition holds. A test proves they agree with a live ``Machine`` on every
   (status, trigger, condition).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, Final

from transitions import Machine

__all__ = [
    "FINAL_CODES",
    "NEXT",
    "NEXT_SUPERSEDING",
    "RANK",
    "STATUSES",
    "TRANSITIONS",
    "TRIGGERS",
    "TRIGGER_OF",
    "CallStatus",
    "Claim",
    "Dialect",
    "Trigger",
    "build_machine",
    "claimed_status",
    "completed_as",
    "read_completed",
    "resolve",
    "supersedes",
]


# 1. The statuses.


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


# 2. The triggers.


class Trigger(enum.IntEnum):
    """What a piece of evidence says happened: trigger ``i`` leads to status ``i``."""

    QUEUE = 0
    INITIATE = 1
    RING = 2
    ANSWER = 3
    END = 4
    COMPLETE = 5
    BUSY = 6
    FAIL = 7
    NO_ANSWER = 8
    CANCEL = 9
    #: Not a trigger of the machine: a ``completed`` event whose meaning
    #: (answered then ended, or ended with the outcome unknown) depends on what
    #: else is known. ``completed_as`` reads it.
    COMPLETED_EVENT = 10


#: The machine's trigger names, by code (``Trigger.COMPLETED_EVENT`` is none).
TRIGGERS: Final = tuple(t.name.lower() for t in Trigger if t is not Trigger.COMPLETED_EVENT)

# The codes the rules below work with, as plain ints: reading an enum member's
# ``value`` is a property call, and a plain int takes the interpreter's fast paths.
_QUEUE: Final = int(Trigger.QUEUE)
_ANSWER: Final = int(Trigger.ANSWER)
_END: Final = int(Trigger.END)
_COMPLETE: Final = int(Trigger.COMPLETE)
_COMPLETED_EVENT: Final = int(Trigger.COMPLETED_EVENT)


# 3. What each reported value is evidence of.

#: The trigger of each ``CallStatus`` value a status callback may report.
TRIGGER_OF: Final[dict[str, Trigger]] = {
    "queued": Trigger.QUEUE,
    "initiated": Trigger.INITIATE,
    "ringing": Trigger.RING,
    "in-progress": Trigger.ANSWER,  # Twilio's name for the answered event
    "answered": Trigger.ANSWER,  # Restcomm's
    "completed": Trigger.COMPLETED_EVENT,  # read by read_completed, then completed_as
    "busy": Trigger.BUSY,
    "failed": Trigger.FAIL,
    "no-answer": Trigger.NO_ANSWER,
    "canceled": Trigger.CANCEL,
}


# 4. The transitions.

#: The machine, one row a line: trigger, the statuses it moves a call from, the
#: status it moves it to, and the condition, if any. Handed as it stands to
#: ``transitions.Machine``. ``queue`` has no row: a call is queued from the start.
TRANSITIONS: Final = (
    # Progress: a live call moves to a live status of higher rank,
    ("initiate",  ("queued",),                                                "initiated"),
    ("ring",      ("queued", "initiated"),                                    "ringing"),
    ("answer",    ("queued", "initiated", "ringing"),                         "in-progress"),
    # or to any final status; and an ended call to its outcome, once that is known.
    ("end",       ("queued", "initiated", "ringing", "in-progress"),          "ended"),
    ("complete",  ("queued", "initiated", "ringing", "in-progress", "ended"), "completed"),
    ("busy",      ("queued", "initiated", "ringing", "in-progress", "ended"), "busy"),
    ("fail",      ("queued", "initiated", "ringing", "in-progress", "ended"), "failed"),
    ("no_answer", ("queued", "initiated", "ringing", "in-progress", "ended"), "no-answer"),
    ("cancel",    ("queued", "initiated", "ringing", "in-progress", "ended"), "canceled"),
    # An ended call shown to have been answered was a completed call.
    ("answer",    ("ended",),                                                 "completed"),
    # Correction: a known final status replaced by evidence that supersedes it
    # (the change is reported as an anomaly).
    ("complete",  ("busy", "failed", "no-answer", "canceled"),      "completed", "supersedes"),
    ("busy",      ("completed", "failed", "no-answer", "canceled"), "busy",      "supersedes"),
    ("fail",      ("completed", "busy", "no-answer", "canceled"),   "failed",    "supersedes"),
    ("no_answer", ("completed", "busy", "failed", "canceled"),      "no-answer", "supersedes"),
    ("cancel",    ("completed", "busy", "failed", "no-answer"),     "canceled",  "supersedes"),
)  # fmt: skip


def build_machine(
    model: object = None, machine: type[Machine] = Machine, **options: Any
) -> Machine:
    """A ``transitions`` machine of ``TRANSITIONS`` (for tests and diagrams)."""
    return machine(
        model=model,
        states=[s.value for s in STATUSES],
        transitions=[list(row) for row in TRANSITIONS],
        initial="queued",
        auto_transitions=False,  # pragma: no mutate (None is False to transitions: equivalent)
        **options,
    )


# 5. The rules that do not fit a table.


class Dialect(enum.StrEnum):
    """How to read ``CallStatus`` in a status callback.

    - ``TWILIO``: ``CallStatus`` is the status; ``completed`` means answered,
      then ended.
    - ``RESTCOMM``: ``CallStatus`` is the event name; a ``completed`` that no
      ``answered`` preceded leaves the outcome unknown (status ``ended``).
    - ``AUTO`` (default): both vocabularies; as ``RESTCOMM``, except that a
      ``completed`` with ``CallDuration`` > 0 counts as answered.
    """

    TWILIO = "twilio"
    RESTCOMM = "restcomm"
    AUTO = "auto"


def read_completed(dialect: Dialect, call_duration: int | None) -> int:
    """The ``completed`` event's first reading, as it arrives.

    ``COMPLETE`` (answered, then ended) where the dialect says so: always for
    Twilio, and for ``AUTO`` when the call lasted (``CallDuration`` > 0).
    Else it stays ``COMPLETED_EVENT``, to be read by ``completed_as``.
    """
    if dialect is Dialect.TWILIO or (dialect is Dialect.AUTO and call_duration):
        return _COMPLETE
    return _COMPLETED_EVENT


def completed_as(answered: bool) -> int:
    """The ``completed`` event's second reading: ``COMPLETE`` if the call was answered.

    Else ``END``: the call is over and nobody has said how (the library never
    invents ``busy`` or ``no-answer``). It is read again whenever the call is,
    so a late ``answered`` turns it into ``COMPLETE``.
    """
    return _COMPLETE if answered else _END


def claimed_status(trigger: int, answered: bool) -> int:
    """The status a final claim's ``trigger`` stands for, ``completed`` read as it now reads."""
    return completed_as(answered) if trigger == _COMPLETED_EVENT else trigger


#: A claim of a known final status: (whether it is the Call resource, its order:
#: the resource's date_updated or the callback's SequenceNumber, the status code).
Claim = tuple[bool, float, int]


def supersedes(claim: Claim, other: Claim) -> bool:
    """The machine's one condition: ``claim``'s final status replaces ``other``'s.

    The Call resource, the provider's own account, supersedes any callback;
    between two of a kind the later one does (date_updated, SequenceNumber),
    and at a tie the higher status code, so that the same claims in any order
    of arrival leave the same status.
    """
    return claim > other


_ANSWER_BIT: Final = 1 << _ANSWER
_LIVE_HIGHEST_FIRST: Final = (_ANSWER, int(Trigger.RING), int(Trigger.INITIATE))


def resolve(
    marks: int, finals: Iterable[tuple[int, int]], resources: Iterable[tuple[float, int]]
) -> int:
    """The status code all of a call's evidence says, whatever order it came in.

    ``marks``: bit ``i`` set once trigger ``i`` was seen (a live status, or
    ``ANSWER``); ``finals``: (SequenceNumber, trigger) of every callback that
    said the call ended; ``resources``: (date_updated, status code) of every
    final Call resource seen.

    The known final claim that supersedes all others wins; else, if a
    ``completed`` event is still read as ``END``, the call ended; else the
    live status of the highest rank reached.
    """
    answered = bool(marks & _ANSWER_BIT)
    best: Claim | None = None
    for updated, code in resources:
        claim = (True, updated, code)
        if best is None or supersedes(claim, best):
            best = claim
    ended = False  # pragma: no mutate (only ever tested for truth: None is equivalent)
    for seq, trigger in finals:
        code = claimed_status(trigger, answered)
        if code == _END:
            ended = True
            continue
        claim = (False, seq, code)
        if best is None or supersedes(claim, best):
            best = claim
    if best is not None:
        return best[2]
    if ended:
        return _END
    for live in _LIVE_HIGHEST_FIRST:
        if marks & 1 << live:
            return live
    return _QUEUE


# 6. The compiled table.


def _compile() -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]:
    """``table[status][trigger]``, the destination code, without the condition and with it.

    Read from one machine built from ``TRANSITIONS``: what ``transitions`` itself made of it.
    """
    machine = build_machine()
    tables: tuple[list[tuple[int, ...]], list[tuple[int, ...]]] = ([], [])
    for source in STATUSES:
        rows: tuple[list[int], list[int]] = ([], [])
        for trigger in TRIGGERS:
            event = machine.events.get(trigger)
            found = [] if event is None else event.transitions.get(source.value, [])
            # An invariant of transitions' table (one row per trigger and source), not a rule:
            # loosening it to <= 2 changes nothing a table could show.
            assert len(found) <= 1, (source, trigger)  # pragma: no mutate
            plain = superseding = _CODE[source]  # ignored
            for transition in found:
                superseding = _CODE[CallStatus(str(transition.dest))]
                if not transition.conditions:
                    plain = superseding
            rows[0].append(plain)
            rows[1].append(superseding)
        tables[0].append(tuple(rows[0]))
        tables[1].append(tuple(rows[1]))
    return tuple(tables[0]), tuple(tables[1])


#: The table compiled, read as ``NEXT[status][trigger]`` (both as codes): the
#: status the trigger moves a call in ``status`` to, or ``status`` itself where
#: the trigger is ignored. A correction is not taken here: it is in
#: ``NEXT_SUPERSEDING``, the table where the new evidence ``supersedes`` the old.
NEXT, NEXT_SUPERSEDING = _compile()
