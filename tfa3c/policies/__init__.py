"""What acts: the policy network and its parts, independent of any algorithm.

- `encoders`: MLP, LSTM and MLP-then-LSTM torsos (Keras layers).
- `distributions`: the action distribution chosen from the action space (categorical,
  multi-categorical, diagonal Gaussian): its math, once.
- `normalization`: running observation statistics (a layer of the network) and the
  reward scaling by the return's spread.
- `network_options`: `NetworkOptions`, what shapes a network (no Keras), and reading
  them back from a saved network's configuration.
- `actor_critic`: `ActorCritic`, encoder → distribution parameters and value, and
  `build_policy`, the one way to build it from observations, actions and options.
- `acting`: fast acting on a snapshot of the weights (NumPy where it covers the network).

`build_policy` and `NetworkOptions` are importable from here; Keras loads on first use.
"""

_EXPORTS = {"build_policy": "tfa3c.policies.actor_critic",
            "NetworkOptions": "tfa3c.policies.network_options"}


def __getattr__(name: str):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'tfa3c.policies' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
