"""What a group of environments stepped in lockstep gives back, and what every such group shares.

Two kinds of group exist: `tfa3c.envs.EnvironmentGroup` (any gymnasium id, a plain
loop) and `tfa3c.atari.AtariGroup` (ale-py's C++ vector environment). Both return a
`Transition` per step and share the episode bookkeeping and the checks of what the
environments return (`SteppedTogether`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from tfa3c.numerics import EnvironmentOutputError, logger, non_finite_entries


@dataclass
class Transition:
    """What one lockstep step of an EnvironmentGroup gives back (arrays over environments).

    Attributes:
        observations: Observations to act on next (after automatic resets).
        rewards: Rewards of the step.
        terminated: The episode ended in a terminal state: bootstrap from 0.
        truncated: The episode was cut (time limit): bootstrap from V(final observation).
        final_observations: For each truncated environment, the observation it was cut
            at (rows align with `np.flatnonzero(truncated)`).
        episode_returns: Undiscounted returns of the episodes that ended this step.
        episode_lengths: Lengths of the episodes that ended this step.
        skipped: Transitions dropped for a non-finite observation or reward (with
            `non_finite="skip"`): their episodes were cut there and are not counted.
    """

    observations: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_observations: np.ndarray
    episode_returns: list[float]
    episode_lengths: list[int]
    skipped: int = 0


class SteppedTogether:
    """What every group of environments stepped in lockstep shares.

    Its spaces, the returns and lengths of its running episodes, and the checks of what
    the environments return. Subclasses set `observation_space`, `action_space`,
    `action_spec` and `observations` and call `_start_counting(num_envs)`; `step`
    returns a `Transition`.
    """

    observation_space: gym.Space
    action_spec: Any
    env_id: str
    name = "environments"  # the role stepping them (`make_group`)
    non_finite = "error"

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """Shape of one observation."""
        return tuple(self.observation_space.shape)

    @property
    def num_actions(self) -> int:
        """Number of discrete actions, or of action dimensions for a Box."""
        return self.action_spec.size

    def _start_counting(self, num_envs: int) -> None:
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self.steps_taken = 0  # steps of each environment since the group was made
        self.skipped = 0  # transitions dropped for non-finite values (non_finite="skip")

    def _count(self, rewards: np.ndarray, done: np.ndarray,
               dropped: np.ndarray | None = None) -> tuple[list[float], list[int]]:
        """Adds a step's rewards; returns and restarts the episodes that ended (`done`).

        Episodes cut for a non-finite value (`dropped`) restart without being counted.
        """
        self._returns += rewards
        self._lengths += 1
        counted = done if dropped is None else done & ~dropped
        returns, lengths = self._returns[counted].tolist(), self._lengths[counted].tolist()
        self._returns[done] = 0.0
        self._lengths[done] = 0
        return returns, lengths

    def _where(self, index: int) -> str:
        return (f"{self.name}: environment {index} of {len(self._lengths)} ({self.env_id}) "
                f"at its step {self.steps_taken}")

    def _non_finite(self, observations: np.ndarray, rewards: np.ndarray) -> np.ndarray | None:
        """The environments whose observation or reward is not finite, or None (the usual).

        The common case costs one sum per array (about a microsecond a step): a NaN or
        an infinity anywhere makes it non-finite. (So does a sum beyond the dtype's
        range, or +inf and -inf together; the exact check then decides.) A sum, not a
        dot product: NumPy's dot hands the interpreter lock back even for a few values,
        and with actors on threads every hand-back is a wait to take it again. uint8
        frames need no check.

        Raises:
            EnvironmentOutputError: with `non_finite="error"`, naming the first such
                environment.
        """
        floats = observations.dtype.kind == "f"
        total = float(np.add.reduce(rewards))
        if floats:
            total += float(np.add.reduce(observations.reshape(-1)))
        if math.isfinite(total):
            return None
        rows = observations.reshape(len(observations), -1)
        bad_observations = (~np.isfinite(rows)).any(axis=1) if floats else np.zeros(
            len(rows), bool)
        bad = bad_observations | ~np.isfinite(rewards)
        if not bad.any():  # large, but finite
            return None
        if self.non_finite == "error":
            index = int(np.flatnonzero(bad)[0])
            what = []
            if bad_observations[index]:
                what.append(f"observation ({non_finite_entries(rows[index])})")
            if not np.isfinite(rewards[index]):
                what.append(f"reward ({rewards[index]})")
            raise EnvironmentOutputError(
                f"{self._where(index)} returned a non-finite {' and '.join(what)}; training "
                "stops on non-finite values (--non-finite skip ends such an episode and "
                "drops the transition instead)")
        return bad

    def _skip(self, bad: np.ndarray) -> None:
        """Counts and logs the transitions `non_finite="skip"` drops."""
        count = int(bad.sum())
        self.skipped += count
        for index in np.flatnonzero(bad):
            logger.warning("%s returned a non-finite observation or reward: episode ended, "
                           "transition skipped (%d skipped in all)", self._where(int(index)),
                           self.skipped)
