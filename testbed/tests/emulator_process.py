"""Start `testbed/emulator.py` as a subprocess for the emulator's own tests.

    from emulator_process import start_emulator, aws_client

    endpoint, stop = start_emulator()
    try:
        cw = aws_client("cloudwatch", endpoint)
        ...
    finally:
        stop()

or, as a context manager, ``with running_emulator() as endpoint: ...``.

The emulator listens on 127.0.0.1 and a free port (``--port 0``); the port
is read from ``--port-file``. Its standard input is a pipe held here
(``--exit-on-stdin-eof``), so it also goes away if the test process dies.
``stop()`` sends SIGTERM and waits, then kills if needed; it is idempotent.
Extra command-line arguments for the emulator can be passed to
``start_emulator``; ``start_fault_proxy(endpoint)`` starts `fault_proxy.py`
in front of it the same way. ``cbor_call`` makes a CloudWatch call the way the Rust
SDK does (RPCv2-CBOR), through the emulator's bridge.
"""

from __future__ import annotations

import unittest
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from typing import Callable, Iterator

TESTBED = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMULATOR = os.path.join(TESTBED, "emulator.py")
FAULT_PROXY = os.path.join(TESTBED, "fault_proxy.py")

# What boto3 needs to talk to the emulator; no real credentials anywhere.
CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def start_emulator(*extra_args: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> tuple[str, Callable[[], None]]:
    """Start the emulator; return (endpoint URL, stop function). `env` adds
    to the emulator's environment."""
    # Listening is not answering yet: wait for a reset to succeed.
    return _start_server(EMULATOR, extra_args, ("POST", "/moto-api/reset"), env=env, timeout=timeout)


def start_fault_proxy(upstream: str, *extra_args: str, timeout: float = 30.0) -> tuple[str, Callable[[], None]]:
    """Start `fault_proxy.py` in front of `upstream`; return (endpoint URL,
    stop function). Faults come from `extra_args` (`--fault ...`) or later
    from ``PUT /_fault_proxy/faults``."""
    return _start_server(FAULT_PROXY, ("--upstream", upstream, *extra_args), ("GET", "/_fault_proxy/stats"),
                         timeout=timeout)


def _start_server(script: str, args, ready: tuple[str, str], *, env: dict[str, str] | None = None,
                  timeout: float) -> tuple[str, Callable[[], None]]:
    """Start `script` on 127.0.0.1 and a free port and wait until `ready`
    (method, path) answers 200; return (endpoint URL, stop function)."""
    name = os.path.basename(script)
    workdir = tempfile.mkdtemp(prefix=f"{name}-test-")
    port_file = os.path.join(workdir, "port")
    log_path = os.path.join(workdir, "server.log")
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [sys.executable, "-I", script, "--port", "0",
         "--port-file", port_file, "--exit-on-stdin-eof", "--quiet", *args],
        stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    log.close()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        with contextlib.suppress(Exception):
            process.stdin.close()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    def log_text() -> str:
        with contextlib.suppress(OSError), open(log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
        return ""

    deadline = time.monotonic() + timeout
    try:
        port = None
        while port is None:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start within {timeout} s:\n{log_text()}")
            with contextlib.suppress(OSError, ValueError), open(port_file) as f:
                port = int(f.read().strip())
            if port is None:
                time.sleep(0.05)
        endpoint = f"http://127.0.0.1:{port}"
        method, path = ready
        while True:
            try:
                request = urllib.request.Request(f"{endpoint}{path}", data=b"" if method == "POST" else None,
                                                 method=method)
                with urllib.request.urlopen(request, timeout=10) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{name} on port {port} does not answer:\n{log_text()}")
            time.sleep(0.1)
    except BaseException:
        stop()
        raise
    return endpoint, stop


@contextlib.contextmanager
def running_emulator(*extra_args: str) -> Iterator[str]:
    """Context manager form of :func:`start_emulator`; yields the endpoint."""
    endpoint, stop = start_emulator(*extra_args)
    try:
        yield endpoint
    finally:
        stop()


def reset(endpoint: str) -> None:
    """Clear all emulated state (moto's ``POST /moto-api/reset``)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def aws_client(service: str, endpoint: str, retries: dict | None = None, **config):
    """A boto3 client for the emulator with dummy credentials; `retries` is
    botocore's retry configuration (default: legacy mode, one retry)."""
    import boto3
    import botocore.config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=CLIENT_ENV["AWS_REGION"],
        aws_access_key_id=CLIENT_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CLIENT_ENV["AWS_SECRET_ACCESS_KEY"],
        config=botocore.config.Config(retries=retries or {"max_attempts": 1}, **config),
    )


def cbor_call(endpoint: str, operation: str, params: dict) -> tuple[int, dict]:
    """A CloudWatch call the way aws-sdk-cloudwatch sends it (RPCv2-CBOR,
    timestamps as epoch seconds): (HTTP status, decoded answer)."""
    import cbor2

    request = urllib.request.Request(
        f"{endpoint}/service/GraniteServiceVersion20100801/operation/{operation}",
        data=cbor2.dumps(params, datetime_as_timestamp=True), method="POST",
        headers={
            "smithy-protocol": "rpc-v2-cbor",
            "Content-Type": "application/cbor",
            "Accept": "application/cbor",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/monitoring/aws4_request, "
                             "SignedHeaders=host, Signature=0",
        })
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, cbor2.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, cbor2.loads(error.read())


def code_zip(text):
    """A Lambda deployment package holding `index.py` with `text`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", text)
    return buf.getvalue()


class EmulatorCase(unittest.TestCase):
    """Tests that share one emulator, started for the class (its address in
    `cls.endpoint`) and stopped after its last test, even when setting up the
    class fails after the start."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.endpoint, stop = start_emulator()
        cls.addClassCleanup(stop)
