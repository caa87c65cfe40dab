"""The action space as tfa3c's policies see it: its kind, sizes and bounds (no TensorFlow).

`action_spec` reads a gymnasium action space into an `ActionSpec`: categorical for
`Discrete`, one categorical per dimension for `MultiDiscrete`, diagonal Gaussian for a
bounded 1-D `Box`. The environments (`tfa3c.envs`) and the policies
(`tfa3c.policies`) both read it; the distributions' math is in
`tfa3c.policies.distributions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from tfa3c.errors import EnvironmentSpecError

CATEGORICAL = "categorical"
MULTI_CATEGORICAL = "multi_categorical"
GAUSSIAN = "gaussian"
KINDS = (CATEGORICAL, MULTI_CATEGORICAL, GAUSSIAN)
DISCRETE_KINDS = (CATEGORICAL, MULTI_CATEGORICAL)


@dataclass(frozen=True)
class ActionSpec:
    """What a policy head needs to know of an action space.

    Attributes:
        kind: `categorical`, `multi_categorical` or `gaussian`.
        size: number of actions (categorical) or action dimensions (the others).
        low: per-dimension lower bounds (Gaussian), else empty.
        high: per-dimension upper bounds (Gaussian), else empty.
        nvec: actions per dimension (multi-categorical), else empty.
    """

    kind: str
    size: int
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    nvec: tuple[int, ...] = ()

    @property
    def params_size(self) -> int:
        """Width of the distribution's parameters: logits, or `[mean, log_std]`."""
        if self.kind == CATEGORICAL:
            return self.size
        return sum(self.nvec) if self.kind == MULTI_CATEGORICAL else 2 * self.size

    @property
    def action_shape(self) -> tuple[int, ...]:
        """Shape of one action: `()` for categorical, `(size,)` for the others."""
        return () if self.kind == CATEGORICAL else (self.size,)

    @property
    def discrete(self) -> bool:
        """Whether actions are integers (categorical or multi-categorical)."""
        return self.kind in DISCRETE_KINDS

    def describe(self) -> str:
        """The action space as gymnasium prints it (for messages and metadata)."""
        if self.kind == CATEGORICAL:
            return f"Discrete({self.size})"
        if self.kind == MULTI_CATEGORICAL:
            return f"MultiDiscrete({list(self.nvec)})"
        return f"Box({list(self.low)}, {list(self.high)}, ({self.size},), float32)"


def action_spec(env_id: str, space: gym.Space) -> ActionSpec:
    """The distribution for `space`.

    Raises:
        EnvironmentSpecError: a space neither distribution covers.
    """
    if isinstance(space, gym.spaces.Discrete):
        if int(space.start) != 0:
            raise EnvironmentSpecError(
                f"{env_id} has action space {space} starting at {space.start}; tfa3c supports "
                "Discrete action spaces starting at 0")
        return ActionSpec(CATEGORICAL, int(space.n))
    if isinstance(space, gym.spaces.MultiDiscrete) and len(space.shape) == 1:
        if np.any(np.asarray(space.start) != 0):
            raise EnvironmentSpecError(
                f"{env_id} has action space {space} starting at {space.start}; tfa3c supports "
                "MultiDiscrete action spaces starting at 0")
        nvec = tuple(int(n) for n in space.nvec)
        return ActionSpec(MULTI_CATEGORICAL, len(nvec), nvec=nvec)
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise EnvironmentSpecError(
                f"{env_id} has action space {space} with unbounded dimensions; continuous "
                "actions need finite bounds (actions are clipped to them)")
        return ActionSpec(GAUSSIAN, int(space.shape[0]), tuple(low.tolist()),
                          tuple(high.tolist()))
    raise EnvironmentSpecError(
        f"{env_id} has action space {space}; tfa3c supports Discrete (categorical policy), "
        "1-D MultiDiscrete (one categorical per dimension) and 1-D Box with finite bounds "
        "(Gaussian policy)")


def clip(spec: ActionSpec, actions: np.ndarray) -> np.ndarray:
    """Actions as the environment takes them: Gaussian samples clipped to the bounds."""
    if spec.discrete:
        return actions
    return np.clip(actions, spec.low, spec.high).astype(np.float32)
