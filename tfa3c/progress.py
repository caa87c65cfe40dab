"""Progress reporting: a tqdm bar on a terminal, plain lines otherwise (readable logs).

The bar counts env steps against the step budget (`--max-steps`; without one it counts
up), and shows episodes, the mean return of the last 100 episodes, env steps/s as the
algorithm measured them, and the first few algorithm-specific figures (GA3C's PPS and
TPS). Lines carry the same figures, every one of them, for logs and for `tfa3c bench`.
"""

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
        if not isinstance(value, float):
            parts.append(f"{name} {value}")
        else:  # small figures (a share truncated, a weight near 1) need a second digit
            parts.append(f"{name} {value:,.1f}" if abs(value) >= 10 else f"{name} {value:.2f}")
    return " | ".join(parts)


BAR_EXTRAS = 3  # algorithm-specific figures on the bar (all of them go on lines)


def _compact(value: float) -> str:
    """3 significant figures, with k/M suffixes: 12345.6 -> 12.3k."""
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def format_postfix(episodes: int, mean_return: float | None, steps_per_second: float,
                   extras: dict[str, float] | None = None) -> str:
    """What the bar shows after its counter: episodes, mean return, steps/s, a few extras."""
    mean = "-" if mean_return is None else f"{mean_return:.1f}"
    parts = [f"episodes={episodes:,}", f"return100={mean}",
             f"steps/s={_compact(steps_per_second)}"]
    shown = list((extras or {}).items())[:BAR_EXTRAS]
    parts += [f"{name}={_compact(value)}" for name, value in shown]
    return " ".join(parts)


class ProgressReporter:
    """Shows training progress every log interval.

    Args:
        mode: "bar" (tqdm), "lines", "none", or "auto" (bar when `stream` is a terminal).
        total_steps: the step budget, drawn as the bar's total when known (the bar
            then shows the fraction done and the time left).
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
            self._bar.set_postfix_str(
                format_postfix(episodes, mean_return, steps_per_second, extras), refresh=True)
            return
        line = format_progress(env_steps, episodes, mean_return, steps_per_second, extras)
        print(line, file=self._stream or sys.stdout, flush=True)

    def message(self, text: str) -> None:
        """Prints `text` on a line of its own (above the bar, if there is one)."""
        if self.mode == "none":
            return
        if self._bar is not None:
            self._bar.write(text, file=self._stream or sys.stderr)
            return
        print(text, file=self._stream or sys.stdout, flush=True)

    def close(self) -> None:
        """Closes the bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
