"""What a run writes to its folder: TensorBoard events and the episode CSV."""

from __future__ import annotations

import csv
import os

import numpy as np
import tensorflow as tf

from tfa3c.layout import CSV_FIELDS, EPISODES_CSV
from tfa3c.statistics import Episode


def trim_to_checkpoint(path: str, episodes: int, env_steps: int) -> int:
    """Cuts an episode CSV back to what a checkpoint holds; returns how many rows were dropped.

    A run resumed after a crash continues from its newest checkpoint, which holds
    `episodes` finished episodes at `env_steps` steps. CSV rows written for episodes
    after it describe training that is lost; keeping them would make the CSV run
    backwards once the resumed run appends. Rows are kept from the top while they are
    no later than the checkpoint (`env_steps`), `episodes` of them at most, and a last
    line cut short by a crash is dropped. The file is rewritten through a temporary
    file and a rename, so a crash here loses nothing.
    """
    if not os.path.exists(path):
        return 0
    with open(path, newline="") as file:
        lines = file.readlines()
    if not lines:
        return 0
    header, rows = lines[0], lines[1:]
    kept = []
    for line in rows[:episodes]:
        fields = line.rstrip("\r\n").split(",")
        if not line.endswith("\n") or len(fields) != len(CSV_FIELDS):
            break  # cut short by a crash
        try:
            steps = int(fields[CSV_FIELDS.index("env_steps")])
        except ValueError:
            break
        if steps > env_steps:
            break
        kept.append(line)
    if len(kept) == len(rows):
        return 0
    temporary = f"{path}.tmp"
    with open(temporary, "w", newline="") as file:
        file.writelines([header, *kept])
    os.replace(temporary, path)
    return len(rows) - len(kept)


class RunLogs:
    """TensorBoard summaries (`tf.summary`) and `episodes.csv`, written by the main thread.

    The CSV is appended to, so a resumed run continues the same file.
    """

    def __init__(self, logdir: str):
        os.makedirs(logdir, exist_ok=True)
        self.logdir = logdir
        self._writer = tf.summary.create_file_writer(logdir)
        self._interval_episodes: list[Episode] = []
        path = os.path.join(logdir, EPISODES_CSV)
        new_file = not os.path.exists(path) or os.path.getsize(path) == 0
        self._csv_file = open(path, "a", newline="")  # noqa: SIM115 (closed in close())
        self._csv = csv.writer(self._csv_file)
        if new_file:
            self._csv.writerow(CSV_FIELDS)

    def write_episodes(self, episodes: list[Episode], sync: bool = False) -> None:
        """Appends episodes to the CSV (one row each); `sync` writes it through to the disk.

        A checkpoint syncs (its rows must be on disk before it is); the rows written
        between checkpoints are cut back to the checkpoint on resume anyway.
        TensorBoard gets the episodes' means per log interval instead (see
        `episode_scalars`): one eager summary call per episode would cost the main
        thread about a millisecond each, thousands of times a second on short episodes.
        """
        if episodes:
            self._interval_episodes.extend(episodes)
            self._csv.writerows((f"{e.wall_time:.3f}", e.env_steps, e.episode_return, e.length)
                                for e in episodes)
            self._csv_file.flush()
        if sync:
            os.fsync(self._csv_file.fileno())

    def write_scalars(self, scalars: dict[str, float], step: int) -> None:
        """Writes named scalars (names like `loss/policy`) at environment step `step`.

        TensorBoard keeps float32: a value beyond its range is written as an infinity
        (TensorFlow refuses to convert a Python float near the float64 limit at all).
        """
        with self._writer.as_default(), np.errstate(over="ignore"):
            for name, value in scalars.items():
                tf.summary.scalar(name, np.float32(value), step=step)
        self._writer.flush()

    def episode_scalars(self) -> dict[str, float]:
        """Mean return and length of the episodes written since the last call."""
        episodes, self._interval_episodes = self._interval_episodes, []
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
