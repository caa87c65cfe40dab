"""What each algorithm changes per action kind: overrides of its config's defaults, named.

A config's dataclass defaults (`tfa3c.algorithms.config`) are the discrete-action ones
(the design card's: A3C an LSTM of 16, GA3C a dense layer of 16), so discrete actions
take no preset. Continuous control needs a wider network: a 16-unit torso cannot
represent Pendulum's or LunarLanderContinuous' value function well enough to steer a
Gaussian. Pixels take the papers' Atari settings. `A3CConfig.for_env` and
`GA3CConfig.for_env`, the CLI and `A3C(env_id=...)` apply the preset of the
environment's kind (`tfa3c.env_spec.EnvSpec.preset_kind`) first, then the options given
explicitly, which always win. A preset holds overrides only, never a default; nothing
here names an environment.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

# The values of `tfa3c.env_spec.EnvSpec.preset_kind`, spelt out here so that the CLI's
# help reads them without importing gymnasium (tests/test_env_spec.py checks they agree).
DISCRETE = "discrete"
CONTINUOUS = "continuous"
PIXELS = "pixels"  # image observations (Atari), whatever the actions
# How the CLI's help names each kind beside a default it changes.
KIND_NAMES = {DISCRETE: "discrete actions", CONTINUOUS: "continuous actions",
              PIXELS: "pixels"}

Preset = MappingProxyType  # read-only: a preset is shared by every config built from it

# The dataclass defaults, unchanged.
NO_CHANGES: Preset = Preset({})

# Measured with normalized rewards: two relu layers of 64 solved Pendulum-v1 (-200),
# where 16 units did not. A3C's discrete rate of 2e-3 took 56 s there (seed 0) against
# 15 s at the tutorial's 5e-4, which stays for continuous actions. Observations are
# standardized (A3C's default), as the peer's VecNormalize does for MuJoCo: Walker2d-v5
# (seed 0) without it rose to 300 and fell back to about 100 for good; with it, it passed
# 1,100 within 1.3M env steps.
A3C_CONTINUOUS: Preset = Preset({
    "encoder": "mlp", "hidden_sizes": (64, 64), "learning_rate": 5e-4})

# The continuous-control settings of rl-baselines3-zoo's A2C (RMSprop 7e-4, gradients
# clipped to 0.5, GAE lambda 0.9, which is V-trace's lambda here, no entropy bonus) on
# GA3C's two relu layers of 64. LunarLanderContinuous-v3 (seed 0, 300 s): solved in 179 s,
# where the earlier RMSprop 3e-3 with the entropy bonus rose to about 150 with V-trace and
# did not solve, and without V-trace reached 178 and fell to -138 (the collapse); 3e-4 rose
# more slowly (120 at 300 s). Pendulum-v1 (seeds 0-1): 15-16 s against 9-17 s.
# (benchmarks/plans/continuous.json; RESULTS.md, "Choosing the defaults".)
GA3C_CONTINUOUS: Preset = Preset({
    "hidden_sizes": (64, 64), "learning_rate": 7e-4, "clip_norm": 0.5, "gae_lambda": 0.9,
    "entropy_coef": 0.0, "normalize_observations": True})

# The A3C paper's Atari settings: its convolutional network, 5-step returns, rewards
# clipped to their sign (so no reward normalization), raw advantages, an entropy bonus of
# 0.01, and gradients clipped to a global norm of 40. The frames are scaled inside the network
# (no observation statistics).
A3C_PIXELS: Preset = Preset({
    "encoder": "cnn", "n_steps": 5, "envs_per_update": 16, "learning_rate": 5e-4,
    "adam_epsilon": 1e-5, "entropy_coef": 0.01, "gae_lambda": 1.0, "clip_rewards": True,
    "normalize_rewards": False, "normalize_observations": False, "lstm_units": 256,
    "normalize_advantages": False})

# GA3C on common tuned A2C settings (RMSprop 7e-4, epsilon 1e-5, value weight
# 0.25, gradients clipped to 0.5 on the mean loss), updates of 80 experiences (16
# sequences of 5 steps). Two agents of 64 games each: an agent's round trip costs about
# the same for 64 games as for 16, so ALE/Pong-v5 (seed 0) ran at 2.1-2.5k agent steps/s
# against 1.9k, and its rollouts of 320, split into updates of 80, cost no samples there:
# a mean of -15 over 20 games at 3.78M agent steps against 3.64M with 16 games, in 28
# minutes against 37 (benchmarks/RESULTS.md, "Pong in 30 minutes"). The entropy bonus,
# 0.01, is GA3C's default already, and so is sampling without an epsilon schedule.
GA3C_PIXELS: Preset = Preset({
    "encoder": "cnn", "n_steps": 5, "learning_rate": 7e-4, "rms_epsilon": 1e-5,
    "value_coef": 0.25, "clip_norm": 0.5, "clip_rewards": True,
    "normalize_rewards": False, "agents": 2, "envs_per_agent": 64, "min_batch": 80,
    "max_batch": 80, "lstm_units": 256})

# Every algorithm's preset for every action kind (`preset`); a new algorithm adds its row.
PRESETS: dict[tuple[str, str], Preset] = {
    ("a3c", DISCRETE): NO_CHANGES,
    ("a3c", CONTINUOUS): A3C_CONTINUOUS,
    ("a3c", PIXELS): A3C_PIXELS,
    ("ga3c", DISCRETE): NO_CHANGES,
    ("ga3c", CONTINUOUS): GA3C_CONTINUOUS,
    ("ga3c", PIXELS): GA3C_PIXELS,
}


def preset(algo: str, kind: str) -> dict[str, Any]:
    """The options `algo` uses for `kind` of actions beyond its dataclass defaults."""
    return dict(PRESETS[(algo, kind)])


def presets_of(algo: str) -> dict[str, dict[str, Any]]:
    """`algo`'s presets by action kind (the CLI's help shows what each changes)."""
    return {kind: dict(values) for (name, kind), values in PRESETS.items() if name == algo}
