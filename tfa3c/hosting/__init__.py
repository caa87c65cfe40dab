"""Where the algorithms' roles run.

- `threads`: the supervisor of the worker, agent, predictor and trainer threads: a
  failing thread stops the run and is named.
"""
