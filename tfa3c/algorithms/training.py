"""The loop both algorithms share: start threads, watch them, log, checkpoint, stop.

An algorithm (A3C, GA3C) builds its global model and optimizer and says which threads
to start; everything else lives here once: stop conditions (solved, step and time
budgets, Ctrl-C, SIGTERM, a failed thread), progress lines, TensorBoard, the episode
CSV, checkpoints and `--resume`, and the summary that ends every run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import re
import signal
import threading
import time
from typing import Any

import keras
import numpy as np

from tfa3c.algorithms.config import ENCODERS, TrainConfig, cpu_count
from tfa3c.checkpoints import Checkpointer
from tfa3c.env_spec import EnvSpec, resolve_env
from tfa3c.errors import ConfigError, TrainingError, UserInputError, first_line
from tfa3c.hosting.launch import close_roles, start_roles
from tfa3c.hosting.roles import Role, RoleDied, RoleFailed, RoleSpec
from tfa3c.hosting.threads import ThreadSupervisor
from tfa3c.layout import CHECKPOINT_FOLDER, EPISODES_CSV, RUN_CONFIG
from tfa3c.numerics import NonFiniteError, UpdateSkips
from tfa3c.policies.encoders import PIXEL_ENCODERS
from tfa3c.policies.normalization import RewardNormalizer
from tfa3c.progress import ProgressReporter
from tfa3c.run_logs import RunLogs, trim_to_checkpoint
from tfa3c.statistics import EpisodeStatistics, MetricAccumulator
from tfa3c.tf_runtime import configure_threads

_POLL_SECONDS = 0.05


def default_model_name(algo: str, env_id: str) -> str:
    """Export name of a policy: `a3c_cartpole` for A3C on CartPole-v1.

    A user's `module:EnvId-v0` is named by its id alone (`ga3c_envid`).
    """
    base = env_id.rpartition(":")[2].split("/")[-1].rsplit("-v", 1)[0]
    return re.sub(r"[^a-z0-9_.]", "_", f"{algo}_{base}".lower())


def default_logdir(algo: str, env_id: str, seed: int) -> str:
    """`runs/<algo>_<env>_<seed>_<timestamp>/` (the env id without module or namespace)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    env = re.sub(r"[^A-Za-z0-9_.-]", "_", env_id.rpartition(":")[2].split("/")[-1])
    return os.path.join("runs", f"{algo}_{env}_{seed}_{stamp}")


def has_checkpoints(logdir: str) -> bool:
    """Whether `logdir` holds a run's checkpoints already."""
    folder = os.path.join(logdir, CHECKPOINT_FOLDER)
    return os.path.isdir(folder) and any(name.startswith("ckpt-") or name == "checkpoint"
                                         for name in os.listdir(folder))


def check_writable(logdir: str) -> None:
    """Makes sure a run can write its folder and checkpoints, leaving no trace of the check.

    Raises:
        UserInputError: a folder cannot be made or a file cannot be written there.
    """
    folder = os.path.join(logdir, CHECKPOINT_FOLDER)
    made = []  # folders this check creates, removed again afterwards
    path = os.path.abspath(folder)
    while not os.path.exists(path):
        made.append(path)
        path = os.path.dirname(path)
    probe = os.path.join(folder, f".write-check-{os.getpid()}")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "w") as file:
            file.write("ok")
        os.remove(probe)
    except OSError as error:
        raise UserInputError(
            f"cannot write the run folder --logdir {logdir!r}: {error.strerror or error} "
            f"({error.filename or folder}); give a folder you can write to") from None
    finally:
        for path in made:  # innermost first
            with contextlib.suppress(OSError):
                os.rmdir(path)


def reward_stream(config: TrainConfig, normalizer: RewardNormalizer | None, num_envs: int):
    """A function scaling one actor's rewards `(rewards, dones) -> scaled`.

    With `clip_rewards`, rewards are first clipped to their sign; then `reward_scale`,
    then (with a `normalizer`) division by the running spread of the discounted
    return (`RewardNormalizer`). Episode returns are counted before any of these, from
    the environment's own rewards.
    """
    scale, clip = config.reward_scale, config.clip_rewards

    def prepared(rewards):
        return (np.sign(rewards) if clip else rewards) * scale

    if normalizer is None:
        return lambda rewards, dones: prepared(rewards)
    stream = normalizer.stream(num_envs)
    return lambda rewards, dones: stream(prepared(rewards), dones)


def hosted_tf_threads(config: TrainConfig, roles: int, pixels: bool) -> int:
    """TensorFlow threads per op for a role in a process of its own.

    Vectors: one (per-call overhead is the cost, and the roles use the cores). Images:
    the cores shared out among the roles, as convolutions are real work.
    """
    if config.tf_threads is not None:
        return config.tf_threads
    return max(1, cpu_count() // max(roles, 1)) if pixels else 1


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
        self.pending_signal: str | None = None  # set by the signal handler only
        self.statistics = EpisodeStatistics(
            self.reward_threshold, config.max_steps,
            on_solved=self._on_solved, on_budget=lambda: self.request_stop("max_steps"))
        self.metrics = MetricAccumulator()
        self.update_skips = UpdateSkips(config.max_skipped_updates, self.statistics.elapsed)
        self.supervisor = ThreadSupervisor(self.stop_event)
        self.roles: list[Role] = []  # the roles `_role_specs` names, while `learn` runs
        self.logdir = config.logdir or default_logdir(self.algo, config.env_id, config.seed)
        check_writable(self.logdir)  # before anything is built or written
        if not config.resume and has_checkpoints(self.logdir):
            raise UserInputError(
                f"--logdir {self.logdir!r} already holds a run's checkpoints: add --resume to "
                "continue that run, or give a new folder")
        keras.utils.set_random_seed(config.seed)
        self.reward_normalizer = (RewardNormalizer(config.gamma) if config.normalize_rewards
                                  else None)
        self.model, self.optimizer = self._build()
        extras = ({"reward_statistics": self.reward_normalizer.statistics}
                  if self.reward_normalizer else None)
        self.checkpointer = Checkpointer(self.logdir, self.model, self.optimizer,
                                         config.keep_checkpoints, extras)
        self.resumed_from: str | None = None
        self.final_checkpoint: str | None = None
        self.finish_error: Exception | None = None  # see _finish
        if config.resume:
            self.resumed_from, counters = self.checkpointer.restore_latest()
            self.statistics.restore(counters)

    # Roles in other processes or hosts (hosting "processes" or "ray") -----------------
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
        os.makedirs(self.logdir, exist_ok=True)
        fields = dataclasses.asdict(self.config)
        with open(os.path.join(self.logdir, RUN_CONFIG), "w") as file:
            json.dump({"algo": self.algo, "config": fields}, file, indent=2)
        self.checkpointer.write_network()
        if self.resumed_from is not None:
            # Episodes finished after the checkpoint we resume from describe lost
            # training: drop their rows, so the CSV continues from the checkpoint.
            trim_to_checkpoint(os.path.join(self.logdir, EPISODES_CSV),
                               self.statistics.episodes, self.statistics.env_steps)

    def _finish(self, logs: RunLogs, reporter: ProgressReporter, interval: float,
                last_steps: int) -> None:
        """The last progress line, then a final checkpoint, whatever stopped the run.

        A failed thread included: nothing trained since the last periodic checkpoint is
        lost. An error here is kept in `finish_error`, never raised, so it cannot hide
        the failure that stopped the run; `learn` reports it.
        """
        self.finish_error = None
        try:
            self._log(logs, reporter, interval, last_steps)
        except Exception as error:  # e.g. a full disk: the checkpoint may still fit
            self.finish_error = error
        try:
            self.final_checkpoint = self._checkpoint(logs)
        except Exception as error:
            self.final_checkpoint = None
            self.finish_error = error

    def _checkpoint(self, logs: RunLogs) -> str:
        """Writes the pending episodes to the CSV, then a checkpoint of the same moment."""
        episodes, counters = self.statistics.checkpoint_view()
        if self.reward_normalizer is not None:
            self.reward_normalizer.sync()
        logs.write_episodes(episodes, sync=True)
        return self.checkpointer.save(counters)

    # Stopping -------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Asks every thread to stop after its current step (first reason wins)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stop_event.set()

    def _on_solved(self) -> None:
        if self.config.stop_when_solved:
            self.request_stop("solved")

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum, _frame):
            # Python runs this in the main thread between two bytecodes, possibly while
            # that thread holds the stop event's internal lock (inside `Event.wait`):
            # setting the event here could deadlock on that lock. So the handler only
            # records the signal; the main loop, which wakes every _POLL_SECONDS, asks
            # the threads to stop.
            if self.pending_signal is None:
                self.pending_signal = signal.Signals(signum).name
                return
            # A second signal goes to the previous handler (Ctrl-C: KeyboardInterrupt;
            # SIGTERM: the default, which ends the process): a forced stop.
            signal.signal(signum, previous[signum])
            signal.raise_signal(signum)

        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, handler)
        return previous

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
            logs = RunLogs(self.logdir)
        except BaseException:
            self._close_roles()
            raise
        reporter = ProgressReporter(config.progress_bar, config.max_steps)
        previous_handlers = self._install_signal_handlers()
        statistics = self.statistics
        statistics.start_clock()
        start_steps = statistics.env_steps
        last_log = last_checkpoint = time.perf_counter()
        last_log_steps = start_steps
        try:
            self._start_threads()
            while not self.stop_event.wait(_POLL_SECONDS):
                if self.pending_signal is not None:
                    self.request_stop(self.pending_signal)
                    break
                now = time.perf_counter()
                if config.max_seconds is not None and statistics.elapsed() >= config.max_seconds:
                    self.request_stop("max_seconds")
                if now - last_log >= config.log_interval:
                    last_log_steps = self._log(logs, reporter, now - last_log, last_log_steps)
                    last_log = now
                if now - last_checkpoint >= config.checkpoint_interval:
                    try:
                        self._checkpoint(logs)
                    except NonFiniteError as error:  # refused: stop, keeping the last one
                        self.supervisor.fail("checkpointer", error)
                        break
                    last_checkpoint = now
        finally:
            try:
                alive = self.supervisor.join()
                stop_seconds = statistics.elapsed()
            finally:  # even when a second Ctrl-C cuts the join short
                for sig, handler in previous_handlers.items():
                    signal.signal(sig, handler)
            try:
                self._finish(logs, reporter, max(time.perf_counter() - last_log, 1e-9),
                             last_log_steps)
            finally:
                reporter.close()
                logs.close()
                self._close_roles()
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
        stop_time = stop_seconds
        if self.stop_reason is None:
            self.stop_reason = "stopped"
        return self.summary(stop_time, start_steps)

    def _log(self, logs: RunLogs, reporter: ProgressReporter, interval: float,
             last_steps: int) -> int:
        statistics = self.statistics
        steps = statistics.env_steps
        steps_per_second = (steps - last_steps) / interval
        logs.write_episodes(statistics.take_episodes())
        means, _ = self.metrics.drain()
        extras = self._extra_statistics(interval)
        scalars = {f"train/{name}": value for name, value in means.items()}
        scalars.update(logs.episode_scalars())
        scalars.update({f"speed/{name}": value for name, value in extras.items()})
        scalars["speed/env_steps_per_second"] = steps_per_second
        scalars["train/skipped_updates"] = self.update_skips.total
        scalars["train/skipped_transitions"] = statistics.skipped_transitions
        mean_return = statistics.mean_return()
        if mean_return is not None:
            scalars["episode/mean_return_100"] = mean_return
        logs.write_scalars(scalars, step=steps)
        reporter.update(steps, statistics.episodes, mean_return, steps_per_second, extras)
        return steps

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
