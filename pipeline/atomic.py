"""Writes that never leave a half-written file behind: write beside, then rename."""

import contextlib
import json
import os
import pickle
import shutil


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path next to `path`; renames it onto `path` only if the block succeeds."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.partial{suffix}"
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def atomic_dir(path):
    """Yields a temporary folder next to `path`; replaces `path` with it only if the block succeeds."""
    temporary = f"{os.path.normpath(path)}.partial"
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        yield temporary
        shutil.rmtree(path, ignore_errors=True)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def save_weights(model, path):
    # Keras picks the file format from the suffix, so the temporary name keeps ".h5".
    with atomic_path(path, suffix=".h5") as temporary:
        model.save_weights(temporary)


def write_json(path, value):
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        json.dump(value, handle, indent=2)


def write_pickle(path, value):
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        pickle.dump(value, handle, pickle.HIGHEST_PROTOCOL)


def write_text(path, text):
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        handle.write(text)
