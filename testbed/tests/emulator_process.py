"""Starts `testbed/emulator.py` in a subprocess for the emulator's own tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

EMULATOR = Path(__file__).resolve().parent.parent / "emulator.py"
START_TIMEOUT = 60.0


def start_emulator(
    extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> tuple[str, Callable[[], None]]:
    """Runs the emulator on 127.0.0.1 and a free port.

    Returns `(endpoint, stop)`: the endpoint URL (`http://127.0.0.1:<port>`)
    and a function that stops the process (idempotent). `extra_args` are
    appended to the command line; `env` entries are added to this process's
    environment for the child. The child watches its stdin (a pipe held
    here), so it also goes away if the test process dies.
    """
    workdir = tempfile.TemporaryDirectory(prefix="emulator-test-")
    port_file = Path(workdir.name) / "port"
    log = open(Path(workdir.name) / "emulator.log", "w+b")
    child_env = dict(os.environ)
    child_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-I", str(EMULATOR), "--host", "127.0.0.1", "--port", "0",
         "--port-file", str(port_file), "--exit-on-stdin-eof", "--quiet", *extra_args],
        stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=child_env,
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
        log.close()
        workdir.cleanup()

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            text = port_file.read_text().strip()
        except FileNotFoundError:
            text = ""
        if text.isdigit():
            return f"http://127.0.0.1:{int(text)}", stop
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            output = log.read().decode(errors="replace")
            stop()
            raise RuntimeError(f"emulator did not start (exit status {proc.returncode}):\n{output}")
        time.sleep(0.05)
