"""Run one command in a process group of its own, and end that whole group with this process.

    python -m pipeline.guard COMMAND...

A Dask worker runs each stage as `python -m pipeline.guard python -m dvc repro -s STAGE`.  DVC
starts the stage's own `python` as its child, in DVC's process group; killing DVC alone would leave
that child training.  The guard ends the group when its parent (the worker) dies: at once, with
SIGKILL, so a retry on another worker never meets it (the stage's outputs and checkpoints are
written atomically, and DVC's locks of a dead process are released: `.dvc/tmp/lock` by the OS,
`.dvc/tmp/rwlock` by the next DVC that finds the process gone).  On SIGINT or SIGTERM (Ctrl-C,
a worker shut down) it passes SIGINT to the group, so DVC reports the stage as stopped and releases
its locks itself, and kills what is left after GRACE seconds.  Its exit status is the command's.
"""
import os
import signal
import subprocess
import sys
import time

POLL = 0.1        # seconds between checks that the parent is alive
GRACE = 10.0      # seconds the group has to stop after SIGINT before it is killed


def _kill(group, sig):
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass


def main(argv=None):
    command = (argv if argv is not None else sys.argv[1:])
    parent = os.getppid()
    for sig in (signal.SIGINT, signal.SIGTERM):                     # a worker ignores Ctrl-C; the command must not
        signal.signal(sig, signal.SIG_DFL)
    child = subprocess.Popen(command, start_new_session=True)       # its pgid is its pid
    stopping = []

    def stop(signum, frame):
        stopping.append(time.monotonic())
        _kill(child.pid, signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while child.poll() is None:
        if os.getppid() != parent:                                  # the worker died: free the stage at once
            _kill(child.pid, signal.SIGKILL)
        elif stopping and time.monotonic() - stopping[0] > GRACE:
            _kill(child.pid, signal.SIGKILL)
        time.sleep(POLL)
    _kill(child.pid, signal.SIGKILL)                                # anything the command left behind
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


if __name__ == "__main__":
    sys.exit(main())
