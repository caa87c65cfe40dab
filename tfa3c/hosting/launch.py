"""Starting and closing a run's roles, whichever host carries them.

`tfa3c.hosting.roles` defines what a role is; the hosts (`tfa3c.hosting.threads`,
`tfa3c.hosting.processes`, `tfa3c.hosting.ray_cluster`) implement it; this module picks
one, so that neither the interface nor a host imports the other hosts, and no
algorithm branches on where its roles run.
"""

from __future__ import annotations

from collections.abc import Sequence

from tfa3c.hosting.roles import Role, RoleSpec

HOSTINGS = ("threads", "processes", "ray")


def start_roles(hosting: str, specs: Sequence[RoleSpec], ray_address: str | None = None
                ) -> list[Role]:
    """Starts every role of `specs` under `hosting` and waits until each is built.

    `threads` builds them in this process; `processes` and `ray` build them in
    parallel, each in a process of its own (Ray: joining the cluster at
    `ray_address`, or starting a local one). If any fails to build, the others are
    closed (and a Ray instance started here is shut down) and the error is raised.
    """
    if hosting == "threads":
        from tfa3c.hosting.threads import start_local

        return start_local(specs)
    if hosting == "processes":
        from tfa3c.hosting.processes import start_processes

        return start_processes(specs)
    if hosting == "ray":
        from tfa3c.hosting.ray_cluster import disconnect, start_actors

        try:
            return start_actors(specs, ray_address)
        except BaseException:
            disconnect()
            raise
    raise ValueError(f"no hosting {hosting!r}: {', '.join(HOSTINGS)}")


def close_roles(hosting: str, roles: Sequence[Role]) -> None:
    """Closes every role; one that fails to close does not keep the others open.

    Under `ray`, a Ray instance this process started is shut down afterwards.
    """
    errors = []
    for role in roles:
        try:
            role.close()
        except Exception as error:  # report below, after the others are closed
            errors.append(error)
    if hosting == "ray":
        from tfa3c.hosting.ray_cluster import disconnect

        disconnect()
    if errors:
        raise errors[0]
