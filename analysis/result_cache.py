"""Reusing what a benchmark measured or trained before, when it was made with the same settings.

Benchmarks span sessions whose work directories do not survive: a results JSON carries each seed's
full result with the settings it was measured with, and task directories record the settings
their artefacts were made with. Settings are flat dicts (`"adapler.PHI": 0.003`); a setting a
record lacks was added after it ran, so that run behaved as the setting's default.
"""

import json
import os

from pipeline.atomic import write_json


class SettingsChangedError(Exception):
    """A work directory holds artefacts made with other settings than this run's."""


def changed_settings(saved, current, defaults):
    """The settings in which a record differs from this run.

    Args:
        saved: The settings recorded with a result or an artefact.
        current: This run's settings.
        defaults: Setting name to default value (used for the settings the record lacks).

    Returns:
        `"NAME recorded -> current"` for every setting that differs, in `current`'s order.
    """
    recorded = {name: saved.get(name, defaults.get(name)) for name in current}
    return [f"{name} {recorded[name]} -> {value}" for name, value in current.items() if recorded[name] != value]


def same_settings(saved, current, defaults):
    """Whether a result was measured with this run's settings (see `changed_settings`)."""
    return not changed_settings(saved, current, defaults)


def earlier_result(path, seed, current, defaults, key="per_seed"):
    """The result of `seed` in an earlier results JSON, when it was measured with this run's settings.

    Args:
        path: The results JSON (absent is fine).
        seed: The data seed.
        current: This run's settings.
        defaults: Their defaults.
        key: The JSON's list of per-seed results.

    Returns:
        The per-seed result dict, or None.
    """
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        per_seed = json.load(handle).get(key, [])
    return next((result for result in per_seed
                 if result.get("seed") == seed and same_settings(result.get("settings", {}), current, defaults)), None)


def claim(record, current, defaults, artefact_exists, reuse=True):
    """Checks that existing artefacts were made with this run's settings, then records them.

    Args:
        record: JSON file holding the settings the artefacts were made with.
        current: This run's settings the artefacts depend on.
        defaults: Their defaults.
        artefact_exists: Whether any of the artefacts is already there.
        reuse: False redoes the artefacts whatever their record says (`--RESUME=false`).

    Returns:
        True when the existing artefacts may be reused.

    Raises:
        SettingsChangedError: The artefacts came from other settings, or from a run that left no record of them.
    """
    if reuse and artefact_exists:
        if not os.path.isfile(record):
            raise SettingsChangedError(f"{os.path.dirname(os.path.dirname(record))} holds artefacts without a record of "
                                  "the settings they were made with; pass --RESUME=false to redo them, or another "
                                  "--WORK_DIR.")
        with open(record) as handle:
            changed = changed_settings(json.load(handle), current, defaults)
        if changed:
            raise SettingsChangedError(f"{record} was made with other settings ({'; '.join(changed)}); pass --RESUME=false "
                                  "to redo it, or another --WORK_DIR.")
    write_json(record, current)
    return reuse and artefact_exists
