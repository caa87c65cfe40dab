"""Names of what tfa3c writes, in one place and without importing TensorFlow.

A run folder (`--logdir`) holds `config.json`, `episodes.csv`, `checkpoints/` (with
`network.json`) and the TensorBoard events; an export folder holds one numbered version
folder per export, as TF Serving expects. Light commands (`tfa3c plot`, `tfa3c bench`)
read these too.
"""

from __future__ import annotations

import os
import re

RUN_CONFIG = "config.json"  # {"algo": ..., "config": {...the run's config fields...}}
EPISODES_CSV = "episodes.csv"
CSV_FIELDS = ("wall_time", "env_steps", "return", "length")
ADJUSTMENTS_CSV = "adjustments.csv"  # GA3C's dynamic adjustment: each change, its effect
CHECKPOINT_FOLDER = "checkpoints"
NETWORK_FILE = "network.json"  # in CHECKPOINT_FOLDER: the network's Keras config

_VERSION = re.compile(r"^\d+$")


def existing_versions(model_dir: str) -> list[int]:
    """Integer version folders under `model_dir`, ascending (empty if there are none)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir)
                  if _VERSION.match(name) and os.path.isdir(os.path.join(model_dir, name)))
