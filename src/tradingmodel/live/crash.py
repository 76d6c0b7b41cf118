"""Test-only crash points: ``TRADINGMODEL_CRASH_AT="point:n"`` kills the process with SIGKILL the n-th time
the engine reaches ``point`` (several as ``"a:3,b:1"``). Unset (always, outside tests) they cost one lookup.

Points: ``slice_before_commit`` (inside the slice transaction, before COMMIT), ``fill_before_position``
(inside a transaction, after a fill row and before its position update), ``after_executor_bars`` (the
executor filled on a slice, nothing of the slice committed), ``after_decision_commit`` (decision committed,
nothing submitted), ``after_submit`` (the executor has an order, the store still says ``new``),
``after_cancel`` (the executor canceled, the store does not know), ``before_fill_record`` (a fill reported by
a submit, not yet recorded).
"""

from __future__ import annotations

import os
import signal

ENV = "TRADINGMODEL_CRASH_AT"
POINTS = (
    "slice_before_commit",
    "fill_before_position",
    "after_executor_bars",
    "after_decision_commit",
    "after_submit",
    "after_cancel",
    "before_fill_record",
)


class CrashPoints:
    """Counts visits per point and kills the process at the configured visit."""

    def __init__(self, spec: str | None = None) -> None:
        spec = os.environ.get(ENV, "") if spec is None else spec
        self.targets: dict[str, int] = {}
        for item in filter(None, (s.strip() for s in spec.split(","))):
            name, _, n = item.partition(":")
            if name not in POINTS:
                raise ValueError(f"{ENV}: unknown crash point {name!r} (known: {', '.join(POINTS)})")
            self.targets[name] = int(n or 1)
        self.counts: dict[str, int] = {}

    def __call__(self, point: str) -> None:
        if not self.targets or point not in self.targets:
            return
        self.counts[point] = self.counts.get(point, 0) + 1
        if self.counts[point] == self.targets[point]:
            os.kill(os.getpid(), signal.SIGKILL)
