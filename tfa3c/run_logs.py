"""What a run writes to its folder: TensorBoard events and the episode CSV."""

from __future__ import annotations

import csv
import os

import tensorflow as tf

from tfa3c.layout import CSV_FIELDS, EPISODES_CSV
from tfa3c.statistics import Episode


class RunLogs:
    """TensorBoard summaries (`tf.summary`) and `episodes.csv`, written by the main thread.

    The CSV is appended to, so a resumed run continues the same file.
    """

    def __init__(self, logdir: str):
        os.makedirs(logdir, exist_ok=True)
        self.logdir = logdir
        self._writer = tf.summary.create_file_writer(logdir)
        path = os.path.join(logdir, EPISODES_CSV)
        new_file = not os.path.exists(path) or os.path.getsize(path) == 0
        self._csv_file = open(path, "a", newline="")  # noqa: SIM115 (closed in close())
        self._csv = csv.writer(self._csv_file)
        if new_file:
            self._csv.writerow(CSV_FIELDS)

    def write_episodes(self, episodes: list[Episode]) -> None:
        """Appends episodes to the CSV (one row each).

        TensorBoard gets their means per log interval instead (see `episode_scalars`):
        one eager summary call per episode would cost the main thread about a
        millisecond each, thousands of times a second on short episodes.
        """
        if not episodes:
            return
        self._csv.writerows((f"{e.wall_time:.3f}", e.env_steps, e.episode_return, e.length)
                            for e in episodes)
        self._csv_file.flush()

    def write_scalars(self, scalars: dict[str, float], step: int) -> None:
        """Writes named scalars (names like `loss/policy`) at environment step `step`."""
        with self._writer.as_default():
            for name, value in scalars.items():
                tf.summary.scalar(name, value, step=step)
        self._writer.flush()

    @staticmethod
    def episode_scalars(episodes: list[Episode]) -> dict[str, float]:
        """Mean return and length of the episodes finished in one log interval."""
        if not episodes:
            return {}
        return {"episode/return": sum(e.episode_return for e in episodes) / len(episodes),
                "episode/length": sum(e.length for e in episodes) / len(episodes),
                "episode/count": float(len(episodes))}

    def close(self) -> None:
        """Flushes and closes both files."""
        self._writer.flush()
        self._writer.close()
        self._csv_file.close()
