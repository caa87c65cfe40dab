"""The encoders' names, importable without Keras (configs and the CLI check them)."""

MLP = "mlp"
LSTM = "lstm"
MLP_LSTM = "mlp-lstm"
CNN = "cnn"
NATURE_CNN = "nature-cnn"
CNN_LSTM = "cnn-lstm"
ENCODERS = (MLP, LSTM, MLP_LSTM, CNN, NATURE_CNN, CNN_LSTM)
PIXEL_ENCODERS = (CNN, NATURE_CNN, CNN_LSTM)
