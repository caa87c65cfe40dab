"""What acts: the policy network and its parts, independent of any algorithm.

- `encoders`: MLP, LSTM and MLP-then-LSTM torsos (Keras layers).
- `distributions`: the action distribution chosen from the action space (categorical,
  multi-categorical, diagonal Gaussian): its math, once.
- `normalization`: running observation statistics (a layer of the network) and the
  reward scaling by the return's spread.
- `actor_critic`: `ActorCritic`, encoder → distribution parameters and value.
- `acting`: fast acting on a snapshot of the weights (NumPy where it covers the network).
"""
