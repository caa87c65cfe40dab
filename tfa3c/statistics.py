"""Thread-safe training statistics: environment steps, finished episodes, scalar metrics."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

WINDOW = 100  # episodes in the rolling mean that decides "solved"


@dataclass(frozen=True)
class Episode:
    """One finished episode, as the episode CSV records it."""

    wall_time: float  # seconds of training (a resumed run continues its first run's clock)
    env_steps: int  # environment steps done by all actors when it finished
    episode_return: float
    length: int


@dataclass(frozen=True)
class Counters:
    """The run's counters at one moment, as a checkpoint stores them."""

    env_steps: int
    episodes: int
    recent_returns: tuple[float, ...]  # the last (up to) 100 episode returns
    training_seconds: float  # training time over this run and the runs it resumed


class EpisodeTally:
    """Steps and finished episodes counted where a role runs, to be sent to the learner.

    A role in another process counts a rollout (or a step) with a fresh tally in place
    of the run's `EpisodeStatistics` (same `add_steps` and `add_episodes`) and sends
    it with its report; the learner's process adds it to the run's (`report_to`).
    """

    def __init__(self):
        self.steps = 0
        self.skipped = 0
        self.returns: list[float] = []
        self.lengths: list[int] = []

    def add_skipped(self, count: int) -> None:
        """Counts transitions dropped for non-finite values."""
        self.skipped += count

    def add_steps(self, count: int) -> None:
        """Counts `count` environment steps."""
        self.steps += count

    def add_episodes(self, returns: list[float], lengths: list[int]) -> None:
        """Records finished episodes."""
        self.returns.extend(returns)
        self.lengths.extend(lengths)

    def report_to(self, statistics: EpisodeStatistics) -> None:
        """Adds what was counted to `statistics`."""
        statistics.add_steps(self.steps)
        statistics.add_episodes(self.returns, self.lengths)
        if self.skipped:
            statistics.add_skipped(self.skipped)


class EpisodeStatistics:
    """Counts steps and episodes from many threads; notices the moment a run is solved.

    Args:
        reward_threshold: mean return over the last 100 episodes that counts as solved
            (None: never solved).
        max_steps: step budget; `on_budget` is called once it is reached.
        on_solved: called once, from the thread that recorded the solving episode.
        on_budget: called once, when `max_steps` is reached.
    """

    def __init__(self, reward_threshold: float | None, max_steps: int | None = None,
                 on_solved: Callable[[], None] | None = None,
                 on_budget: Callable[[], None] | None = None):
        self.reward_threshold = reward_threshold
        self.max_steps = max_steps
        self._on_solved = on_solved
        self._on_budget = on_budget
        self._lock = threading.Lock()
        self.env_steps = 0
        self.episodes = 0
        self.skipped_transitions = 0  # dropped for non-finite values (non_finite="skip")
        self.recent_returns: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self.recent_lengths: collections.deque[int] = collections.deque(maxlen=WINDOW)
        self._pending: list[Episode] = []
        self.start_time = time.perf_counter()
        # Training seconds of the runs this one resumed: episode wall times continue
        # from there, so a resumed run's episode CSV never runs backwards.
        self.earlier_seconds = 0.0
        self.solved_seconds: float | None = None
        self.solved_env_steps: int | None = None
        self.solved_mean_return: float | None = None
        self._budget_signalled = False

    def add_skipped(self, count: int) -> None:
        """Counts transitions dropped for a non-finite observation or reward."""
        with self._lock:
            self.skipped_transitions += count

    def start_clock(self) -> None:
        """Marks the start of training: `seconds` and episode wall times count from here."""
        self.start_time = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since `start_clock`."""
        return time.perf_counter() - self.start_time

    def restore(self, counters: Counters) -> None:
        """Sets the counters from a checkpoint."""
        with self._lock:
            self.env_steps, self.episodes = int(counters.env_steps), int(counters.episodes)
            self.recent_returns.clear()
            self.recent_returns.extend(float(value) for value in counters.recent_returns)
            self.earlier_seconds = float(counters.training_seconds)

    def checkpoint_view(self) -> tuple[list[Episode], Counters]:
        """Episodes not yet taken and the counters, read together under one lock.

        Writing those episodes to the CSV before the checkpoint that holds these
        counters keeps the two in step: the CSV then has exactly `episodes` rows up to
        that checkpoint, whatever the other threads do meanwhile.
        """
        with self._lock:
            pending, self._pending = self._pending, []
            counters = Counters(self.env_steps, self.episodes, tuple(self.recent_returns),
                                self.earlier_seconds + self.elapsed())
        return pending, counters

    def add_steps(self, count: int) -> int:
        """Adds `count` environment steps; returns the new total."""
        with self._lock:
            self.env_steps += count
            total = self.env_steps
            budget_hit = (self.max_steps is not None and total >= self.max_steps
                          and not self._budget_signalled)
            if budget_hit:
                self._budget_signalled = True
        if budget_hit and self._on_budget is not None:
            self._on_budget()
        return total

    def add_episodes(self, returns: list[float], lengths: list[int]) -> None:
        """Records finished episodes (at the current step count)."""
        if not returns:
            return
        solved_now = False
        with self._lock:
            seconds = time.perf_counter() - self.start_time
            wall_time = self.earlier_seconds + seconds
            for episode_return, length in zip(returns, lengths, strict=True):
                self.episodes += 1
                self.recent_returns.append(episode_return)
                self.recent_lengths.append(length)
                self._pending.append(Episode(wall_time, self.env_steps, episode_return, length))
                if (self.solved_seconds is None and self.reward_threshold is not None
                        and len(self.recent_returns) == WINDOW
                        and np.mean(self.recent_returns) >= self.reward_threshold):
                    self.solved_seconds = seconds
                    self.solved_env_steps = self.env_steps
                    self.solved_mean_return = float(np.mean(self.recent_returns))
                    solved_now = True
        if solved_now and self._on_solved is not None:
            self._on_solved()

    def take_episodes(self) -> list[Episode]:
        """Episodes finished since the last call (for the CSV and TensorBoard)."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def mean_return(self) -> float | None:
        """Mean return of the last (up to) 100 episodes, None before the first."""
        with self._lock:
            return float(np.mean(self.recent_returns)) if self.recent_returns else None

    def mean_length(self) -> float | None:
        """Mean length of the last (up to) 100 episodes recorded in this run."""
        with self._lock:
            return float(np.mean(self.recent_lengths)) if self.recent_lengths else None

    @property
    def solved(self) -> bool:
        """Whether the rolling mean has reached the threshold."""
        return self.solved_seconds is not None


class MetricAccumulator:
    """Sums scalar metrics reported by many threads; the logger drains their means."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sums: dict[str, float] = collections.defaultdict(float)
        self._counts: dict[str, int] = collections.defaultdict(int)
        self._maxima: dict[str, float] = {}

    def add(self, values: dict[str, float]) -> None:
        """Adds one observation of each named value."""
        with self._lock:
            for name, value in values.items():
                self._sums[name] += float(value)
                self._counts[name] += 1

    def add_max(self, name: str, value: float) -> None:
        """Tracks the maximum of `name` over the interval."""
        with self._lock:
            self._maxima[name] = max(self._maxima.get(name, float("-inf")), float(value))

    def count(self, name: str) -> int:
        """How many observations of `name` have been added since the last drain."""
        with self._lock:
            return self._counts.get(name, 0)

    def drain(self) -> tuple[dict[str, float], dict[str, int]]:
        """Means (and maxima as `<name>_max`) since the last drain, with their counts."""
        with self._lock:
            means = {name: self._sums[name] / self._counts[name] for name in self._sums}
            means.update({f"{name}_max": value for name, value in self._maxima.items()})
            counts = dict(self._counts)
            self._sums.clear()
            self._counts.clear()
            self._maxima.clear()
        return means, counts
