"""The rank rule's slots are a pinned table (stored events' sequence numbers come from it), and
names() lists the providers installed packages name in the entry-point group."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import CallbackStatus, UsageError
from callstate.providers import _provider, get, names, ranked_sequence
from callstate.providers._kit import SLOT, SLOTS

S = CallbackStatus
#: The slots as first released: a stored event's SequenceNumber was derived from them.
PINNED = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "answered": 4,
    "completed": 5,
    "busy": 6,
    "failed": 7,
    "no-answer": 8,
    "canceled": 9,
}


def test_every_status_has_its_pinned_slot():
    """A status added to CallbackStatus must be given a slot of its own in SLOTS (no KeyError
    later), and no existing slot moves."""
    assert {status.value: slot for status, slot in SLOTS.items()} == PINNED
    assert set(SLOTS) == set(S)


def test_sequence_numbers_as_stored():
    """Golden values: the numbers events already stored carry (a change here reorders them)."""
    assert ranked_sequence(S.COMPLETED) == 50_000_000
    assert ranked_sequence(S.BUSY, "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0") == 64_853_386
    assert ranked_sequence(S.RINGING, "2021-03-29T21:20:05.582Z") == 23_273_418
    assert ranked_sequence(S.CANCELED, "2021-03-29T21:20:05.582Z") == 93_273_418


@given(status=st.sampled_from(S), identity=st.text(max_size=40))
def test_the_sequence_is_the_slot_then_the_identitys_crc(status, identity):
    room = zlib.crc32(identity.encode()) % SLOT if identity else 0
    assert ranked_sequence(status, identity) == PINNED[status.value] * SLOT + room


def _install(tmp_path, monkeypatch, name: str = "acme-ep") -> None:
    """A real installed distribution (a .dist-info on sys.path) naming a provider."""
    info = tmp_path / "acme_voice-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-voice\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[callstate.providers]\n{name} = acme_voice_provider:ACME\n"
    )
    (tmp_path / "acme_voice_provider.py").write_text(
        "from callstate.providers import Provider, get\n"
        f"ACME = Provider(name={name!r}, dialect=get('vonage').dialect, summary='Acme')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    # Registering it (get) must not outlive the test.
    monkeypatch.setattr(_provider, "_REGISTRY", dict(_provider._REGISTRY))


def test_names_include_the_entry_points_not_loaded_yet(tmp_path, monkeypatch):
    _install(tmp_path, monkeypatch)
    assert "acme-ep" not in _provider._REGISTRY
    assert "acme-ep" in names()
    with pytest.raises(UsageError) as raised:
        get("nope")
    assert "acme-ep" in str(raised.value)  # the known ones, the entry point's too
    assert get("acme-ep").summary == "Acme"
    assert names().count("acme-ep") == 1
