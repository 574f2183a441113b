"""MkDocs hook: the state machine's drawings, generated from its one definition at build time.

The pages embed ``assets/state-machine.svg`` (the summary) and link
``assets/state-machine-full.svg`` (every edge); both are drawn here by
``callstate.state_diagram`` when the site builds, so the site never shows a
stale drawing and a reader's browser fetches nothing from the network (no
Mermaid from a CDN). Needs Graphviz's ``dot`` program (``.ci/run`` installs it).
"""

from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files

from callstate import state_diagram

DRAWINGS = {
    "assets/state-machine.svg": {"summary": True},
    "assets/state-machine-full.svg": {"summary": False},
}


def on_files(files: Files, config: Any) -> Files:
    for path, options in DRAWINGS.items():
        svg = state_diagram("svg", **options)
        assert isinstance(svg, bytes)
        files.append(File.generated(config, path, content=svg))
    return files
