"""Validated training configurations, with the tutorial's values as documented defaults.

Configs are frozen dataclasses: build one with keyword arguments (or
`dataclasses.replace`), and it checks itself on construction, raising
`ConfigError` with a one-line message that names the field and its allowed range.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tfa3c.errors import ConfigError
from tfa3c.numerics import NON_FINITE_MODES
from tfa3c.policies.encoder_names import ENCODERS
from tfa3c.policies.network_options import NetworkOptions
from tfa3c.tf_runtime import cpu_count

# Where A3C's workers and GA3C's agents run (`tfa3c.hosting`).
HOSTINGS = ("threads", "processes", "ray")


def _check(condition: bool, name: str, value: object, allowed: str) -> None:
    if not condition:
        raise ConfigError(f"invalid {name}={value!r}: must be {allowed}")


@dataclass(frozen=True)
class TrainConfig:
    """Options shared by A3C and GA3C.

    Attributes:
        env_id: Gymnasium environment id; `package.module:EnvId-v0` imports the module
            (which registers the id) first, as `gymnasium.make` does.
        env_kwargs: Keyword arguments for the environment (`gymnasium.make(env_id,
            **env_kwargs)`).
        seed: Seed for environments, action sampling and network initialization.
        max_steps: Stop after this many environment steps (None: no limit).
        max_seconds: Stop after this many seconds of training (None: no limit).
        stop_when_solved: Stop once the mean return of the last 100 episodes reaches
            `target_return`.
        target_return: The mean return over 100 episodes that counts as solved (None:
            the environment's `reward_threshold`; environments without one, such as
            Pendulum-v1, are then never "solved").
        gamma: Discount factor, in (0, 1].
        reward_scale: Rewards are multiplied by this before returns and advantages
            are built (the tutorial's REWARD_FACTOR, applied consistently to both), and
            before `normalize_rewards` divides them.
        clip_rewards: Clip the rewards the loss sees to their sign (-1, 0, 1), as the
            DQN and A3C papers did on Atari; on by default for pixel observations
            (`tfa3c.algorithms.presets`). Episode returns stay the game's score.
        normalize_rewards: Divide rewards by a running estimate of the discounted
            return's standard deviation (`tfa3c.policies.normalization.RewardNormalizer`, as
            SB3's VecNormalize), so returns have about unit spread on any environment.
            Its statistics are saved in checkpoints. The episode returns that are
            logged and that decide "solved" are always the environment's own.
        normalize_observations: Standardize observations by a running mean and variance
            updated from the observations the actors see, inside the network (so
            checkpoints and exports carry the statistics, and a served policy takes raw
            observations).
        value_coef: Weight of the value loss.
        entropy_coef: Weight of the entropy bonus.
        clip_norm: Gradients are clipped to this global norm (None: no clipping).
        logdir: Run folder for TensorBoard events, the episode CSV and checkpoints
            (None: `runs/<algo>_<env>_<seed>_<timestamp>/`).
        resume: Continue from the newest checkpoint in `logdir`.
        log_interval: Seconds between progress lines and TensorBoard writes.
        checkpoint_interval: Seconds between periodic checkpoints (a final one is
            always written).
        keep_checkpoints: How many checkpoints to keep.
        progress_bar: "auto" (a bar on a terminal, lines otherwise), "bar", "lines"
            or "none".
        encoder: The policy's encoder (`tfa3c.policies.encoders`): "mlp", "lstm" or
            "mlp-lstm" for flat observations, "cnn", "nature-cnn" or "cnn-lstm" for
            images, independent of the algorithm. A3C's default is the tutorial's LSTM,
            GA3C's the paper's dense layer; for images, both take the A3C paper's "cnn".
        hidden_sizes: Units of the MLP layers ("mlp" and "mlp-lstm"; the convolutional
            encoders have their papers' fixed layers).
        lstm_units: LSTM cells ("lstm", "mlp-lstm" and "cnn-lstm").
        lstm_cell_clip: Bound on the LSTM's cell state (None: unbounded, as the
            tutorial). Over long episodes an unbounded cell state drifts and saturates.
        tf_threads: Threads each TensorFlow op may use (intra-op parallelism). None:
            every core for image observations, where convolutions are the work, and
            the algorithm's choice for vectors, where per-call overhead is (GA3C: 1).
            Measured for GA3C on Pong, 2 cores, 40 s: 2,008 env steps/s with 2 threads
            against 1,783 with 1.
        hosting: Where A3C's workers and GA3C's agents run (`tfa3c.hosting`):
            "threads" of this process (one interpreter lock), "processes" of this
            machine, or "ray" actors on a Ray cluster. The learner, GA3C's predictors
            and trainers, the logs and checkpoints stay in this process.
        ray_address: The Ray cluster to join with hosting "ray" (`auto`, or the head
            node's `host:port`); None starts a local Ray instance for the run.
        non_finite: What a non-finite observation or reward from the environment does:
            "error" stops the run, naming the role, the environment and the step;
            "skip" ends that episode, drops the transition and counts it (for
            simulators that emit NaN knowingly; SB3's VecCheckNan warns instead).
        max_skipped_updates: Optimizer steps in a row that may be skipped for a
            non-finite loss or gradient before the run stops (`tfa3c.numerics`).
    """

    env_id: str = "CartPole-v1"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    max_steps: int | None = None
    max_seconds: float | None = None
    stop_when_solved: bool = True
    target_return: float | None = None
    gamma: float = 0.99
    reward_scale: float = 1.0
    clip_rewards: bool = False
    normalize_rewards: bool = True
    normalize_observations: bool = False
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    clip_norm: float | None = 40.0
    logdir: str | None = None
    resume: bool = False
    log_interval: float = 2.0
    checkpoint_interval: float = 300.0
    keep_checkpoints: int = 3
    progress_bar: str = "auto"
    encoder: str = "mlp"
    hidden_sizes: tuple[int, ...] = (16,)
    lstm_units: int = 16
    lstm_cell_clip: float | None = None
    tf_threads: int | None = None
    hosting: str = "threads"
    ray_address: str | None = None
    non_finite: str = "error"
    max_skipped_updates: int = 10

    algo: ClassVar[str] = "base"  # the key of `tfa3c.algorithms.presets.PRESETS`

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def for_env(cls, env_id: str = "CartPole-v1", **options: Any):
        """The config for `env_id`: its action kind's preset, then `options`.

        The dataclass defaults are the discrete-action ones; a Box action space takes
        the continuous preset (`tfa3c.algorithms.presets`) unless `options` set those fields.

        Example:
            >>> config = A3CConfig.for_env("Pendulum-v1", max_seconds=60)
            >>> config.encoder, config.hidden_sizes
            ('mlp', (64, 64))

        Raises:
            UserInputError: the environment cannot be made (ConfigError: a bad option).
        """
        from tfa3c.algorithms.presets import preset
        from tfa3c.env_spec import resolve_env

        kind = resolve_env(env_id, options.get("env_kwargs")).preset_kind
        return cls(env_id=env_id, **{**preset(cls.algo, kind), **options})

    def network_options(self) -> NetworkOptions:
        """The policy network this configuration asks for (`tfa3c.policies.build_policy`)."""
        return NetworkOptions(encoder=self.encoder, hidden_sizes=tuple(self.hidden_sizes),
                              lstm_units=self.lstm_units, cell_clip=self.lstm_cell_clip,
                              seed=self.seed,
                              normalize_observations=self.normalize_observations)

    def replace(self, **changes: object):
        """Returns a copy with `changes` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Raises ConfigError for the first option out of range."""
        _check(isinstance(self.env_id, str) and bool(self.env_id), "env_id", self.env_id,
               "a gymnasium environment id")
        _check(isinstance(self.env_kwargs, dict)
               and all(isinstance(key, str) and key for key in self.env_kwargs),
               "env_kwargs", self.env_kwargs, "a dict of keyword arguments for the environment")
        _check(isinstance(self.seed, int) and self.seed >= 0, "seed", self.seed,
               "an integer >= 0")
        _check(self.max_steps is None or self.max_steps >= 1, "max_steps", self.max_steps,
               ">= 1 or None")
        _check(self.max_seconds is None or self.max_seconds > 0, "max_seconds",
               self.max_seconds, "> 0 or None")
        _check(self.target_return is None or math.isfinite(self.target_return),
               "target_return", self.target_return, "a finite number or None")
        _check(0.0 < self.gamma <= 1.0, "gamma", self.gamma, "in (0, 1]")
        _check(math.isfinite(self.reward_scale) and self.reward_scale > 0, "reward_scale",
               self.reward_scale, "> 0")
        _check(self.value_coef >= 0, "value_coef", self.value_coef, ">= 0")
        _check(self.entropy_coef >= 0, "entropy_coef", self.entropy_coef, ">= 0")
        _check(self.clip_norm is None or self.clip_norm > 0, "clip_norm", self.clip_norm,
               "> 0 or None")
        _check(self.log_interval > 0, "log_interval", self.log_interval, "> 0")
        _check(self.checkpoint_interval > 0, "checkpoint_interval", self.checkpoint_interval,
               "> 0")
        _check(self.keep_checkpoints >= 1, "keep_checkpoints", self.keep_checkpoints, ">= 1")
        _check(self.progress_bar in ("auto", "bar", "lines", "none"), "progress_bar",
               self.progress_bar, "one of auto, bar, lines, none")
        _check(not (self.resume and self.logdir is None), "resume", self.resume,
               "used together with logdir (the run folder holding the checkpoints)")
        _check(self.encoder in ENCODERS, "encoder", self.encoder,
               f"one of {', '.join(ENCODERS)}")
        _check(len(self.hidden_sizes) >= 1
               and all(isinstance(s, int) and s >= 1 for s in self.hidden_sizes),
               "hidden_sizes", self.hidden_sizes, "one or more layer sizes >= 1")
        _check(isinstance(self.lstm_units, int) and self.lstm_units >= 1, "lstm_units",
               self.lstm_units, "an integer >= 1")
        _check(self.lstm_cell_clip is None or self.lstm_cell_clip > 0, "lstm_cell_clip",
               self.lstm_cell_clip, "> 0 or None")
        _check(self.tf_threads is None or (isinstance(self.tf_threads, int)
                                           and self.tf_threads >= 1),
               "tf_threads", self.tf_threads, "an integer >= 1 or None")
        _check(self.hosting in HOSTINGS, "hosting", self.hosting,
               f"one of {', '.join(HOSTINGS)}")
        _check(self.ray_address is None or (self.hosting == "ray" and bool(self.ray_address)),
               "ray_address", self.ray_address,
               "given only with hosting 'ray' (auto, or the head node's host:port)")
        _check(self.non_finite in NON_FINITE_MODES, "non_finite", self.non_finite,
               f"one of {', '.join(NON_FINITE_MODES)}")
        _check(isinstance(self.max_skipped_updates, int) and self.max_skipped_updates >= 1,
               "max_skipped_updates", self.max_skipped_updates, "an integer >= 1")


@dataclass(frozen=True)
class A3CConfig(TrainConfig):
    """A3C options; defaults are the tutorial's (LSTM 16, 40-step rollouts, Adam), but for the rate.

    Options the tutorial did not have, or did not fix, are set from runs on CartPole-v1
    (seeds 0-4; see benchmarks/RESULTS.md). A worker steps 16 environments and acts on
    all of them in one NumPy pass, but trains on each environment's 40 steps as its own
    update (`envs_per_update` 1), as the tutorial's one-environment workers did: Adam's
    step is bounded by the learning rate, so progress goes with the number of updates.
    Median time to solve: 9 s with one update per environment, 13 s per 4, 28 s per
    16 (one update per rollout). Unscaled rewards let the value loss dominate the shared
    LSTM (no seed passed a mean return of 65 in 40 s); a fixed `reward_scale` of 0.01
    fixed that on CartPole, and `normalize_rewards` (the default) fixes it everywhere:
    with it, A3C solved Acrobot-v1 and Pendulum-v1 (seed 0), which 0.01 did not.
    Adam's rate is 2e-3 for discrete actions, against the tutorial's 5e-4: seed 0
    solved Acrobot-v1 in 15 s against 39 s, LunarLander-v3 in 62 s against 85 s, and
    CartPole-v1 (seeds 0-2) no slower. Continuous actions keep 5e-4 (`tfa3c.algorithms.presets`):
    Pendulum-v1 took 56 s at 2e-3 against 15 s.
    An entropy bonus of 0.01 slowed learning (12-22 s for seeds 0-2, against 9-11 s).
    `gae_lambda` 0.95 and the tutorial's plain 40-step advantages (1.0) both solve in
    a median of 9 s; 0.95 had the narrower spread (8-11 s against 8-15 s).
    Observations are normalized (`normalize_observations`), as SB3's zoo does for
    Acrobot and the continuous tasks: CartPole-v1 seeds 0-2 solved in 3.0-4.0 s against
    4.8-7.1 s, Acrobot-v1 seeds 0-1 in 10-12 s against 15-18 s, LunarLander-v3 in
    29-37 s against 57 s. Pendulum-v1 was slower with it (23-26 s against 15-18 s), so
    the continuous preset turns it off. GA3C keeps it off: its dense relu policy
    collapsed to a deterministic one on Acrobot-v1 within 2 s (entropy 0.2) with it.

    Attributes:
        workers: Worker threads (default: the number of CPUs).
        envs_per_worker: Environments each worker steps in lockstep. The network acts
            on all of them in one batched forward pass, which is where the speed
            comes from (per-call overhead, not arithmetic, dominates here).
        envs_per_update: Environments whose part of a rollout makes one gradient and
            one optimizer step. A worker's environments act together, then train as
            groups of this many, one update each, applied one after another: more
            updates per env step, as the tutorial's one-environment workers made,
            without their per-step acting cost.
        n_steps: Rollout length: steps per environment between updates.
        gae_lambda: Generalized advantage estimation's lambda; 1.0 gives the
            tutorial's plain n-step advantages, lower values trade bias for variance.
        normalize_advantages: Standardize each update's advantages (zero mean, unit
            std) so that the policy gradient's scale, and its balance with the
            entropy bonus, do not depend on the reward scale.
        learning_rate: Adam learning rate.
        adam_epsilon: Adam epsilon.
    """

    algo: ClassVar[str] = "a3c"

    workers: int = field(default_factory=cpu_count)
    envs_per_worker: int = 16
    envs_per_update: int = 1
    entropy_coef: float = 0.0
    normalize_observations: bool = True
    gae_lambda: float = 0.95
    normalize_advantages: bool = False
    n_steps: int = 40
    encoder: str = "lstm"
    learning_rate: float = 2e-3
    adam_epsilon: float = 1e-7

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _check(self.workers >= 1, "workers", self.workers, ">= 1")
        _check(self.envs_per_worker >= 1, "envs_per_worker", self.envs_per_worker, ">= 1")
        _check(self.envs_per_update >= 1, "envs_per_update", self.envs_per_update, ">= 1")
        _check(self.n_steps >= 1, "n_steps", self.n_steps, ">= 1")
        _check(0.0 <= self.gae_lambda <= 1.0, "gae_lambda", self.gae_lambda, "in [0, 1]")
        _check(self.learning_rate > 0, "learning_rate", self.learning_rate, "> 0")
        _check(self.adam_epsilon > 0, "adam_epsilon", self.adam_epsilon, "> 0")


@dataclass(frozen=True)
class GA3CConfig(TrainConfig):
    """GA3C options; defaults are the tutorial's (dense 16 relu, 8-step returns, RMSprop 1e-2).

    Attributes:
        agents: Agent threads.
        envs_per_agent: Environments each agent steps; one prediction request
            carries all of their observations.
        predictors: Predictor threads.
        trainers: Trainer threads.
        max_prediction_batch: Most observations a predictor answers in one forward pass.
        min_batch: Experiences a trainer gathers before one training step.
        max_batch: Most experiences one training step takes: beyond `min_batch`, a
            trainer also takes what else is waiting, up to this many (whole rollouts,
            so a batch may pass it by less than one rollout). Fewer experiences per
            step mean more optimizer steps per experience.
        n_steps: Steps of experience per environment in one n-step return.
        learning_rate: RMSprop learning rate.
        rho: RMSprop decay.
        rms_epsilon: RMSprop epsilon.
        epsilon_start: Exploration probability at the start (uniform random action).
        epsilon_end: Exploration probability after `epsilon_steps` frames.
        epsilon_steps: Frames over which epsilon decays linearly.
        exploration: Use the epsilon schedule on top of sampling from the policy
            (discrete actions only: a Gaussian policy explores through its own
            standard deviation, and the epsilon options do nothing there).
        log_epsilon: The loss uses log(pi + log_epsilon), so that stale actions with
            vanishing probability never give infinite log-probabilities.
        devices: Devices for the trainer's `tf.distribute` strategy, e.g.
            ("/gpu:0", "/gpu:1"); None picks every visible GPU, else the CPU.
    """

    algo: ClassVar[str] = "ga3c"

    agents: int = 4
    envs_per_agent: int = 16
    predictors: int = 1
    trainers: int = 1
    max_prediction_batch: int = 256
    min_batch: int = 32
    max_batch: int = 4096
    n_steps: int = 8
    learning_rate: float = 1e-2
    rho: float = 0.99
    rms_epsilon: float = 1e-7
    epsilon_start: float = 0.4
    epsilon_end: float = 0.15
    epsilon_steps: int = 75_000
    exploration: bool = True
    log_epsilon: float = 1e-6
    devices: tuple[str, ...] | None = None
    # CartPole's returns reach ~100 at gamma 0.99: unscaled, the value loss dominates the
    # 16-unit shared torso and RMSprop 1e-2 oscillates (runs collapsed after reaching
    # ~250 and needed 440k steps). A fixed reward_scale of 0.1 fixed CartPole but not
    # Acrobot (mean return -500 after 300 s); normalize_rewards (the default) solves both.
    clip_norm: float | None = None

    def validate(self) -> None:  # noqa: D102
        super().validate()
        for name in ("agents", "envs_per_agent", "predictors", "trainers",
                     "max_prediction_batch", "min_batch", "max_batch", "n_steps"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value >= 1, name, value, "an integer >= 1")
        _check(self.max_batch >= self.min_batch, "max_batch", self.max_batch,
               f">= min_batch ({self.min_batch})")
        _check(self.learning_rate > 0, "learning_rate", self.learning_rate, "> 0")
        _check(0.0 <= self.rho < 1.0, "rho", self.rho, "in [0, 1)")
        _check(self.rms_epsilon > 0, "rms_epsilon", self.rms_epsilon, "> 0")
        _check(0.0 <= self.epsilon_start <= 1.0, "epsilon_start", self.epsilon_start,
               "in [0, 1]")
        _check(0.0 <= self.epsilon_end <= 1.0, "epsilon_end", self.epsilon_end, "in [0, 1]")
        _check(self.epsilon_steps >= 1, "epsilon_steps", self.epsilon_steps, ">= 1")
        _check(0.0 <= self.log_epsilon < 1.0, "log_epsilon", self.log_epsilon, "in [0, 1)")
        _check(self.devices is None or len(self.devices) >= 1, "devices", self.devices,
               "a non-empty list of device names, e.g. /gpu:0,/gpu:1")
