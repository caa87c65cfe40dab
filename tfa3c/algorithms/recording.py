"""What a run leaves behind as it goes: progress lines, TensorBoard, episodes, checkpoints.

`RunRecorder` is opened when the clock starts and closed when the run ends. The run
loop asks it to `log` every `log_interval` seconds and to `checkpoint` every
`checkpoint_interval`; `finish` writes the last line and the final checkpoint
whatever stopped the run. A checkpoint and the episode CSV always describe the same
moment: the episodes pending are written first, then the checkpoint of the counters
they end at.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from tfa3c.checkpoints import Checkpointer
from tfa3c.layout import EPISODES_CSV
from tfa3c.numerics import UpdateSkips
from tfa3c.policies.normalization import RewardNormalizer
from tfa3c.progress import ProgressReporter
from tfa3c.run_logs import RunLogs, trim_to_checkpoint
from tfa3c.statistics import EpisodeStatistics, MetricAccumulator


class RunRecorder:
    """A run's records, written from the run loop's thread.

    Args:
        logdir: the run folder.
        statistics: the run's episodes and steps.
        metrics: the training metrics the learners add.
        update_skips: updates skipped for non-finite values.
        checkpointer: saves the model, optimizer and counters.
        reward_normalizer: the run's reward statistics, saved with each checkpoint.
        extras: `interval -> figures` an algorithm adds to each progress line and
            TensorBoard (`speed/...`).
    """

    def __init__(self, logdir: str, statistics: EpisodeStatistics, metrics: MetricAccumulator,
                 update_skips: UpdateSkips, checkpointer: Checkpointer,
                 reward_normalizer: RewardNormalizer | None,
                 extras: Callable[[float], dict[str, float]]):
        self.logdir = logdir
        self.statistics = statistics
        self.metrics = metrics
        self.update_skips = update_skips
        self.checkpointer = checkpointer
        self.reward_normalizer = reward_normalizer
        self.extras = extras
        self.logs: RunLogs | None = None
        self.reporter: ProgressReporter | None = None
        self._last_log = 0.0
        self._last_steps = 0

    def trim_to_resumed_checkpoint(self) -> None:
        """Drops the CSV rows of episodes finished after the checkpoint a run resumes from.

        They describe lost training: the CSV continues from the checkpoint.
        """
        trim_to_checkpoint(os.path.join(self.logdir, EPISODES_CSV),
                           self.statistics.episodes, self.statistics.env_steps)

    def open(self, progress_bar: str, max_steps: int | None) -> RunRecorder:
        """Opens the logs and the progress display; the first interval starts now."""
        self.logs = RunLogs(self.logdir)
        self.reporter = ProgressReporter(progress_bar, max_steps)
        self._last_log = time.perf_counter()
        self._last_steps = self.statistics.env_steps
        return self

    def since_log(self) -> float:
        """Seconds since the last progress line."""
        return time.perf_counter() - self._last_log

    def log(self) -> None:
        """A progress line, TensorBoard scalars and the finished episodes, for the interval."""
        now = time.perf_counter()
        interval = max(now - self._last_log, 1e-9)
        statistics = self.statistics
        steps = statistics.env_steps
        steps_per_second = (steps - self._last_steps) / interval
        self.logs.write_episodes(statistics.take_episodes())
        means, _ = self.metrics.drain()
        extras = self.extras(interval)
        scalars = {f"train/{name}": value for name, value in means.items()}
        scalars.update(self.logs.episode_scalars())
        scalars.update({f"speed/{name}": value for name, value in extras.items()})
        scalars["speed/env_steps_per_second"] = steps_per_second
        scalars["train/skipped_updates"] = self.update_skips.total
        scalars["train/skipped_transitions"] = statistics.skipped_transitions
        mean_return = statistics.mean_return()
        if mean_return is not None:
            scalars["episode/mean_return_100"] = mean_return
        self.logs.write_scalars(scalars, step=steps)
        self.reporter.update(steps, statistics.episodes, mean_return, steps_per_second, extras)
        self._last_log, self._last_steps = now, steps

    def note(self, text: str) -> None:
        """A line of its own among the progress lines (e.g. a dynamic adjustment's change)."""
        if self.reporter is not None:
            self.reporter.message(text)

    def checkpoint(self) -> str:
        """Writes the pending episodes to the CSV, then a checkpoint of the same moment."""
        episodes, counters = self.statistics.checkpoint_view()
        if self.reward_normalizer is not None:
            self.reward_normalizer.sync()
        self.logs.write_episodes(episodes, sync=True)
        return self.checkpointer.save(counters)

    def finish(self) -> tuple[str | None, Exception | None]:
        """The last progress line, then a final checkpoint, whatever stopped the run.

        A failed thread included: nothing trained since the last periodic checkpoint is
        lost. An error here is returned, never raised, so that it cannot hide the
        failure that stopped the run.

        Returns:
            The final checkpoint's path (None if it failed) and the error, if any.
        """
        error = None
        try:
            self.log()
        except Exception as problem:  # e.g. a full disk: the checkpoint may still fit
            error = problem
        try:
            return self.checkpoint(), error
        except Exception as problem:
            return None, problem

    def close(self) -> None:
        """Closes the progress display and the logs."""
        try:
            if self.reporter is not None:
                self.reporter.close()
        finally:
            if self.logs is not None:
                self.logs.close()
