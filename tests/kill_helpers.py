"""Kill a process in the middle of what it is doing: the saving tests run a save in a
subprocess that touches a `ready` file at the chosen moment, then SIGKILL it there."""
import os
import signal
import subprocess
import sys
import time


def run_and_kill_when_ready(script: str, ready) -> None:
    """Run `script` with this Python; SIGKILL it once it has created the file `ready`."""
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while not os.path.exists(ready):
        assert proc.poll() is None and time.time() < deadline, "the saving process died"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
