"""The public API type-checks under ``mypy --strict`` as users write it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_user_code_type_checks_strictly():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            str(HERE / "typing" / "public_api.py"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE.parent.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_type_error_in_user_code_is_caught(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from callstate import CallBook, parse_form\n"
        "CallBook().record(parse_form(b'x'), received_at='yesterday')\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE.parent.parent,
    )
    assert result.returncode == 1
    assert "received_at" in result.stdout
