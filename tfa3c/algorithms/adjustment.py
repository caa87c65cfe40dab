"""Dynamic adjustment: GA3C's agents, predictors and trainers tuned while the run goes.

NVlabs GA3C's idea (its `ThreadDynamicAdjustment`): throughput depends on how many
agents feed the predictors and how many trainers drain the experience, and the best
numbers depend on the machine, the environment and the network, so they are searched
for during training instead of being guessed. Here the search is a hill climb that
settles: measure the env steps/s of the current counts, try one count one step up or
down, keep the change if it is faster by more than the noise, go back if not, and stop
once no neighbour of the current counts is faster (or each has been tried).

`Adjuster` is the search alone, fed with measured rates; `GA3C` runs it on a thread of
its own and applies the counts it returns.
"""

from __future__ import annotations

import dataclasses

KNOBS = ("agents", "predictors", "trainers")


@dataclasses.dataclass(frozen=True)
class Change:
    """One tried change and its measured effect."""

    knob: str
    before: int
    after: int
    rate_before: float  # env steps/s with the counts before the change
    rate_after: float  # and with the change
    kept: bool

    def describe(self) -> str:
        """`trainers 1 -> 2: 5,120 -> 5,480 env steps/s (+7.0%), kept`."""
        gain = (self.rate_after / self.rate_before - 1.0) * 100 if self.rate_before else 0.0
        return (f"{self.knob} {self.before} -> {self.after}: {self.rate_before:,.0f} -> "
                f"{self.rate_after:,.0f} env steps/s ({gain:+.1f}%), "
                f"{'kept' if self.kept else 'reverted'}")


class Adjuster:
    """A hill climb over the counts of agents, predictors and trainers.

    Each call of `next` reports the env steps/s measured with the counts the previous
    call returned, and returns the counts to run next. The counts alternate between
    the current best (re-measured before each trial, so that a drift in speed as the
    policy learns is not mistaken for the effect of a change) and one trial: one count
    one step up or down. A trial is kept when it beats the measurement before it by
    more than `tolerance`. The search settles when every neighbour of the current counts
    has been tried, and never tries a set of counts twice.

    Args:
        counts: the counts to start from, one per name in `KNOBS`.
        limits: the largest count per name (the smallest is 1).
        tolerance: the relative gain a trial must show to be kept.
    """

    def __init__(self, counts: dict[str, int], limits: dict[str, int],
                 tolerance: float = 0.03):
        self.counts = dict(counts)
        self.limits = dict(limits)
        self.tolerance = tolerance
        self.changes: list[Change] = []
        self.settled = False
        self.rate: float | None = None  # the last rate measured with `counts`
        self._visited = {self._key(self.counts)}
        self._trial: tuple[str, int] | None = None  # (knob, new count) being measured
        self._baseline: float | None = None
        self._last_kept: tuple[str, int] | None = None  # (knob, step) of the last success

    @staticmethod
    def _key(counts: dict[str, int]) -> tuple[int, ...]:
        return tuple(counts[name] for name in KNOBS)

    def _candidates(self) -> list[tuple[str, int]]:
        """Untried neighbours of the current counts; the last kept direction first."""
        steps = [(name, step) for name in KNOBS for step in (1, -1)]
        if self._last_kept in steps:  # a step that paid may pay again
            steps.remove(self._last_kept)
            steps.insert(0, self._last_kept)
        found = []
        for name, step in steps:
            value = self.counts[name] + step
            trial = {**self.counts, name: value}
            if 1 <= value <= self.limits[name] and self._key(trial) not in self._visited:
                found.append((name, value))
        return found

    def next(self, rate: float) -> dict[str, int]:
        """Takes the rate of the counts last returned; returns the counts to run next."""
        if self.settled:
            return dict(self.counts)
        if self._trial is not None:  # the rate is the trial's
            name, value = self._trial
            self._trial = None
            kept = rate > self._baseline * (1.0 + self.tolerance)
            self.changes.append(Change(name, self.counts[name], value, self._baseline, rate,
                                       kept))
            if not kept:  # back to the best, measured afresh before the next trial
                self._baseline = None
                return dict(self.counts)
            self._last_kept = (name, 1 if value > self.counts[name] else -1)
            self.counts[name] = value
        self._baseline = self.rate = rate
        candidates = self._candidates()
        if not candidates:
            self.settled = True
            return dict(self.counts)
        self._trial = candidates[0]
        trial = {**self.counts, self._trial[0]: self._trial[1]}
        self._visited.add(self._key(trial))
        return trial
