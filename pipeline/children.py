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


def run_child(words):
    """Runs `words` to the end, like `subprocess.run(words, check=True)`.

    A SIGTERM to this process, Ctrl-C or any other exception while the child runs first stops the
    child (SIGTERM, then SIGKILL after `STOP_SECONDS`), then goes on as it would have.

    Raises:
        subprocess.CalledProcessError: The child exited with a nonzero status.
    """
    child = subprocess.Popen(words)
    # Python's default SIGTERM action ends the process without unwinding; raising instead runs the cleanup below.
    # Only the main thread may set a handler; elsewhere SIGTERM keeps its default action.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_exit) if in_main_thread else None
    try:
        status = child.wait()
    except BaseException:
        child.terminate()
        try:
            child.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    if status:
        raise subprocess.CalledProcessError(status, words)
