"""The state machine drawn from its one definition, with transitions' diagrams.

Mermaid needs nothing more; ``dot`` text needs the ``graphviz`` package, and
``svg``/``png`` need Graphviz's ``dot`` program as well (the ``diagrams`` extra).
"""

from __future__ import annotations

from typing import Any, Literal

from callstate._core._state import build_machine
from callstate._errors import UsageError

__all__ = ["FORMATS", "state_diagram"]

FORMATS = ("mermaid", "dot", "svg", "png")


class _Model:
    """Holds the machine's state while the diagram is drawn."""


def _graph_machine(engine: Literal["graphviz", "mermaid"]) -> Any:
    from transitions.extensions import GraphMachine  # noqa: PLC0415 (optional engines)

    model = _Model()
    build_machine(
        model,
        GraphMachine,
        graph_engine=engine,
        show_conditions=True,
        title="callstate: the call state machine",
    )
    return model.get_graph()  # type: ignore[attr-defined]


def state_diagram(fmt: str = "mermaid") -> str | bytes:
    """The state machine as Mermaid or dot text (str), or as SVG or PNG (bytes)."""
    if fmt not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "mermaid":
        return str(_graph_machine("mermaid").draw(None))
    try:
        graph = _graph_machine("graphviz")
        if fmt == "dot":
            return str(graph.source)
        return bytes(graph.pipe(format=fmt))
    except ImportError as exc:
        raise UsageError(
            f"{fmt} diagrams need the graphviz package: pip install 'callstate[diagrams]'"
        ) from exc
    except RuntimeError as exc:  # graphviz.ExecutableNotFound and failures of dot itself
        raise UsageError(
            f"{fmt} diagrams need Graphviz's dot program on PATH (apt install graphviz): {exc}"
        ) from exc
