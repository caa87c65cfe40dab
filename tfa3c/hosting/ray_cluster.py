"""Roles as Ray actors (`--hosting ray`): on this machine or across a cluster.

Ray (`pip install "tfa3c[ray]"`) starts the actors, places them on the cluster's
nodes and carries their messages (arrays through its object store); tfa3c writes no
transport of its own. Without `--ray-address` a local Ray instance is started for the
run and shut down after it; with one (`auto`, or `host:port` of a head node started
with `ray start --head`) the run joins that cluster, and its actors are killed when
the run ends. Every node needs tfa3c installed, as the learner's machine has it.

An actor that dies (its process killed, its node lost) makes the thread driving it
raise `RoleDied` at its next reply: Ray reports the death instead of a result, and
actors are not restarted (`max_restarts=0`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from tfa3c.errors import ConfigError, UserInputError, first_line
from tfa3c.hosting.roles import RoleDied, RoleFailed, RoleServer, RoleSpec, unwrap

_CLOSE_SECONDS = 5.0
_CONNECT_SECONDS = 3.0
_started_here = {"ray": False}  # whether this process started the Ray instance it uses


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("invalid hosting='ray': Ray is not installed; "
                          "pip install \"tfa3c[ray]\", or use hosting threads or processes"
                          ) from None
    return ray


_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextlib.contextmanager
def _machine_local(local: bool) -> Iterator[None]:
    """While a local instance starts, Ray serves this machine alone.

    Ray's own switch for that (`ENABLE_RAY_CLUSTER`, read from
    `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`; off by default on macOS and Windows) makes it
    take 127.0.0.1 as the node's address, and its servers (GCS, raylet, object manager,
    every worker) then listen there and nowhere else. The switch is turned off for the
    start only, so that a later `ray.init(address=...)` in this process joins clusters
    as usual. A Ray that no longer has the switch fails the test that checks the
    listening addresses (`tests/test_hosting.py`).
    """
    if not local:
        yield
        return
    from ray._private import ray_constants

    previous = ray_constants.ENABLE_RAY_CLUSTER, os.environ.get(_SWITCH)
    ray_constants.ENABLE_RAY_CLUSTER = False  # this process's reading of the switch
    os.environ[_SWITCH] = "0"  # and that of the processes Ray starts (workers included)
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous[0]
        if previous[1] is None:
            del os.environ[_SWITCH]
        else:
            os.environ[_SWITCH] = previous[1]


def connect(address: str | None):
    """Joins the cluster at `address`, or starts a local Ray instance (None); returns `ray`.

    A local instance listens on the loopback address only: Ray has no authentication,
    and whoever reaches its ports can run code on this machine.

    Raises:
        UserInputError: no cluster answers at `address`.
    """
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    _check_reachable(address)
    try:
        with _machine_local(address is None):
            # "local": an instance of this run's own, never a cluster that `ray start` or
            # RAY_ADDRESS left for Ray to find.
            ray.init(address=address or "local", include_dashboard=False,
                     logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise UserInputError(f"cannot join the Ray cluster at --ray-address {address!r}: "
                             f"{first_line(error)}; start one with `ray start --head` "
                             "or leave --ray-address out for a local one") from None
    _started_here["ray"] = address is None
    return ray


def _check_reachable(address: str | None) -> None:
    """Fails at once if nothing listens at a `host:port` address (Ray would retry for minutes)."""
    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserInputError(f"invalid --ray-address {address!r}: must be auto or the head "
                             "node's host:port (from `ray start --head`)")
    try:
        socket.create_connection((host, int(port)), timeout=_CONNECT_SECONDS).close()
    except OSError as error:
        raise UserInputError(f"cannot join the Ray cluster at --ray-address {address!r}: "
                             f"{error.strerror or error}; start one with `ray start --head` "
                             "or leave --ray-address out for a local one") from None


def disconnect() -> None:
    """Shuts Ray down if this process started it (a joined cluster keeps running)."""
    ray = _import_ray()
    if _started_here["ray"] and ray.is_initialized():
        ray.shutdown()
        _started_here["ray"] = False


class RayRole:
    """One role as a Ray actor (see `tfa3c.hosting.roles.Role`)."""

    def __init__(self, spec: RoleSpec, actor, ray):
        self.name = spec.name
        self.actor = actor
        self._ray = ray
        self._pid: int | None = None

    def _result(self, reference) -> Any:
        ray = self._ray
        try:
            return ray.get(reference)
        except ray.exceptions.RayActorError as error:
            raise RoleDied(f"{self.name} (Ray actor) died: {first_line(error)}") from None
        except ray.exceptions.RayTaskError as error:  # its constructor raised
            raise RoleFailed(f"{self.name} failed: {first_line(error)}") from None

    def pid(self) -> int:  # noqa: D102
        if self._pid is None:
            self._pid = int(self._result(self.actor.pid.remote()))
        return self._pid

    def call(self, method: str, *args: Any) -> Any:  # noqa: D102
        return unwrap(self.name, self._result(self.actor.call.remote(method, args)))

    def close(self) -> None:  # noqa: D102
        ray = self._ray
        with contextlib.suppress(Exception):  # a dead actor has nothing to close
            ray.get(self.actor.close.remote(), timeout=_CLOSE_SECONDS)
        with contextlib.suppress(Exception):
            ray.kill(self.actor)


def start_actors(specs: Sequence[RoleSpec], address: str | None) -> list[RayRole]:
    """Starts one actor per spec, spread over the cluster's nodes; waits until all are built.

    Each actor asks for an equal share of the cluster's CPUs, at most one, so that
    any number of roles can be placed (on this 2-core machine, 4 workers take half a
    CPU each).

    Raises:
        RoleFailed, RoleDied: a role could not be built (the others are killed).
    """
    ray = connect(address)
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    share = min(1.0, cpus / max(len(specs), 1))
    server = ray.remote(RoleServer)
    roles = [RayRole(spec, server.options(
        num_cpus=share, max_restarts=0, max_concurrency=1, scheduling_strategy="SPREAD"
    ).remote(spec), ray) for spec in specs]
    try:
        for role in roles:
            role.pid()  # waits for its build; they run in parallel
    except BaseException:
        for role in roles:
            role.close()
        raise
    return roles
