"""The first example of docs/stores.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "stores.md"


def test_the_sqlite_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(example, str(DOC), "exec"), namespace)
    store = namespace["store"]
    assert store.calls_with_status(namespace["outcome"].after.status) == ("CA1",)  # type: ignore[attr-defined]
    store.close()  # type: ignore[attr-defined]
