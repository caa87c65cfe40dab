"""What learns: A3C and GA3C, their roles, losses and configuration.

- `training`: `AsyncAlgorithm`, the one loop every algorithm shares: stop conditions,
  logging, checkpoints, signals, the summary.
- `a3c`: the A3C roles: `A3CWorker` (acts, computes gradients) and `GlobalLearner`
  (applies them); `A3C` wires them together.
- `ga3c`: the GA3C roles: `GA3CAgent` (acts on predictions), `Predictor` (batched
  forward passes), `Learner` (`tf.distribute` training steps); `GA3C` wires them.
- `losses`, `returns`: the actor-critic loss, n-step and GAE returns.
- `config`, `presets`: validated configurations, grouped by concern, with their
  defaults; what each action kind changes.
- `registry`: the algorithms, one registration each (read by the CLI, export and the
  benchmarks).

How the roles run (threads today) is `tfa3c.hosting`'s concern.
"""
