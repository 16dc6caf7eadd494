"""Running a stage or tool as users do: a subprocess with its own task-directory root, offline."""

import os
import subprocess

from pipeline.paths import REPO


def run_command(words, directory, cwd=REPO, check=True):
    """Runs `words` with `$ADAPLER_DIRECTORY` = `directory`; a failure shows the command's stderr."""
    env = dict(os.environ, ADAPLER_DIRECTORY=str(directory), HF_HUB_OFFLINE="1", TF_USE_LEGACY_KERAS="1")
    result = subprocess.run(words, cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, words))} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result
