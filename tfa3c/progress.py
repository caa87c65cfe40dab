"""Progress reporting: a tqdm bar on a terminal, plain lines otherwise (readable logs)."""

from __future__ import annotations

import sys
from typing import TextIO


def format_progress(env_steps: int, episodes: int, mean_return: float | None,
                    steps_per_second: float, extras: dict[str, float] | None = None) -> str:
    """The progress line: env steps, episodes, mean return of the last 100, steps/s."""
    mean = "-" if mean_return is None else f"{mean_return:.1f}"
    parts = [f"env_steps {env_steps:,}", f"episodes {episodes:,}", f"mean_return_100 {mean}",
             f"steps/s {steps_per_second:,.0f}"]
    for name, value in (extras or {}).items():
        parts.append(f"{name} {value:,.1f}" if isinstance(value, float) else f"{name} {value}")
    return " | ".join(parts)


class ProgressReporter:
    """Shows training progress every log interval.

    Args:
        mode: "bar" (tqdm), "lines", "none", or "auto" (bar when `stream` is a terminal).
        total_steps: the step budget, drawn as the bar's total when known.
        stream: where progress goes (stderr for the bar, stdout for lines by default).
    """

    def __init__(self, mode: str = "auto", total_steps: int | None = None,
                 stream: TextIO | None = None):
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        self.mode = mode
        self._stream = stream
        self._bar = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps, unit="step", unit_scale=True, dynamic_ncols=True,
                             file=stream or sys.stderr, smoothing=0.3)

    def update(self, env_steps: int, episodes: int, mean_return: float | None,
               steps_per_second: float, extras: dict[str, float] | None = None) -> None:
        """Reports the current totals."""
        if self.mode == "none":
            return
        if self._bar is not None:
            self._bar.update(env_steps - self._bar.n)
            mean = "-" if mean_return is None else f"{mean_return:.1f}"
            self._bar.set_postfix_str(f"episodes={episodes} mean_return_100={mean}", refresh=True)
            return
        line = format_progress(env_steps, episodes, mean_return, steps_per_second, extras)
        print(line, file=self._stream or sys.stdout, flush=True)

    def close(self) -> None:
        """Closes the bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
