"""Cutting a `[time, envs]` rollout into per-episode sequences for a recurrent network.

The fused LSTM kernel runs each row from one initial state to the end, with no way to
reset mid-row. A rollout in which an environment's episode ends at step t therefore
becomes two rows for that environment: steps before t continue from the state the
rollout started with, steps from t on start from zeros. Rows are left-aligned and
padded; the mask marks the real steps.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SequenceLayout:
    """Where each `[row, position]` of the packed batch comes from.

    Attributes:
        time_index: `[rows, length]` rollout step of each entry (0 in padding).
        env_index: `[rows, length]` environment of each entry.
        mask: `[rows, length]` float32, 1 for real steps.
        continues: `[rows]` true where the row starts at rollout step 0 and so continues
            from the state the rollout began with (false: a new episode, zero state).
        row_envs: `[rows]` environment of each row.
    """

    time_index: np.ndarray
    env_index: np.ndarray
    mask: np.ndarray
    continues: np.ndarray
    row_envs: np.ndarray

    def gather(self, values: np.ndarray) -> np.ndarray:
        """`[time, envs, ...]` rollout values → `[rows, length, ...]` packed values."""
        return values[self.time_index, self.env_index]


def split_episodes(episode_starts: np.ndarray) -> SequenceLayout:
    """Layout of rows for a rollout whose `episode_starts[t, n]` marks new episodes."""
    steps, num_envs = episode_starts.shape
    segments = []
    for env in range(num_envs):
        bounds = [0, *(np.flatnonzero(episode_starts[1:, env]) + 1).tolist(), steps]
        segments.extend((env, start, end) for start, end in itertools.pairwise(bounds))
    length = max(end - start for _, start, end in segments)
    rows = len(segments)
    time_index = np.zeros((rows, length), dtype=np.int64)
    env_index = np.zeros((rows, length), dtype=np.int64)
    mask = np.zeros((rows, length), dtype=np.float32)
    continues = np.zeros(rows, dtype=bool)
    row_envs = np.zeros(rows, dtype=np.int64)
    for row, (env, start, end) in enumerate(segments):
        time_index[row, :end - start] = np.arange(start, end)
        env_index[row] = env
        mask[row, :end - start] = 1.0
        continues[row] = start == 0
        row_envs[row] = env
    return SequenceLayout(time_index, env_index, mask, continues, row_envs)
