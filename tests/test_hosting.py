"""Workers and agents hosted in other processes and on a Ray cluster (`--hosting`).

The roles really live elsewhere: in `multiprocessing` processes, and in Ray actors on a
local cluster of two nodes that the tests start. Each hosted run must train (the global
weights move, episodes are counted), stop cleanly with a final checkpoint, and leave no
process behind; a role that fails or is killed stops the run with an error naming it.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tfa3c.algorithms import training
from tfa3c.algorithms.a3c import A3C
from tfa3c.algorithms.config import A3CConfig, GA3CConfig
from tfa3c.algorithms.ga3c import GA3C
from tfa3c.errors import ConfigError, TrainingError
from tfa3c.policies.normalization import RewardNormalizer

from .conftest import ROOT, run_command


def build(algo, tmp_path, hosting, **changes):
    if algo == "a3c":
        values = dict(workers=2, envs_per_worker=4, n_steps=10)
        cls, config_class = A3C, A3CConfig
    else:
        values = dict(agents=2, envs_per_agent=4)
        cls, config_class = GA3C, GA3CConfig
    values.update(env_id="CartPole-v1", hosting=hosting, stop_when_solved=False,
                  max_seconds=3, logdir=str(tmp_path / f"{algo}-{hosting}"),
                  progress_bar="none", log_interval=0.5)
    values.update(changes)
    return cls(config_class(**values))


def flat_weights(algorithm):
    return np.concatenate([w.numpy().ravel() for w in algorithm.model.trainable_variables])


@pytest.fixture
def recorded_roles(monkeypatch):
    """Every role a run starts, with the process id it had while it ran."""
    started = []

    def recording(hosting, specs, ray_address=None):
        roles = start_roles(hosting, specs, ray_address)
        started.extend((role.name, role.pid()) for role in roles)
        return roles

    start_roles = training.start_roles
    monkeypatch.setattr(training, "start_roles", recording)
    return started


def ended(probe, within=15.0):
    """Whether `probe()` raises ProcessLookupError within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            probe()
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def gone(pid):
    """Whether process `pid` has ended (waiting up to 15 s)."""
    return ended(lambda: os.kill(pid, 0))


def check_trained_and_stopped(algorithm, summary, before, roles, count):
    assert summary["stop_reason"] == "max_seconds"
    assert summary["env_steps"] > 1000 and summary["episodes"] > 10
    assert np.abs(flat_weights(algorithm) - before).max() > 1e-3  # the learner applied them
    assert os.path.isfile(algorithm.final_checkpoint + ".index")
    assert [name for name, _ in roles] == [
        f"{algorithm.algo}-{'worker' if algorithm.algo == 'a3c' else 'agent'}-{index}"
        for index in range(count)]
    pids = [pid for _, pid in roles]
    assert os.getpid() not in pids and len(set(pids)) == count  # one process each
    assert all(gone(pid) for pid in pids), "a role process outlived the run"
    assert algorithm.roles == []


# Processes ------------------------------------------------------------------------------
@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_processes_train_stop_and_resume(algo, tmp_path, recorded_roles):
    algorithm = build(algo, tmp_path, "processes")
    before = flat_weights(algorithm)
    summary = algorithm.learn()
    check_trained_and_stopped(algorithm, summary, before, recorded_roles, 2)
    if algo == "a3c":  # the workers' observations reached the learner's statistics
        assert algorithm.model.normalizer.count > summary["env_steps"] * 0.5
    assert algorithm.reward_normalizer.snapshot()[2] > summary["env_steps"] * 0.5
    if algo == "ga3c":
        return  # resuming is the learner's, the same for both algorithms

    resumed = build(algo, tmp_path, "processes", resume=True, max_seconds=2)
    assert resumed.statistics.env_steps == algorithm.statistics.env_steps  # from the checkpoint
    second = resumed.learn()
    assert resumed.statistics.env_steps > algorithm.statistics.env_steps
    assert second["stop_reason"] == "max_seconds"


# GA3C's kill takes the same path as A3C's (a driving thread's RoleDied): slow, for CI's budget.
@pytest.mark.parametrize("algo", ["a3c", pytest.param("ga3c", marks=pytest.mark.slow)])
def test_a_killed_process_stops_the_run_naming_it(algo, tmp_path, recorded_roles):
    algorithm = build(algo, tmp_path, "processes", max_seconds=60)
    killed = []

    def kill_second_role():
        while algorithm.statistics.env_steps < 2000:
            time.sleep(0.05)
        killed.append(recorded_roles[1][1])
        os.kill(recorded_roles[1][1], signal.SIGKILL)

    threading.Thread(target=kill_second_role, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(TrainingError) as error:
        algorithm.learn()
    name = recorded_roles[1][0]
    assert f"thread {name} failed with RoleDied: {name} (process {killed[0]}) " \
           "was killed by SIGKILL" in str(error.value)
    assert "final checkpoint" in str(error.value)
    assert os.path.isfile(algorithm.final_checkpoint + ".index")
    assert time.monotonic() - started < 40
    assert all(gone(pid) for _, pid in recorded_roles)


def test_an_error_inside_a_hosted_worker_names_it_and_its_error(tmp_path):
    algorithm = build("a3c", tmp_path, "processes", env_id="tests.failing_env:FailingCartPole-v0",
                      env_kwargs={"fail_after": 300}, max_seconds=60)
    with pytest.raises(TrainingError) as error:
        algorithm.learn()
    message = str(error.value)
    assert "failed with RoleFailed: a3c-worker-" in message
    assert "RuntimeError: injected failure after 300 steps" in message
    assert os.path.isfile(algorithm.final_checkpoint + ".index")


def session_is_empty(pgid):
    """Whether every process of session `pgid` has ended (waiting up to 15 s)."""
    return ended(lambda: os.killpg(pgid, 0))


def start_cli_run(tmp_path, *options):
    command = [sys.executable, "-m", "tfa3c.cli", "train", "a3c", "--env", "CartPole-v1",
               "--hosting", "processes", "--workers", "2", "--max-seconds", "120",
               "--no-stop-when-solved", "--no-export", "--progress", "lines",
               "--log-interval", "0.5", "--logdir", str(tmp_path / "cli"), *options]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    for line in process.stdout:  # training has started once steps are counted
        if line.startswith("env_steps") and not line.startswith("env_steps 0 "):
            break
    return process


# SIGTERM's clean stop is the same as with threads (tests/test_resilience.py), and the
# processes' end after a stop is checked by every run here: slow, for CI's budget.
@pytest.mark.parametrize("sig", [pytest.param(signal.SIGTERM, marks=pytest.mark.slow),
                                 signal.SIGKILL])
def test_no_process_is_left_after_sigterm_or_kill_9_of_the_run(tmp_path, sig):
    process = start_cli_run(tmp_path)
    os.kill(process.pid, sig)  # the run's process only, as a supervisor would
    output, errors = process.communicate(timeout=60)
    if sig == signal.SIGTERM:
        assert process.returncode == 0, errors
        summary = json.loads(output.strip().splitlines()[-1])
        assert summary["stop_reason"] == "SIGTERM"
        assert "final checkpoint: " in output
    else:
        assert process.returncode == -signal.SIGKILL
    # The role processes (and multiprocessing's helper) end with the run, even kill -9'd.
    assert session_is_empty(process.pid), subprocess.run(
        ["ps", "-o", "pid,cmd", "-g", str(process.pid)], capture_output=True, text=True).stdout


# Statistics travel between processes ----------------------------------------------------
def test_observation_moments_merged_in_the_learner_equal_one_update(tmp_path):
    from tfa3c.policies.normalization import ObservationNormalizer

    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (50, 70, 30)]
    direct, worker, learner = (ObservationNormalizer() for _ in range(3))
    for layer in (direct, worker, learner):
        layer.build((None, 4))
    for batch in batches:
        direct.update(batch)
    worker.update(batches[0])
    worker.update(batches[1])
    learner.merge(*worker.take_moments())
    worker.load(learner.snapshot())
    worker.update(batches[2])
    learner.merge(*worker.take_moments())
    assert worker.take_moments() is None  # nothing new since
    np.testing.assert_allclose(learner.snapshot(), direct.snapshot(), rtol=1e-9)


def test_reward_sums_merged_in_the_learner_equal_one_stream():
    rng = np.random.default_rng(1)
    rewards = rng.normal(size=(40, 3))
    dones = rng.random((40, 3)) < 0.1
    direct, hosted, learner = (RewardNormalizer(0.9) for _ in range(3))
    streams = direct.stream(3, warmup=0), hosted.stream(3, warmup=0)
    for t in range(40):
        for stream in streams:
            stream(rewards[t], dones[t])
        if t % 8 == 7:  # a report per rollout
            learner.merge(hosted.take_sums())
            hosted.load(learner.snapshot())
    np.testing.assert_allclose(learner.snapshot(), direct.snapshot(), rtol=1e-9)


# Bad input ------------------------------------------------------------------------------
def test_hosting_options_are_checked_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"invalid hosting='gpu': must be one of threads, "
                                          r"processes, ray"):
        A3CConfig(hosting="gpu")
    with pytest.raises(ConfigError, match="invalid ray_address='auto': must be given only "
                                          "with hosting 'ray'"):
        GA3CConfig(ray_address="auto")
    result = run_command(["-m", "tfa3c.cli", "train", "a3c", "--env", "CartPole-v1", "--hosting",
                          "ray", "--ray-address", "127.0.0.1:9", "--logdir",
                          str(tmp_path / "never")])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tfa3c: error: cannot join the Ray cluster at --ray-address '127.0.0.1:9': Connection "
        "refused; start one with `ray start --head` or leave --ray-address out for a local one"]
    assert not (tmp_path / "never").exists()


# Ray ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray cluster of two nodes on this machine (a head and one more), for the module."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1,
                                                            "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_ray_actors_on_two_nodes_train_and_stop(algo, tmp_path, ray_cluster, recorded_roles):
    import ray

    algorithm = build(algo, tmp_path, "ray", ray_address=ray_cluster.address)
    before = flat_weights(algorithm)
    summary = algorithm.learn()
    check_trained_and_stopped(algorithm, summary, before, recorded_roles, 2)
    assert len(ray.nodes()) == 2 and ray.is_initialized()  # the joined cluster stays up


def test_a_killed_ray_actor_stops_the_run_naming_it(tmp_path, ray_cluster, recorded_roles):
    algorithm = build("a3c", tmp_path, "ray", ray_address=ray_cluster.address, max_seconds=60)

    def kill_second_role():
        while algorithm.statistics.env_steps < 2000:
            time.sleep(0.05)
        os.kill(recorded_roles[1][1], signal.SIGKILL)

    threading.Thread(target=kill_second_role, daemon=True).start()
    with pytest.raises(TrainingError) as error:
        algorithm.learn()
    assert "thread a3c-worker-1 failed with RoleDied: a3c-worker-1 (Ray actor) died" in str(
        error.value)
    assert os.path.isfile(algorithm.final_checkpoint + ".index")
    assert all(gone(pid) for _, pid in recorded_roles)


LISTENING_SCRIPT = """
import json
from tfa3c.hosting.launch import close_roles, start_roles
from tfa3c.hosting.roles import RoleSpec


def listening():
    # Local addresses of every listening TCP socket (/proc/net/tcp{,6}: state 0A).
    found = set()
    for name in ("tcp", "tcp6"):
        with open(f"/proc/net/{name}") as table:
            for line in list(table)[1:]:
                fields = line.split()
                if fields[3] == "0A":
                    found.add(fields[1])
    return found


before = listening()
roles = start_roles("ray", [RoleSpec("echo", "tfa3c.hosting.roles:Echo")])
assert len(roles[0].call("exchange", 1, 3)) == 3
opened = sorted(listening() - before)
close_roles("ray", roles)
print(json.dumps(opened))
"""
# 127.0.0.1, ::1 and 127.0.0.1 as an IPv6 socket sees it (::ffff:127.0.0.1).
LOOPBACK_HEX = ("0100007F", "00000000000000000000000001000000",
                "0000000000000000FFFF00000100007F")


def test_a_local_ray_instance_listens_on_the_loopback_address_only():
    result = run_command(["-c", LISTENING_SCRIPT], timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    opened = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(opened) >= 2  # Ray's servers (GCS, raylet, the actor's worker)
    exposed = [address for address in opened if address.split(":")[0] not in LOOPBACK_HEX]
    assert exposed == [], f"listening beyond the loopback address: {exposed}"
