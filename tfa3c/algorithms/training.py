"""The run loop both algorithms share, and its stop conditions.

An algorithm (A3C, GA3C) builds its global model and optimizer, names its roles
(`_role_specs`) and starts the threads that drive them (`_start_threads`); the loop
here runs once for both: it starts the roles where `config.hosting` says, watches the
stop conditions (solved, step and time budgets, Ctrl-C and SIGTERM, a failed
thread), asks the recorder to log and checkpoint on time, and ends every run with a
final checkpoint and its summary.

The other jobs of a run live in modules of their own: its folder
(`tfa3c.run_folder`), its records (`tfa3c.algorithms.recording`), signals
(`tfa3c.signals`), reward scaling (`tfa3c.policies.normalization.reward_scaler`) and
TensorFlow's threads (`tfa3c.tf_runtime`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import keras
import numpy as np

from tfa3c.algorithms.config import ENCODERS, TrainConfig
from tfa3c.algorithms.recording import RunRecorder
from tfa3c.checkpoints import Checkpointer
from tfa3c.env_spec import EnvSpec, resolve_env
from tfa3c.errors import ConfigError, TrainingError, first_line
from tfa3c.hosting.launch import close_roles, start_roles
from tfa3c.hosting.roles import Role, RoleDied, RoleFailed, RoleSpec
from tfa3c.hosting.threads import ThreadSupervisor
from tfa3c.numerics import NonFiniteError, UpdateSkips
from tfa3c.policies.encoders import PIXEL_ENCODERS
from tfa3c.policies.normalization import RewardNormalizer
from tfa3c.run_folder import claim, default_logdir, default_model_name, write_run_config
from tfa3c.signals import StopSignals
from tfa3c.statistics import EpisodeStatistics, MetricAccumulator
from tfa3c.tf_runtime import configure_threads, cpu_count

_POLL_SECONDS = 0.05


class AsyncAlgorithm:
    """Base class of A3C and GA3C.

    Subclasses set `algo`, build `self.model` and `self.optimizer` in `_build`, and
    start their threads with `self.supervisor.start(...)` in `_start_threads`; each
    thread loops until `self.stop_event` is set.
    """

    algo = "base"
    config_class: type[TrainConfig] = TrainConfig
    # TensorFlow's intra-op threads for flat observations (None: TensorFlow's default).
    default_tf_threads: int | None = None

    @classmethod
    def resolve_config(cls, config: TrainConfig | None, overrides: dict) -> TrainConfig:
        """`config` (default: the algorithm's defaults) with keyword `overrides` applied."""
        if config is None:  # keywords alone: the preset of the env's action kind applies
            return cls.config_class.for_env(**overrides)
        return config.replace(**overrides) if overrides else config

    def __init__(self, config: TrainConfig | None = None, **overrides):
        config = self.resolve_config(config, overrides)
        self.config = config
        # Fails fast on an unknown id, bad keyword arguments or unsupported spaces; the
        # same object `for_env` chose the preset by (resolved once per process).
        self.env_spec: EnvSpec = resolve_env(config.env_id, config.env_kwargs)
        self.observation_shape = self.env_spec.observation_shape
        self.observation_size = self.env_spec.observation_size
        self.action_spec = self.env_spec.action
        self.num_actions = self.action_spec.size  # actions, or action dimensions
        self.pixels = pixels = self.env_spec.pixels
        threads = config.tf_threads or (cpu_count() if pixels else self.default_tf_threads)
        if threads is not None:
            configure_threads(threads)
        if pixels != (config.encoder in PIXEL_ENCODERS):
            allowed = PIXEL_ENCODERS if pixels else tuple(
                name for name in ENCODERS if name not in PIXEL_ENCODERS)
            what = "images" if pixels else "flat vectors"
            raise ConfigError(
                f"invalid encoder={config.encoder!r}: {config.env_id} observes {what} "
                f"{self.observation_shape}; allowed: {', '.join(allowed)}")
        self.reward_threshold = (config.target_return if config.target_return is not None
                                 else self.env_spec.reward_threshold)
        self.stop_event = threading.Event()
        self.stop_reason: str | None = None
        self.statistics = EpisodeStatistics(
            self.reward_threshold, config.max_steps,
            on_solved=self._on_solved, on_budget=lambda: self.request_stop("max_steps"))
        self.metrics = MetricAccumulator()
        self.update_skips = UpdateSkips(config.max_skipped_updates, self.statistics.elapsed)
        self.supervisor = ThreadSupervisor(self.stop_event)
        self.roles: list[Role] = []  # the roles `_role_specs` names, while `learn` runs
        self.logdir = config.logdir or default_logdir(self.algo, config.env_id, config.seed)
        claim(self.logdir, config.resume)  # before anything is built or written
        keras.utils.set_random_seed(config.seed)
        self.reward_normalizer = (RewardNormalizer(config.gamma) if config.normalize_rewards
                                  else None)
        self.model, self.optimizer = self._build()
        extras = ({"reward_statistics": self.reward_normalizer.statistics}
                  if self.reward_normalizer else None)
        self.checkpointer = Checkpointer(self.logdir, self.model, self.optimizer,
                                         config.keep_checkpoints, extras)
        self.recorder = RunRecorder(self.logdir, self.statistics, self.metrics,
                                    self.update_skips, self.checkpointer,
                                    self.reward_normalizer, self._extra_statistics)
        self.resumed_from: str | None = None
        self.final_checkpoint: str | None = None
        self.finish_error: Exception | None = None  # see RunRecorder.finish
        if config.resume:
            self.resumed_from, counters = self.checkpointer.restore_latest()
            self.statistics.restore(counters)

    # The statistics the roles act with, wherever they run ------------------------------
    def shared_statistics(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The observation and reward statistics a hosted role acts and scales with."""
        normalizer = getattr(self.model, "normalizer", None)
        return (None if normalizer is None else normalizer.snapshot(),
                None if self.reward_normalizer is None else self.reward_normalizer.snapshot())

    def absorb_statistics(self, observation_moments, reward_sums) -> None:
        """Merges what a hosted role's actors saw into this run's running statistics."""
        if observation_moments is not None:
            self.model.normalizer.merge(*observation_moments)
        if reward_sums is not None and self.reward_normalizer is not None:
            self.reward_normalizer.merge(reward_sums)

    def _role_specs(self) -> list[RoleSpec]:
        """The roles to host where `config.hosting` says, each driven by a thread here."""
        return []

    def _start_roles(self) -> None:
        """Starts the roles before the clock starts (building them takes seconds).

        Raises:
            TrainingError: a role could not be built (those started are closed).
        """
        hosting = self.config.hosting
        try:
            self.roles = start_roles(hosting, self._role_specs(), self.config.ray_address)
        except (RoleFailed, RoleDied) as error:
            raise TrainingError(f"could not start the {hosting} roles: {error}") from error

    def _close_roles(self) -> None:
        roles, self.roles = self.roles, []
        close_roles(self.config.hosting, roles)

    # Subclass interface -------------------------------------------------------------
    def _build(self) -> tuple[keras.Model, keras.optimizers.Optimizer]:
        raise NotImplementedError

    def _start_threads(self) -> None:
        raise NotImplementedError

    def _extra_statistics(self, interval: float) -> dict[str, float]:
        """Algorithm-specific figures for the progress line and TensorBoard."""
        return {}

    def _summary_extras(self, seconds: float) -> dict[str, float]:
        """Algorithm-specific whole-run figures added to the summary."""
        return {}

    def export(self, export_dir: str, model_name: str | None = None) -> str:
        """Exports the global policy as a SavedModel under `export_dir/<model_name>/<version>/`."""
        from tfa3c.export import export_policy

        return export_policy(
            self.model, export_dir,
            model_name=model_name or default_model_name(self.algo, self.config.env_id),
            algo=self.algo, env_id=self.config.env_id, env_steps=self.statistics.env_steps,
            env_kwargs=self.config.env_kwargs)

    def _write_run_config(self) -> None:
        write_run_config(self.logdir, self.algo, dataclasses.asdict(self.config))
        self.checkpointer.write_network()
        if self.resumed_from is not None:
            self.recorder.trim_to_resumed_checkpoint()

    # Stopping -------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Asks every thread to stop after its current step (first reason wins)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stop_event.set()

    def _on_solved(self) -> None:
        if self.config.stop_when_solved:
            self.request_stop("solved")

    # The loop -------------------------------------------------------------------
    def learn(self) -> dict[str, Any]:
        """Trains until a stop condition; returns the summary (see `summary`).

        Raises:
            TrainingError: a thread failed (the original exception is its cause).
        """
        config = self.config
        # The roles first: a cluster that cannot be joined is bad input, and the run
        # folder stays as it was.
        self._start_roles()
        try:
            self._write_run_config()
            recorder = self.recorder.open(config.progress_bar, config.max_steps)
        except BaseException:
            self._close_roles()
            raise
        signals = StopSignals().install()
        statistics = self.statistics
        statistics.start_clock()
        start_steps = statistics.env_steps
        try:
            self._start_threads()
            self._watch(recorder, signals)
        finally:
            try:
                alive = self.supervisor.join()
                stop_seconds = statistics.elapsed()
            finally:  # even when a second Ctrl-C cuts the join short
                signals.restore()
            try:
                self.final_checkpoint, self.finish_error = recorder.finish()
            finally:
                try:
                    recorder.close()
                finally:
                    self._close_roles()
        self._raise_failure(alive)
        if self.stop_reason is None:
            self.stop_reason = "stopped"
        return self.summary(stop_seconds, start_steps)

    def _watch(self, recorder: RunRecorder, signals: StopSignals) -> None:
        """Wakes every `_POLL_SECONDS` until the stop event: signals, time, logs, checkpoints."""
        config, statistics = self.config, self.statistics
        last_checkpoint = time.perf_counter()
        while not self.stop_event.wait(_POLL_SECONDS):
            if signals.pending is not None:
                self.request_stop(signals.pending)
                return
            if config.max_seconds is not None and statistics.elapsed() >= config.max_seconds:
                self.request_stop("max_seconds")
            if recorder.since_log() >= config.log_interval:
                recorder.log()
            now = time.perf_counter()
            if now - last_checkpoint >= config.checkpoint_interval:
                try:
                    recorder.checkpoint()
                except NonFiniteError as error:  # refused: stop, keeping the last one
                    self.supervisor.fail("checkpointer", error)
                    return
                last_checkpoint = now

    def _raise_failure(self, alive: list[str]) -> None:
        """Raises what stopped the run, unless it was one of the stop conditions.

        Raises:
            TrainingError: a thread failed, threads did not stop, or the final
                checkpoint or log failed; the message says what was saved.
        """
        problem = (f"{type(self.finish_error).__name__}: {first_line(self.finish_error)}"
                   if self.finish_error is not None else "")
        if self.final_checkpoint is not None:
            saved = f"final checkpoint {self.final_checkpoint}"
        elif isinstance(self.finish_error, NonFiniteError):
            saved = (f"no final checkpoint ({problem}); the last finite one is "
                     f"{self.checkpointer.manager.latest_checkpoint}")
        else:
            saved = f"the final checkpoint failed: {problem}"
        failure = self.supervisor.failure
        if failure is not None:
            name, error = failure
            # One line: a TensorFlow error's message runs over many (its traceback,
            # printed above this line by the CLI, keeps them).
            raise TrainingError(f"training stopped: thread {name} failed with "
                                f"{type(error).__name__}: {first_line(error)}; {saved}"
                                ) from error
        if alive:
            raise TrainingError(f"threads did not stop within 30 s: {', '.join(alive)}; {saved}")
        if self.finish_error is not None:
            raise TrainingError(f"training stopped: {problem}; {saved}") from self.finish_error

    def summary(self, stop_seconds: float, start_steps: int = 0) -> dict[str, Any]:
        """The run's summary: the keys every example prints as its last line.

        `seconds` runs from the start of training to the moment the mean return of the
        last 100 episodes reached the threshold, or to the stop if it never did;
        `env_steps` counts the steps of this run up to the same moment.
        """
        statistics = self.statistics
        solved = statistics.solved
        seconds = statistics.solved_seconds if solved else stop_seconds
        steps = (statistics.solved_env_steps if solved else statistics.env_steps) - start_steps
        mean = statistics.solved_mean_return if solved else statistics.mean_return()
        return {
            "algo": self.algo,
            "env": self.config.env_id,
            "seed": self.config.seed,
            "solved": solved,
            "seconds": round(seconds, 2),
            "env_steps": int(steps),
            "episodes": statistics.episodes,
            "steps_per_second": round(steps / max(seconds, 1e-9), 1),
            "mean_return_100": None if mean is None else round(mean, 2),
            "stop_reason": self.stop_reason,
            "skipped_updates": self.update_skips.total,
            "skipped_transitions": statistics.skipped_transitions,
            **self._summary_extras(stop_seconds),
        }
