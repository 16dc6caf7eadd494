"""Reading what a Keras `.h5` weights file holds, so a wrong checkpoint fails with a clear message, and which
model it is."""

import hashlib
import os
import re

import h5py
import numpy as np

_LAYER_INDEX = re.compile(r"/encoder/layer_\._(\d+)/")


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable or does not fit the model."""


def describe_h5(path):
    """Summarises a Keras `.h5` weights file.

    Args:
        path: Path of the file.

    Returns:
        Dict with `num_layers` (encoder layers found), `is_adapler` (has ETA) and
        `num_weights`.

    Raises:
        CheckpointError: The file is missing or is not a Keras weights file.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"Checkpoint not found: {path}")
    try:
        with h5py.File(path, "r") as handle:
            names = []
            for layer_name in handle.attrs["layer_names"]:
                group = handle[layer_name]
                names.extend(n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"])
    except (OSError, KeyError) as error:
        raise CheckpointError(f"Checkpoint {path} is not a readable Keras .h5 weights file ({error}).") from None
    layers = {int(m.group(1)) for m in map(_LAYER_INDEX.search, names) if m}
    return {
        "num_layers": len(layers),
        "is_adapler": any(n.rsplit("/", 1)[-1].startswith("ETA") for n in names),
        "num_weights": len(names),
    }


def weights_digest(path):
    """A short digest of the weight values of a Keras `.h5` file: the same for two files of the same weights.

    It hashes each weight's name and values, not the file's bytes (which hold metadata that differs between saves),
    so results measured from one checkpoint can be told from those of a retrained one: a rerun of a recipe on
    another processor gives other weights.

    Args:
        path: Path of the file.

    Returns:
        The first 12 hex digits of a SHA-256.
    """
    digest = hashlib.sha256()
    describe_h5(path)  # a clear error for a missing or foreign file

    def add(name, item):
        if isinstance(item, h5py.Dataset):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(item[()]).tobytes())

    with h5py.File(path, "r") as handle:
        handle.visititems(add)
    return digest.hexdigest()[:12]


def check_compatible(path, num_layers, is_adapler):
    """Raises a `CheckpointError` naming the mismatch when `path` cannot load into the model.

    Args:
        path: The `.h5` file.
        num_layers: Encoder layers of the model.
        is_adapler: Whether the model already has its Contribution Predictors.
    """
    found = describe_h5(path)
    if found["num_layers"] != num_layers:
        raise CheckpointError(
            f"Checkpoint {path} has {found['num_layers']} encoder layers; the model has {num_layers}. "
            "Use the same --BASE_MODEL the checkpoint was trained from."
        )
    if found["is_adapler"] and not is_adapler:
        raise CheckpointError(f"Checkpoint {path} is an AdapLeR checkpoint: call model.to_AdapLeR() before loading it.")
    if is_adapler and not found["is_adapler"]:
        raise CheckpointError(
            f"Checkpoint {path} is a plain fine-tuned checkpoint: load it before calling model.to_AdapLeR()."
        )
