"""Alternating rounds and same-run ratios: how every benchmark here turns timings into figures.

On a shared, noisy machine one run of each side, one after the other, turns
the drift between them into the figure (the same commit gave core.py in-order
ratios of 0.56, 0.59 and 0.77). So every benchmark runs its sides in rounds,
each round running every side once, in an order that rotates from round to
round (what a round's position costs or gives, a warm cache, a busy neighbour
starting, goes to every side alike). A side's rate is its median round; a
ratio is the median of the per-round ratios, with their spread (min, max),
and a target is judged on that median.

    rounds = alternate({"ours": run_ours, "base": run_base}, rounds=5)
    figures = {**rates(rounds), **ratio("apply", rounds["ours"], rounds["base"])}
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

__all__ = ["alternate", "ratio", "rates", "spread"]

T = TypeVar("T")


def alternate(
    sides: Mapping[str, Callable[[], T]], rounds: int, warmup: int = 1
) -> dict[str, list[T]]:
    """Each side's figure per round: ``rounds`` rounds, every side once a round, order rotating.

    A side is a function that runs once and returns its figure (a rate, or
    a richer record of the run).
    Before the rounds, every side runs ``warmup`` times unrecorded (imports,
    caches, the allocator's first growth: a first run measures those).
    """
    if rounds < 1:
        raise ValueError(f"rounds: must be at least 1, not {rounds}")
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    out: dict[str, list[T]] = {name: [] for name in names}
    for n in range(rounds):
        shift = n % len(names)
        for name in names[shift:] + names[:shift]:
            out[name].append(sides[name]())
    return out


def rates(rounds: Mapping[str, Sequence[float]], suffix: str = "_eps") -> dict[str, float]:
    """Each side's median round, under ``<side><suffix>``."""
    return {f"{name}{suffix}": statistics.median(values) for name, values in rounds.items()}


def spread(values: Sequence[float], digits: int = 3) -> list[float]:
    """``[min, max]`` of ``values``, rounded."""
    return [round(min(values), digits), round(max(values), digits)]


def ratio(
    name: str, ours: Sequence[float], base: Sequence[float], digits: int = 3
) -> dict[str, float | list[float]]:
    """``<name>_ratio`` (median of the per-round ours/base) and ``<name>_ratio_spread``."""
    # A round the baseline finished nothing in (a starved machine) has no ratio.
    per_round = [o / b for o, b in zip(ours, base, strict=True) if b > 0]
    if not per_round:
        raise ValueError(f"{name}: the baseline measured nothing in any round")
    return {
        f"{name}_ratio": round(statistics.median(per_round), digits),
        f"{name}_ratio_spread": spread(per_round, digits),
    }
