"""Child processes that end with their parent.

A benchmark runs each stage as a child process writing into a task directory. `kill <pid>` of the
benchmark (SIGTERM) would end the parent alone, and the orphaned stage would go on training and
writing files the next run then finds half-made. `run_child` stops the child first.
"""

import signal
import subprocess
import threading

# How long a child gets to end after SIGTERM before it is killed.
STOP_SECONDS = 30


def _raise_exit(signum, frame):
    del frame
    raise SystemExit(128 + signum)


def _stop(child):
    child.terminate()
    try:
        child.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def run_child(words, capture=False, timeout=None):
    """Runs `words` to the end, like `subprocess.run(words, check=True)`.

    A SIGTERM to this process, Ctrl-C, the timeout or any other exception while the child runs first
    stops the child (SIGTERM, then SIGKILL after `STOP_SECONDS`), then goes on as it would have.

    Args:
        words: The command.
        capture: Return the child's standard output (text) instead of passing it through.
        timeout: Seconds the child may run, or None.

    Returns:
        The standard output when `capture`, else None.

    Raises:
        subprocess.CalledProcessError: The child exited with a nonzero status.
        subprocess.TimeoutExpired: It ran past `timeout` (and was stopped).
    """
    child = subprocess.Popen(words, stdout=subprocess.PIPE if capture else None, text=True)
    # Python's default SIGTERM action ends the process without unwinding; raising instead runs the cleanup below.
    # Only the main thread may set a handler; elsewhere SIGTERM keeps its default action.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_exit) if in_main_thread else None
    try:
        output, _ = child.communicate(timeout=timeout)
    except BaseException:
        _stop(child)
        raise
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, words, output=output)
    return output
