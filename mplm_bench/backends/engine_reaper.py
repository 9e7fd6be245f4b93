"""Engine processes die with the harness, even when it is killed with SIGKILL (issue 39.7).

vLLM's in-process engine runs its core and workers as child processes. A `kill -9` of the
harness gives it no chance to shut them down: they were seen holding 6.3 GB and half a core
minutes later. So, once the engine is up, a tiny watcher process is started that waits for the
harness to go (its parent changes) and then kills the engine's processes — each checked by its
start time, so a recycled pid is never hit. The watcher imports nothing of ours and needs only
psutil (a dependency of vLLM). A normal shutdown stops the watcher first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

# argv: parent pid, then pid:create_time for each process to kill when the parent is gone
WATCHER = """
import os, sys, time
import psutil
parent = int(sys.argv[1])
targets = [a.split(":") for a in sys.argv[2:]]
while os.getppid() == parent:
    time.sleep(0.5)
for pid, started in targets:
    try:
        p = psutil.Process(int(pid))
        if abs(p.create_time() - float(started)) < 0.01:
            p.kill()
    except psutil.Error:
        pass
"""


def watch_children() -> subprocess.Popen[bytes] | None:
    """Start the watcher over this process's current children (the engine's); None when there
    are none or psutil is missing."""
    try:
        import psutil
    except ImportError:
        return None
    me = psutil.Process()
    targets = []
    for child in me.children(recursive=True):
        try:
            targets.append(f"{child.pid}:{child.create_time()}")
        except psutil.Error:
            continue
    if not targets:
        return None
    return subprocess.Popen([sys.executable, "-c", WATCHER, str(os.getpid()), *targets],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # not in our group: a Ctrl-C does not kill it first


def stop_watcher(watcher: Any) -> None:
    if watcher is not None and watcher.poll() is None:
        watcher.kill()
        watcher.wait()
