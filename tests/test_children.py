"""A stage run as a child process ends with the benchmark that started it."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from pipeline.children import run_child

import pytest

WAIT_SECONDS = 30


def wait_for(condition, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {WAIT_SECONDS} s")
        time.sleep(0.05)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_to_the_parent_stops_the_child(tmp_path):
    pid_file = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from pipeline.children import run_child
        run_child([sys.executable, "-c", {child!r}])
        """)])
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), "the child did not start")
        child_pid = int(pid_file.read_text())
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=WAIT_SECONDS) == 128 + signal.SIGTERM
        # The parent reaped the child before exiting, so its pid is gone (not a zombie left to init).
        assert not alive(child_pid)
    finally:
        parent.kill()
        parent.wait()


def test_a_failed_child_raises_with_its_status():
    with pytest.raises(subprocess.CalledProcessError) as error:
        run_child([sys.executable, "-c", "raise SystemExit(3)"])
    assert error.value.returncode == 3


def test_sigterm_handler_is_restored_after_the_child():
    before = signal.getsignal(signal.SIGTERM)
    run_child([sys.executable, "-c", "pass"])
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_output_is_returned_when_captured():
    assert run_child([sys.executable, "-c", "print('RESULT 7')"], capture=True) == "RESULT 7\n"


def test_a_child_past_its_timeout_is_stopped(tmp_path):
    pid_file = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    with pytest.raises(subprocess.TimeoutExpired):
        run_child([sys.executable, "-c", child], timeout=3)
    assert not alive(int(pid_file.read_text()))
