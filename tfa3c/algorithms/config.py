"""Validated training configurations, grouped by concern, each default stated once.

A config is a frozen dataclass assembled from small groups of options, one per concern:

- `EnvironmentOptions` ("environment"): which environment, made how.
- `ModelOptions` ("network"): the policy network (`tfa3c.policies.build_policy`).
- `LearningOptions` ("loss and optimizer"): returns, the loss and the optimizer.
- `RunOptions` ("run"): seeds, budgets, the run folder, logs, checkpoints, non-finite values.
- `HostingOptions` ("hosting"): where the roles run and with how many threads.

`A3CConfig` and `GA3CConfig` add their algorithm's own groups (`A3CLearning`,
`A3CHosting`, `GA3CLearning`, `GA3CExploration`, `GA3CHosting`) by inheritance. The
fields stay flat (`config.encoder`, `config.workers`), the constructor takes them as
keywords, and `dataclasses.asdict` writes them as one flat dict (a run's `config.json`).
`groups()` lists each group's fields; the CLI builds its argument groups and help from
it, and from each field's metadata (`option`).

The dataclass fields hold the defaults: the design card's (the tutorial's) for discrete
actions, changed only where a measured run said so.
`tfa3c.algorithms.presets` holds what other action kinds change, and nothing else does:
the CLI and the examples take their defaults from here.

A config checks itself on construction, raising `ConfigError` with a one-line message
that names the field and its allowed range.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tfa3c.errors import ConfigError
from tfa3c.numerics import NON_FINITE_MODES
from tfa3c.policies.encoder_names import ENCODERS, PIXEL_ENCODERS
from tfa3c.policies.network_options import FLOAT32, PRECISIONS, NetworkOptions
from tfa3c.tf_runtime import cpu_count

# Where A3C's workers and GA3C's agents run (`tfa3c.hosting`).
HOSTINGS = ("threads", "processes", "ray")
PROGRESS_BARS = ("auto", "bar", "lines", "none")
# How GA3C's learner corrects for the policy lag (`GA3CLearning.correction`).
CORRECTIONS = ("vtrace", "none")


def option(default: Any = None, text: str = "", *, factory: Callable[[], Any] | None = None,
           flag: str | None = None, choices: tuple[str, ...] | None = None,
           unset: str | None = None) -> Any:
    """A config field with its one default and what the command line says about it.

    Args:
        default: The default value (ignored when `factory` is given).
        text: A short description for `--help` (the class docstring has the long one).
        factory: Makes the default (for mutable or machine-dependent defaults).
        flag: The command-line flag, when it is not `--` and the name with dashes.
        choices: The allowed values, for the command line.
        unset: What a default of None (or the factory's value) means, for `--help`.
    """
    metadata = {"text": text, "flag": flag, "choices": choices, "unset": unset}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def override(group: type, name: str, default: Any) -> Any:
    """`group`'s field `name` with another default, for one algorithm.

    The field keeps its group, its description and its flag; only the default changes.
    """
    return field(default=default, metadata=group.__dataclass_fields__[name].metadata)


def field_default(config_class: type, name: str) -> Any:
    """The default of `config_class`'s field `name` (calling its factory, if any)."""
    found = config_class.__dataclass_fields__[name]
    if found.default is not dataclasses.MISSING:
        return found.default
    return found.default_factory()


def _check(condition: bool, name: str, value: object, allowed: str) -> None:
    if not condition:
        raise ConfigError(f"invalid {name}={value!r}: must be {allowed}")


def _check_positive_ints(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        _check(isinstance(value, int) and value >= 1, name, value, "an integer >= 1")


@dataclass(frozen=True)
class OptionGroup:
    """Options of one concern; a config inherits one group per concern.

    Each group checks its own fields in `validate`, then hands on to the next group
    (`super().validate()` first), so a config checks every group it inherits.
    """

    title: ClassVar[str] = ""  # the command line's argument group

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raises ConfigError for the first option out of range."""


@dataclass(frozen=True)
class EnvironmentOptions(OptionGroup):
    """Which environment, made how.

    Attributes:
        env_id: Gymnasium environment id; `package.module:EnvId-v0` imports the module
            (which registers the id) first, as `gymnasium.make` does.
        env_kwargs: Keyword arguments for the environment (`gymnasium.make(env_id,
            **env_kwargs)`).
    """

    title: ClassVar[str] = "environment"

    env_id: str = option("CartPole-v1", "gymnasium environment id, or module:EnvId for "
                         "your own", flag="--env")
    env_kwargs: dict[str, Any] = option(  # noqa: RUF009 (a field, its default a factory)
        text="keyword arguments for the environment, e.g. length=8 (values are read as "
             "JSON where they are JSON, else as strings)", factory=dict, unset="none")

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _check(isinstance(self.env_id, str) and bool(self.env_id), "env_id", self.env_id,
               "a gymnasium environment id")
        _check(isinstance(self.env_kwargs, dict)
               and all(isinstance(key, str) and key for key in self.env_kwargs),
               "env_kwargs", self.env_kwargs, "a dict of keyword arguments for the environment")


@dataclass(frozen=True)
class ModelOptions(OptionGroup):
    """The policy network (`network_options()`, `tfa3c.policies.build_policy`).

    Attributes:
        encoder: The policy's encoder (`tfa3c.policies.encoders`): "mlp", "lstm" or
            "mlp-lstm" for flat observations, "cnn", "nature-cnn" or "cnn-lstm" for
            images, independent of the algorithm. A3C's default is the tutorial's LSTM,
            GA3C's the paper's dense layer; for images, both take the A3C paper's "cnn"
            (`tfa3c.algorithms.presets`).
        hidden_sizes: Units of the MLP layers ("mlp" and "mlp-lstm"; the convolutional
            encoders have their papers' fixed layers).
        lstm_units: LSTM cells ("lstm", "mlp-lstm" and "cnn-lstm").
        lstm_cell_clip: Bound on the LSTM's cell state (None: unbounded, as the
            tutorial). Over long episodes an unbounded cell state drifts and saturates.
        normalize_observations: Standardize observations by a running mean and variance
            updated from the observations the actors see, inside the network (so
            checkpoints and exports carry the statistics, and a served policy takes raw
            observations).
        precision: "float32", or "mixed_bfloat16": the convolutional encoders compute
            in bfloat16 (their variables stay float32; the LSTM and the heads stay
            float32). The gain needs a CPU with `avx512_bf16` or AMX (`lscpu`): there
            the A3C paper's network on 84x84 frames took 0.69x the time to predict and
            0.74x to train. Checkpoints are the same either way, and exports compute in
            float32.
    """

    title: ClassVar[str] = "network"

    encoder: str = option("mlp", "observation encoder", choices=ENCODERS)
    hidden_sizes: tuple[int, ...] = option((16,), "MLP layer sizes, comma separated")
    lstm_units: int = option(16, "LSTM cells")
    lstm_cell_clip: float | None = option(None, "bound on the LSTM cell state",
                                          unset="unbounded")
    normalize_observations: bool = option(
        False, "standardize observations by running statistics, inside the network")
    precision: str = option("float32", "the convolutions' compute dtype (exports: float32)",
                            choices=PRECISIONS)

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _check(self.encoder in ENCODERS, "encoder", self.encoder,
               f"one of {', '.join(ENCODERS)}")
        _check(len(self.hidden_sizes) >= 1
               and all(isinstance(s, int) and s >= 1 for s in self.hidden_sizes),
               "hidden_sizes", self.hidden_sizes, "one or more layer sizes >= 1")
        _check(isinstance(self.lstm_units, int) and self.lstm_units >= 1, "lstm_units",
               self.lstm_units, "an integer >= 1")
        _check(self.lstm_cell_clip is None or self.lstm_cell_clip > 0, "lstm_cell_clip",
               self.lstm_cell_clip, "> 0 or None")
        _check(self.precision in PRECISIONS, "precision", self.precision,
               f"one of {', '.join(PRECISIONS)}")
        _check(self.precision == FLOAT32 or self.encoder in PIXEL_ENCODERS, "precision",
               self.precision, f"float32 with encoder {self.encoder} (mixed_bfloat16 is for "
               f"{', '.join(PIXEL_ENCODERS)})")


@dataclass(frozen=True)
class LearningOptions(OptionGroup):
    """Returns and the loss, shared by both algorithms (each adds its optimizer).

    Attributes:
        gamma: Discount factor, in (0, 1].
        reward_scale: Rewards are multiplied by this before returns and advantages
            are built (the tutorial's REWARD_FACTOR, applied consistently to both), and
            before `normalize_rewards` divides them.
        clip_rewards: Clip the rewards the loss sees to their sign (-1, 0, 1), as the
            DQN and A3C papers did on Atari; on for pixel observations
            (`tfa3c.algorithms.presets`). Episode returns stay the game's score.
        normalize_rewards: Divide rewards by a running estimate of the discounted
            return's standard deviation (`tfa3c.policies.normalization.RewardNormalizer`,
            as SB3's VecNormalize), so returns have about unit spread on any
            environment. Its statistics are saved in checkpoints. The episode returns
            that are logged and that decide "solved" are always the environment's own.
            It replaced hand-picked reward scales (0.01 for A3C, 0.1 for GA3C) that
            solved CartPole-v1 but not Acrobot-v1.
        gae_lambda: Generalized advantage estimation's lambda (in GA3C, V-trace's lambda,
            which is GAE's when the policy has not moved); 1.0 gives the tutorial's
            plain n-step advantages, lower values trade bias for variance.
        value_coef: Weight of the value loss.
        entropy_coef: Weight of the entropy bonus.
        clip_norm: Gradients are clipped to this global norm (None: no clipping).
    """

    title: ClassVar[str] = "loss and optimizer"

    gamma: float = option(0.99, "discount")
    gae_lambda: float = option(1.0, "GAE lambda; 1 gives the tutorial's n-step advantages")
    reward_scale: float = option(1.0, "reward multiplier")
    clip_rewards: bool = option(
        False, "clip the rewards the loss sees to their sign; returns stay the game's")
    normalize_rewards: bool = option(
        True, "divide rewards by the running std of the discounted return")
    value_coef: float = option(0.5, "value loss weight")
    entropy_coef: float = option(0.01, "entropy bonus weight")
    clip_norm: float | None = option(40.0, "gradient clip norm", unset="no clipping")

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _check(0.0 < self.gamma <= 1.0, "gamma", self.gamma, "in (0, 1]")
        _check(0.0 <= self.gae_lambda <= 1.0, "gae_lambda", self.gae_lambda, "in [0, 1]")
        _check(math.isfinite(self.reward_scale) and self.reward_scale > 0, "reward_scale",
               self.reward_scale, "> 0")
        _check(self.value_coef >= 0, "value_coef", self.value_coef, ">= 0")
        _check(self.entropy_coef >= 0, "entropy_coef", self.entropy_coef, ">= 0")
        _check(self.clip_norm is None or self.clip_norm > 0, "clip_norm", self.clip_norm,
               "> 0 or None")


@dataclass(frozen=True)
class RunOptions(OptionGroup):
    """One run: seeds, budgets, its folder, logs, checkpoints, non-finite values.

    Attributes:
        seed: Seed for environments, action sampling and network initialization.
        max_steps: Stop after this many environment steps (None: no limit).
        max_seconds: Stop after this many seconds of training (None: no limit).
        stop_when_solved: Stop once the mean return of the last 100 episodes reaches
            `target_return`.
        target_return: The mean return over 100 episodes that counts as solved (None:
            the environment's `reward_threshold`; environments without one, such as
            Pendulum-v1, are then never "solved").
        logdir: Run folder for TensorBoard events, the episode CSV and checkpoints
            (None: `runs/<algo>_<env>_<seed>_<timestamp>/`).
        resume: Continue from the newest checkpoint in `logdir`.
        log_interval: Seconds between progress lines and TensorBoard writes.
        checkpoint_interval: Seconds between periodic checkpoints (a final one is
            always written).
        keep_checkpoints: How many checkpoints to keep.
        progress_bar: "auto" (a bar on a terminal, lines otherwise), "bar", "lines"
            or "none".
        non_finite: What a non-finite observation or reward from the environment does:
            "error" stops the run, naming the role, the environment and the step;
            "skip" ends that episode, drops the transition and counts it (for
            simulators that emit NaN knowingly; SB3's VecCheckNan warns instead).
        max_skipped_updates: Optimizer steps in a row that may be skipped for a
            non-finite loss or gradient before the run stops (`tfa3c.numerics`).
    """

    title: ClassVar[str] = "run"

    seed: int = option(0, "seeds environments, sampling and initialization")
    max_steps: int | None = option(None, "stop after this many environment steps",
                                   unset="no limit")
    max_seconds: float | None = option(None, "stop after this many seconds of training",
                                       unset="no limit")
    stop_when_solved: bool = option(
        True, "stop once the mean return over 100 episodes reaches the target return")
    target_return: float | None = option(
        None, "mean return over 100 episodes that counts as solved",
        unset="the environment's reward_threshold")
    logdir: str | None = option(
        None, "run folder: TensorBoard events, episodes.csv, checkpoints, config.json",
        unset="runs/<algo>_<env>_<seed>_<timestamp>/")
    resume: bool = option(False, "continue from the newest checkpoint in --logdir")
    log_interval: float = option(2.0, "seconds between progress lines")
    checkpoint_interval: float = option(300.0, "seconds between checkpoints")
    keep_checkpoints: int = option(3, "checkpoints to keep")
    progress_bar: str = option("auto", "progress display (auto: a bar on a terminal, lines "
                               "otherwise)", flag="--progress", choices=PROGRESS_BARS)
    non_finite: str = option(
        "error", "a NaN or infinite observation or reward from the environment: stop the "
        "run (error), or end that episode and skip the transition, counted and logged "
        "(skip)", choices=NON_FINITE_MODES)
    max_skipped_updates: int = option(
        10, "updates in a row skipped for a non-finite loss or gradient before the run "
        "stops")

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _check(isinstance(self.seed, int) and self.seed >= 0, "seed", self.seed,
               "an integer >= 0")
        _check(self.max_steps is None or self.max_steps >= 1, "max_steps", self.max_steps,
               ">= 1 or None")
        _check(self.max_seconds is None or self.max_seconds > 0, "max_seconds",
               self.max_seconds, "> 0 or None")
        _check(self.target_return is None or math.isfinite(self.target_return),
               "target_return", self.target_return, "a finite number or None")
        _check(self.log_interval > 0, "log_interval", self.log_interval, "> 0")
        _check(self.checkpoint_interval > 0, "checkpoint_interval", self.checkpoint_interval,
               "> 0")
        _check(self.keep_checkpoints >= 1, "keep_checkpoints", self.keep_checkpoints, ">= 1")
        _check(self.progress_bar in PROGRESS_BARS, "progress_bar", self.progress_bar,
               f"one of {', '.join(PROGRESS_BARS)}")
        _check(not (self.resume and self.logdir is None), "resume", self.resume,
               "used together with logdir (the run folder holding the checkpoints)")
        _check(self.non_finite in NON_FINITE_MODES, "non_finite", self.non_finite,
               f"one of {', '.join(NON_FINITE_MODES)}")
        _check(isinstance(self.max_skipped_updates, int) and self.max_skipped_updates >= 1,
               "max_skipped_updates", self.max_skipped_updates, "an integer >= 1")


@dataclass(frozen=True)
class HostingOptions(OptionGroup):
    """Where the roles run, shared by both algorithms (each adds its role counts).

    Attributes:
        hosting: Where A3C's workers and GA3C's agents run (`tfa3c.hosting`):
            "threads" of this process (one interpreter lock), "processes" of this
            machine, or "ray" actors on a Ray cluster. The learner, GA3C's predictors
            and trainers, the logs and checkpoints stay in this process.
        ray_address: The Ray cluster to join with hosting "ray" (`auto`, or the head
            node's `host:port`); None starts a local Ray instance for the run.
        tf_threads: Threads each TensorFlow op may use (intra-op parallelism). None:
            every core for image observations, where convolutions are the work, and
            the algorithm's choice for vectors, where per-call overhead is (GA3C: 1).
    """

    title: ClassVar[str] = "hosting"

    hosting: str = option("threads", "where workers (A3C) or agents (GA3C) run: threads of "
                          "this process, processes of this machine, or ray actors",
                          choices=HOSTINGS)
    ray_address: str | None = option(
        None, "with --hosting ray: the cluster to join (auto, or host:port of "
        "`ray start --head`)", unset="a local Ray for this run")
    tf_threads: int | None = option(None, "threads each TensorFlow op may use",
                                    unset="every core for images, the algorithm's choice "
                                          "for vectors")

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _check(self.hosting in HOSTINGS, "hosting", self.hosting,
               f"one of {', '.join(HOSTINGS)}")
        _check(self.ray_address is None or (self.hosting == "ray" and bool(self.ray_address)),
               "ray_address", self.ray_address,
               "given only with hosting 'ray' (auto, or the head node's host:port)")
        _check(self.tf_threads is None or (isinstance(self.tf_threads, int)
                                           and self.tf_threads >= 1),
               "tf_threads", self.tf_threads, "an integer >= 1 or None")


# Bases in reverse order: dataclasses order the fields (and `asdict`, and `groups()`)
# from the last base to the first, and `validate` checks them in that order too.
@dataclass(frozen=True)
class TrainConfig(HostingOptions, RunOptions, LearningOptions, ModelOptions,
                  EnvironmentOptions):
    """The options every algorithm shares: one group per concern (see the groups)."""

    algo: ClassVar[str] = "base"  # the registered name (`tfa3c.algorithms.registry`)

    @classmethod
    def groups(cls) -> dict[str, tuple[str, ...]]:
        """Each group's title and its fields, in field order.

        An algorithm's group with a shared group's title (e.g. "hosting") adds its
        fields to that group.

        Example:
            >>> A3CConfig.groups()["network"][:4]
            ('encoder', 'hidden_sizes', 'lstm_units', 'lstm_cell_clip')
        """
        owner: dict[str, str] = {}
        # The first class in the MRO that declares a field owns it: an algorithm's
        # `override` of a shared default stays in the shared group.
        for klass in cls.__mro__:
            title = klass.__dict__.get("title")
            if isinstance(title, str) and title:
                for name in klass.__dataclass_fields__:
                    owner.setdefault(name, title)
        grouped: dict[str, list[str]] = {}
        for item in dataclasses.fields(cls):
            grouped.setdefault(owner[item.name], []).append(item.name)
        return {title: tuple(names) for title, names in grouped.items()}

    @classmethod
    def for_env(cls, env_id: str = "CartPole-v1", **options: Any):
        """The config for `env_id`: its action kind's preset, then `options`.

        The dataclass defaults are the discrete-action ones; other action kinds take
        their preset (`tfa3c.algorithms.presets`) unless `options` set those fields.

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
                              normalize_observations=self.normalize_observations,
                              precision=self.precision)

    def replace(self, **changes: object):
        """Returns a copy with `changes` applied (and validated)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class A3CLearning(OptionGroup):
    """A3C's rollouts, advantages and optimizer (Adam).

    Attributes:
        n_steps: Rollout length: steps per environment between updates.
        envs_per_update: Environments whose part of a rollout makes one gradient and
            one optimizer step. A worker's environments act together, then train as
            groups of this many, one update each, applied one after another: more
            updates per env step, as the tutorial's one-environment workers made,
            without their per-step acting cost.
        normalize_advantages: Standardize each update's advantages (zero mean, unit
            std) so that the policy gradient's scale, and its balance with the
            entropy bonus, do not depend on the reward scale.
        learning_rate: Adam learning rate.
        adam_epsilon: Adam epsilon.
    """

    title: ClassVar[str] = "loss and optimizer"

    n_steps: int = option(40, "steps per rollout")
    # One update per environment's rollout, as the tutorial's one-environment workers:
    # Adam's step is bounded by the rate, so progress goes with the number of updates
    # (CartPole-v1: a median of 9 s to solve, against 28 s with one update per rollout).
    envs_per_update: int = option(1, "environments whose rollout makes one optimizer step")
    # Standardized advantages bound each update's policy gradient, whatever the returns'
    # scale early on. Acrobot-v1 (seeds 0-3): 74k-104k env steps to solve against
    # 171k-810k; LunarLander-v3 (seed 0) 29 s against 24 s; CartPole-v1 (seeds 0-2) 6-9 s
    # against 3-4 s, still under half the peer's time (benchmarks/plans/defaults.json).
    normalize_advantages: bool = option(True, "standardize each update's advantages")
    # The tutorial's 5e-4 solved Acrobot-v1 and LunarLander-v3 slower (seed 0: 39 s and
    # 85 s, against 15 s and 62 s); continuous actions keep 5e-4 (the presets).
    learning_rate: float = option(2e-3, "Adam learning rate")
    adam_epsilon: float = option(1e-7, "Adam epsilon")

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _check(self.n_steps >= 1, "n_steps", self.n_steps, ">= 1")
        _check(self.envs_per_update >= 1, "envs_per_update", self.envs_per_update, ">= 1")
        _check(self.learning_rate > 0, "learning_rate", self.learning_rate, "> 0")
        _check(self.adam_epsilon > 0, "adam_epsilon", self.adam_epsilon, "> 0")


@dataclass(frozen=True)
class A3CHosting(OptionGroup):
    """A3C's workers.

    Attributes:
        workers: Workers, each a role of its own (default: the number of CPUs).
        envs_per_worker: Environments each worker steps in lockstep. The network acts
            on all of them in one batched forward pass, which is where the speed
            comes from (per-call overhead, not arithmetic, dominates here).
    """

    title: ClassVar[str] = "hosting"

    workers: int = option(text="workers", factory=cpu_count, unset="the number of CPUs")
    envs_per_worker: int = option(16, "environments each worker steps in lockstep")

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _check(self.workers >= 1, "workers", self.workers, ">= 1")
        _check(self.envs_per_worker >= 1, "envs_per_worker", self.envs_per_worker, ">= 1")


@dataclass(frozen=True)
class A3CConfig(A3CHosting, A3CLearning, TrainConfig):
    """A3C's options: the shared groups, `A3CLearning` and `A3CHosting`.

    The defaults are the design card's (the tutorial's): an LSTM of 16 cells, 40-step
    rollouts, Adam, gradients clipped to a norm of 40, gamma 0.99. Where a default
    differs, the comment beside it gives the measurement (CartPole-v1 and others).
    Other action kinds change some of them
    (`tfa3c.algorithms.presets`).

    Example:
        >>> A3CConfig(env_id="Acrobot-v1", workers=4).learning_rate
        0.002
    """

    algo: ClassVar[str] = "a3c"

    encoder: str = override(ModelOptions, "encoder", "lstm")
    # Standardized observations solved CartPole-v1 (seeds 0-2) in 3-4 s against 5-7 s,
    # Acrobot-v1 and LunarLander-v3 faster too (slower on Pendulum: the presets).
    normalize_observations: bool = override(ModelOptions, "normalize_observations", True)
    # An entropy bonus of 0.01 slowed CartPole-v1 (12-22 s for seeds 0-2, against 9-11 s).
    entropy_coef: float = override(LearningOptions, "entropy_coef", 0.0)
    # 0.95 and the tutorial's 1.0 solve CartPole-v1 equally fast; 0.95 varies less.
    gae_lambda: float = override(LearningOptions, "gae_lambda", 0.95)


@dataclass(frozen=True)
class GA3CLearning(OptionGroup):
    """GA3C's returns, training batches and optimizer (RMSprop).

    Attributes:
        n_steps: Steps of experience per environment in one n-step return.
        min_batch: Experiences a trainer gathers before one training step.
        max_batch: Most experiences one training step takes: beyond `min_batch`, a
            trainer also takes what else is waiting, up to this many (whole sequences
            of `n_steps`: a rollout wider than this is split into groups of its
            environments' sequences). Fewer experiences per step mean more optimizer
            steps per experience.
        learning_rate: RMSprop learning rate.
        rho: RMSprop decay.
        rms_epsilon: RMSprop epsilon.
        log_epsilon: The loss uses log(pi + log_epsilon), so that stale actions with
            vanishing probability never give infinite log-probabilities.
        correction: How the learner corrects for the policy lag (agents act on older
            weights than it trains): `vtrace`, V-trace's truncated importance weights
            (`tfa3c.algorithms.vtrace`), or `none`, n-step returns as if the actions
            were the current policy's (the GA3C paper's).
        rho_bar: V-trace's truncation of the importance weights in the value targets
            and the policy gradient.
        c_bar: V-trace's truncation of the trace (how far back a correction reaches).
    """

    title: ClassVar[str] = "loss and optimizer"

    n_steps: int = option(8, "steps per n-step return")
    min_batch: int = option(32, "experiences per training step, at least")
    max_batch: int = option(4096, "experiences per training step, at most, in whole sequences")
    learning_rate: float = option(1e-2, "RMSprop learning rate")
    rho: float = option(0.99, "RMSprop decay")
    rms_epsilon: float = option(1e-7, "RMSprop epsilon")
    log_epsilon: float = option(1e-6, "added to action probabilities before the log")
    correction: str = option("vtrace", "off-policy correction for the policy lag",
                             choices=CORRECTIONS)
    rho_bar: float = option(1.0, "V-trace's truncation of the importance weights")
    c_bar: float = option(1.0, "V-trace's truncation of the trace")

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _check_positive_ints(self, "n_steps", "min_batch", "max_batch")
        _check(self.max_batch >= self.min_batch, "max_batch", self.max_batch,
               f">= min_batch ({self.min_batch})")
        _check(self.learning_rate > 0, "learning_rate", self.learning_rate, "> 0")
        _check(0.0 <= self.rho < 1.0, "rho", self.rho, "in [0, 1)")
        _check(self.rms_epsilon > 0, "rms_epsilon", self.rms_epsilon, "> 0")
        _check(0.0 <= self.log_epsilon < 1.0, "log_epsilon", self.log_epsilon, "in [0, 1)")
        _check(self.correction in CORRECTIONS, "correction", self.correction,
               " or ".join(CORRECTIONS))
        _check(self.rho_bar > 0, "rho_bar", self.rho_bar, "> 0")
        _check(self.c_bar > 0, "c_bar", self.c_bar, "> 0")


@dataclass(frozen=True)
class GA3CExploration(OptionGroup):
    """GA3C's epsilon schedule, on top of sampling from the policy.

    Attributes:
        exploration: Use the epsilon schedule (discrete actions only: a Gaussian policy
            explores through its own standard deviation, and the epsilon options do
            nothing there). Off by default: the policy's own sampling explores, as in
            IMPALA; the tutorial had it on.
        epsilon_start: Exploration probability at the start (uniform random action).
        epsilon_end: Exploration probability after `epsilon_steps` frames.
        epsilon_steps: Frames over which epsilon decays linearly.
    """

    title: ClassVar[str] = "exploration"

    # Off: V-trace counts epsilon's random actions as the behaviour policy's, and weighs
    # them by pi/mu, far below 1, so they teach little. Acrobot-v1 (seeds 0-1) took 57k
    # and 103k env steps to solve without the schedule, 321k and 237k with it.
    exploration: bool = option(False, "take a uniform random action with probability epsilon")
    epsilon_start: float = option(0.4, "epsilon at the start")
    epsilon_end: float = option(0.15, "epsilon after --epsilon-steps frames")
    epsilon_steps: int = option(75_000, "frames over which epsilon decays linearly")

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _check(0.0 <= self.epsilon_start <= 1.0, "epsilon_start", self.epsilon_start,
               "in [0, 1]")
        _check(0.0 <= self.epsilon_end <= 1.0, "epsilon_end", self.epsilon_end, "in [0, 1]")
        _check(self.epsilon_steps >= 1, "epsilon_steps", self.epsilon_steps, ">= 1")


@dataclass(frozen=True)
class GA3CHosting(OptionGroup):
    """GA3C's agents, predictors, trainers and devices.

    Attributes:
        agents: Agents, each a role of its own.
        envs_per_agent: Environments each agent steps; one prediction request
            carries all of their observations.
        predictors: Predictor threads.
        trainers: Trainer threads.
        max_prediction_batch: Most observations a predictor answers in one forward pass.
        dynamic_adjustment: Adjust the numbers of agents, predictors and trainers while
            the run goes, toward the most env steps/s (`tfa3c.algorithms.adjustment`),
            each between 1 and twice its given number (predictors and trainers up to 2
            at least). Each change and its measured effect is printed and written to
            `adjustments.csv` in the run folder; the search settles when no neighbour is
            faster.
        adjustment_seconds: How long each measurement of the dynamic adjustment lasts.
        devices: Devices for the trainer's `tf.distribute` strategy, e.g.
            ("/gpu:0", "/gpu:1"); None picks every visible GPU, else the CPU.
    """

    title: ClassVar[str] = "hosting"

    agents: int = option(4, "agents")
    envs_per_agent: int = option(16, "environments per agent")
    predictors: int = option(1, "predictor threads")
    trainers: int = option(1, "trainer threads")
    max_prediction_batch: int = option(256, "largest prediction batch")
    dynamic_adjustment: bool = option(
        False, "adjust the numbers of agents, predictors and trainers while training, "
        "toward the most env steps/s (each up to twice its number)")
    adjustment_seconds: float = option(10.0, "seconds per measurement of the dynamic "
                                             "adjustment")
    devices: tuple[str, ...] | None = option(
        None, "trainer devices, comma separated, e.g. /gpu:0,/gpu:1",
        unset="every GPU, else the CPU")

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _check_positive_ints(self, "agents", "envs_per_agent", "predictors", "trainers",
                             "max_prediction_batch")
        _check(self.adjustment_seconds > 0, "adjustment_seconds", self.adjustment_seconds,
               "> 0")
        _check(self.devices is None or len(self.devices) >= 1, "devices", self.devices,
               "a non-empty list of device names, e.g. /gpu:0,/gpu:1")


@dataclass(frozen=True)
class GA3CConfig(GA3CHosting, GA3CExploration, GA3CLearning, TrainConfig):
    """GA3C's options: the shared groups, `GA3CLearning`, `GA3CExploration`, `GA3CHosting`.

    The defaults are the design card's (the tutorial's): a dense layer of 16 relu units,
    8-step returns, RMSprop 1e-2; unlike the tutorial, V-trace corrects for the policy
    lag, and there is no epsilon schedule on top of sampling. Other action kinds change
    some of them (`tfa3c.algorithms.presets`).
    """

    algo: ClassVar[str] = "ga3c"

    # CartPole's returns reach ~100 at gamma 0.99; with normalize_rewards (the default)
    # RMSprop 1e-2 needs no clipping, as the tutorial had none.
    clip_norm: float | None = override(LearningOptions, "clip_norm", None)
