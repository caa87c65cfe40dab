"""Where the algorithms' roles run (`--hosting threads|processes|ray`).

- `threads`: the supervisor of every thread of a run (predictors, trainers, and the
  threads that drive the roles): a failing thread stops the run and is named; and
  `LocalRole`, a role in the learner's own process.
- `roles`: a role wherever it lives, behind one interface (`Role`):
  built there by name from picklable arguments, called with plain arrays.
- `processes`: roles in `multiprocessing` processes of this machine.
- `ray_cluster`: roles as Ray actors, on this machine or a cluster.
- `launch`: starts and closes a run's roles on the hosting it names.

The algorithms say what a role does (`A3CWorker`, `GA3CAgent`), once; these modules
only decide where it runs and carry the calls.
"""
