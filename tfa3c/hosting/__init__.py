"""Where the algorithms' roles run (`--hosting threads|processes|ray`).

- `threads`: the supervisor of every thread of a run (workers, agents, predictors,
  trainers, and the threads that drive hosted roles): a failing thread stops the run
  and is named.
- `roles`: a role in another process or host, behind one interface (`RemoteRole`):
  built there by name from picklable arguments, called with plain arrays.
- `processes`: roles in `multiprocessing` processes of this machine.
- `ray_cluster`: roles as Ray actors, on this machine or a cluster.

The algorithms say what a role does (`A3CWorker`, `GA3CAgent`, and their hosted
wrappers); these modules only carry the calls.
"""
