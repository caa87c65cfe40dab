"""Checkpoints of a run: model, optimizer and counters, as `tf.train.Checkpoint`s.

`tf.train.CheckpointManager` writes each checkpoint's shards under temporary names,
renames them into place and then atomically rewrites the `checkpoint` index, so an
interrupted save never leaves a half-written checkpoint as the newest one.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from tfa3c.errors import CheckpointError
from tfa3c.layout import CHECKPOINT_FOLDER
from tfa3c.statistics import WINDOW, EpisodeStatistics


class Checkpointer:
    """Saves and restores a model, its optimizer and the run's counters.

    Args:
        logdir: the run folder; checkpoints go to `logdir/checkpoints/`.
        model: the global model (built).
        optimizer: its optimizer (built, so that its slots exist before a restore).
        keep: how many checkpoints to keep.
    """

    def __init__(self, logdir: str, model: keras.Model, optimizer: keras.optimizers.Optimizer,
                 keep: int = 3):
        self.directory = os.path.join(logdir, CHECKPOINT_FOLDER)
        self._env_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._episodes = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._recent_returns = tf.Variable(np.zeros(WINDOW, np.float64), trainable=False)
        self._recent_count = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            model=model, optimizer=optimizer, env_steps=self._env_steps,
            episodes=self._episodes, recent_returns=self._recent_returns,
            recent_count=self._recent_count)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=keep)

    def save(self, statistics: EpisodeStatistics) -> str:
        """Writes a checkpoint numbered by the env step count; returns its path."""
        recent = list(statistics.recent_returns)
        padded = np.zeros(WINDOW)
        padded[:len(recent)] = recent
        self._env_steps.assign(statistics.env_steps)
        self._episodes.assign(statistics.episodes)
        self._recent_returns.assign(padded)
        self._recent_count.assign(len(recent))
        return self.manager.save(checkpoint_number=statistics.env_steps)

    def restore_latest(self, statistics: EpisodeStatistics) -> str:
        """Restores the newest checkpoint into the model, optimizer and `statistics`.

        Raises:
            CheckpointError: no checkpoint, or one that cannot be read or does not fit.
        """
        path = self.manager.latest_checkpoint
        if path is None:
            raise CheckpointError(
                f"no checkpoint to resume from in {self.directory}; --resume needs the "
                "--logdir of an earlier run of the same algorithm and network")
        try:
            self.checkpoint.read(path).assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else \
                type(error).__name__
            raise CheckpointError(
                f"checkpoint {path} is corrupt or does not fit this model: {first_line}"
            ) from None
        count = int(self._recent_count.numpy())
        statistics.restore(int(self._env_steps.numpy()), int(self._episodes.numpy()),
                           self._recent_returns.numpy()[:count])
        return path
