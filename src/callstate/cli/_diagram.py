"""The state machine drawn from its one definition, with transitions' diagrams.

Two drawings. The full one (``state_diagram(fmt)``) is transitions' own: every
(state, trigger) edge, as Mermaid, dot, SVG or PNG. The summary
(``state_diagram(fmt, summary=True)``, what the docs show) groups the same
edges so a reader takes the machine in at a glance: the live statuses in
rank order, the final ones in one box, one arrow for "any live status to any
final one", the refinements of ``ended``, and one note for the corrections.
The summary is computed from the machine's transitions, not drawn by hand,
and it knows which transitions each mark stands for (``_summary``): a test
proves that together they are exactly the machine's.

Mermaid needs nothing more; ``dot`` text needs the ``graphviz`` package, and
``svg``/``png`` need Graphviz's ``dot`` program as well (the ``diagrams`` extra).
"""

from __future__ import annotations

from typing import Any, Literal

from callstate._core._state import CallStatus, build_machine
from callstate._errors import UsageError

__all__ = ["FORMATS", "state_diagram"]

FORMATS = ("mermaid", "dot", "svg", "png")
_TITLE = "callstate: the call state machine"

#: One transition: (source, trigger, dest), by status value and trigger name.
Edge = tuple[str, str, str]


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
        title=_TITLE,
    )
    return model.get_graph()  # type: ignore[attr-defined]


def _transitions() -> tuple[set[Edge], set[Edge]]:
    """The machine's transitions, read from a built machine: (unconditional, conditional)."""
    machine = build_machine()
    plain: set[Edge] = set()
    guarded: set[Edge] = set()
    for trigger, event in machine.events.items():
        for source, found in event.transitions.items():
            for transition in found:
                edge = (str(source), str(trigger), str(transition.dest))
                (guarded if transition.conditions else plain).add(edge)
    return plain, guarded


def _summary() -> tuple[str, set[Edge]]:
    """The summary drawing as dot source, and the transitions its marks stand for."""
    plain, guarded = _transitions()
    live = [s.value for s in CallStatus if not s.is_final]
    final = [s.value for s in CallStatus if s.is_final]
    known = [s for s in final if s != CallStatus.ENDED.value]
    covered: set[Edge] = set()
    lines = [
        "digraph callstate {",
        '  graph [rankdir=TB, compound=true, fontname="Helvetica", fontsize=12,'
        f' label="{_TITLE}", labelloc=b, nodesep=0.25, ranksep=0.6];',
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  subgraph cluster_live { label="live (by rank)"; style="rounded,dashed";',
        *(f'    "{s}";' for s in live),
        "  }",
        '  subgraph cluster_final { label="final: never goes back"; style="rounded,filled";'
        ' fillcolor="#eef3f8";',
        f'    "{CallStatus.ENDED.value}" [fillcolor="#fff6d5", label="ended\\n(outcome unknown)"];',
        *(f'    "{s}";' for s in known),
        "  }",
    ]

    def draw(source: str, dest: str, edges: set[Edge], label: str, **attrs: str) -> None:
        extra = "".join(f", {k}={v}" for k, v in attrs.items())
        lines.append(f'  "{source}" -> "{dest}" [label="{label}"{extra}];')
        covered.update(edges)

    # Progress among live statuses: one arrow each.
    for edge in sorted(e for e in plain if e[0] in live and e[2] in live):
        draw(edge[0], edge[2], {edge}, edge[1])
    # Any live status to any final one, each by the trigger named for it: one arrow.
    to_final = {e for e in plain if e[0] in live and e[2] in final}
    if {(e[0], e[2]) for e in to_final} == {(s, d) for s in live for d in final}:
        triggers = ", ".join(sorted({e[1] for e in to_final}))
        draw(
            live[-1],
            known[0],
            to_final,
            f"from any live status\\nto the final one\\nit names:\\n{triggers}",
            ltail="cluster_live",
            lhead="cluster_final",
            minlen="3",
        )
    # An ended call whose outcome becomes known: one arrow per outcome.
    from_ended: dict[str, set[Edge]] = {}
    for edge in plain:
        if edge[0] == CallStatus.ENDED.value:
            from_ended.setdefault(edge[2], set()).add(edge)
    for dest, edges in sorted(from_ended.items()):
        draw(CallStatus.ENDED.value, dest, edges, " | ".join(sorted(e[1] for e in edges)))
    # Corrections: when every known final status may replace every other, one note.
    corrections = {e for e in guarded if e[0] in known and e[2] in known}
    if {(e[0], e[2]) for e in corrections} == {(s, d) for s in known for d in known if s != d}:
        lines.append(
            '  corrections [shape=note, fillcolor="#fde2e2", label="corrections [supersedes]:\\n'
            "a known final status is replaced by another\\nonly on evidence that outranks it\\n"
            '(a higher SequenceNumber, or the Call resource),\\nreported as an anomaly"];'
        )
        lines.append(
            f'  "{known[-1]}" -> corrections [style=dotted, arrowhead=none, ltail=cluster_final];'
        )
        covered.update(corrections)
    # Whatever the groups above do not cover is drawn edge by edge.
    for edge in sorted((plain | guarded) - covered):
        mark = " [supersedes]" if edge in guarded else ""
        draw(edge[0], edge[2], {edge}, edge[1] + mark)
    lines.append("}")
    return "\n".join(lines) + "\n", covered


def state_diagram(fmt: str = "mermaid", *, summary: bool = False) -> str | bytes:
    """The state machine as Mermaid or dot text (str), or as SVG or PNG (bytes).

    ``summary=True`` draws the grouped drawing the docs show (dot, svg or png):
    the same transitions, with the final statuses in one box and the
    corrections as a note.
    """
    if fmt not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "mermaid":
        if summary:
            raise UsageError("the summary is drawn as dot, svg or png, not mermaid")
        return str(_graph_machine("mermaid").draw(None))
    try:
        if summary:
            import graphviz  # noqa: PLC0415 (optional extra)

            graph = graphviz.Source(_summary()[0])
        else:
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
