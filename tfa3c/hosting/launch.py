"""Starting and closing hosted roles, whichever backend carries them.

`tfa3c.hosting.roles` defines what a hosted role is; the backends
(`tfa3c.hosting.processes`, `tfa3c.hosting.ray_cluster`) implement it; this module picks
one, so that neither the interface nor a backend imports the other backends.
"""

from __future__ import annotations

from collections.abc import Sequence

from tfa3c.hosting.roles import RemoteRole, RoleSpec


def start_roles(hosting: str, specs: Sequence[RoleSpec], ray_address: str | None = None
                ) -> list[RemoteRole]:
    """Starts every role of `specs` under `hosting` ("processes" or "ray") and waits until built.

    The roles are built in parallel. If any fails to build, the others are closed and
    the error is raised.
    """
    if hosting == "processes":
        from tfa3c.hosting.processes import start_processes

        return start_processes(specs)
    if hosting == "ray":
        from tfa3c.hosting.ray_cluster import start_actors

        return start_actors(specs, ray_address)
    raise ValueError(f"no remote hosting {hosting!r}: processes or ray")


def close_roles(roles: Sequence[RemoteRole]) -> None:
    """Closes every role; one that fails to close does not keep the others open."""
    errors = []
    for role in roles:
        try:
            role.close()
        except Exception as error:  # report below, after the others are closed
            errors.append(error)
    if errors:
        raise errors[0]
