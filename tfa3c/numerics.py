"""Non-finite values (NaN, infinity): stopped where they enter, never kept.

One NaN from an environment, once it reaches a gradient, turns every weight into NaN,
and every checkpoint and export written after it. So it is stopped at each door:

- environment steps (`tfa3c.envs`): a non-finite observation or reward stops the run,
  naming the role, the environment and the step (or, with `non_finite="skip"`, ends
  that episode and drops the transition, counted);
- updates: an optimizer step whose loss or gradient is non-finite is skipped, counted
  and logged (`UpdateSkips`), and a run of them stops the training;
- checkpoints and exports refuse non-finite variables (`non_finite_variables`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

from tfa3c.errors import TrainingError

# What an environment's non-finite observation or reward does: stop the run, or end
# that episode and drop the transition (for simulators that emit them knowingly).
NON_FINITE_MODES = ("error", "skip")

logger = logging.getLogger("tfa3c")


class NonFiniteError(TrainingError):
    """A NaN or an infinity reached a place where it would poison the run."""


class EnvironmentOutputError(TrainingError):
    """An environment returned a non-finite value, or an observation its space does not allow."""


def non_finite_variables(variables: Iterable) -> list[str]:
    """The names of the variables that hold a NaN or an infinity (floating point only)."""
    names = []
    for variable in variables:
        value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            names.append(str(getattr(variable, "path", None) or getattr(variable, "name", "?")))
    return names


def describe_names(names: list[str], shown: int = 3) -> str:
    """`a, b, c and 4 more`: a list of names that stays one short line."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def non_finite_entries(values: np.ndarray, shown: int = 4) -> str:
    """`nan at [0, 2], inf at [3]`: which entries of an array are not finite, and what."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    parts = []
    for label, mask in (("nan", np.isnan(flat)), ("inf", np.isposinf(flat)),
                        ("-inf", np.isneginf(flat))):
        where = np.flatnonzero(mask)
        if len(where):
            more = ", ..." if len(where) > shown else ""
            parts.append(f"{label} at [{', '.join(map(str, where[:shown]))}{more}]")
    return ", ".join(parts)


class UpdateSkips:
    """Counts optimizer steps skipped for a non-finite loss or gradient; stops a run of them.

    Skipping one step costs a batch of experience; skipping many in a row means the
    inputs or the model have gone bad for good, and training on would only spend the
    budget. Every skip is logged (the first of a streak as a warning); `limit` skips in
    a row raise `NonFiniteError`, which says when the streak began. Thread-safe: A3C's
    workers and GA3C's trainers report concurrently.

    Args:
        limit: skips in a row that stop the run.
        clock: seconds into the run, for the message (default: since construction).
    """

    def __init__(self, limit: int, clock: Callable[[], float] | None = None):
        self.limit = limit
        self.total = 0
        self.in_a_row = 0
        self._first: tuple[int, float] | None = None  # env steps and time of the streak's start
        start = time.perf_counter()
        self._clock = clock or (lambda: time.perf_counter() - start)
        self._lock = threading.Lock()

    def record(self, skipped: int, applied: int, env_steps: int) -> None:
        """Counts one apply's skipped and applied optimizer steps.

        Raises:
            NonFiniteError: `limit` or more steps in a row were skipped.
        """
        if not skipped:
            if self.in_a_row:  # the streak ends (no lock needed to read a stale 0)
                with self._lock:
                    self.in_a_row, self._first = 0, None
            return
        with self._lock:
            self.total += skipped
            if self._first is None:
                self._first = (env_steps, self._clock())
                logger.warning("skipped an update with a non-finite loss or gradient at env "
                               "step %d (%d skipped in all); the weights were left as they were",
                               env_steps, self.total)
            self.in_a_row = 0 if applied else self.in_a_row + skipped
            if applied:
                self._first = None
            if self.in_a_row >= self.limit:
                steps, seconds = self._first
                raise NonFiniteError(
                    f"{self.in_a_row} updates in a row had a non-finite loss or gradient, the "
                    f"first at env step {steps} ({seconds:.1f} s into the run); none reached "
                    "the weights. Look for NaN or infinite rewards, returns or observations "
                    "that pass the environment checks (e.g. values too large for float32)")
