"""The `nnctl` entry point: hand the command to the warm server, or run it here.

Here (in this process, as before the server existed) when NNCTL_DAEMON=0, `--no-daemon`, `--verbose`
(TensorFlow's import-time log lines belong to the caller), `--help`/`--version`/no command, `serve` and
`daemon`, or when no server can start. Otherwise the caller passes its stdin, stdout and stderr,
folder, environment and arguments to a fresh fork of the server and waits for its exit code,
forwarding the signals it gets (Ctrl-C interrupts the run exactly as in a new process).
"""

from __future__ import annotations

import os
import signal
import sys

from nnctl import daemon_control as control

HERE = {"serve", "daemon"}  # long-lived or managing the server itself
HERE_OPTIONS = {"--no-daemon", "--verbose", "-v", "--help", "--version", "--install-completion",
                "--show-completion"}
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def main() -> None:
    argv = sys.argv[1:]
    if not _warm(argv):
        return _here()
    try:
        sock = control.reach(os.environ)
    except OSError:
        sock = None
    except KeyboardInterrupt:  # while a new server imports: as Ctrl-C during a command's own start-up
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    if sock is None:
        return _here()
    with sock:
        sent, pending = [False], []  # a signal before the request is on its way is forwarded right after it

        def forward(signum: int, _frame: object) -> None:
            if sent[0]:
                control.send(sock, {"signal": signum})  # queued until the command's process reads it
            else:
                pending.append(signum)

        for signum in FORWARDED:
            signal.signal(signum, forward)
        control.send(sock, {"op": "run", "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                            "pid": os.getpid()}, fds=[0, 1, 2])
        sent[0] = True
        for signum in pending:
            control.send(sock, {"signal": signum})
        pid = None
        while True:
            try:
                message, _ = control.receive(sock)
            except InterruptedError:
                continue
            if message is None:
                print(f"error: the warm nnctl process{f' {pid}' if pid else ''} running this command ended "
                      "without an exit code (killed?); a run it started can be resumed with nnctl train "
                      "--resume RUN_DIR; NNCTL_DAEMON=0 runs commands without the server", file=sys.stderr)
                sys.exit(1)
            if "pid" in message:
                pid = message["pid"]
            elif "exit" in message:
                if "signal" in message:  # what a shell would show, and what to do about the run
                    print(f"error: the nnctl process {pid} running this command was killed by "
                          f"{signal.Signals(message['signal']).name}; a run it started can be resumed with "
                          "nnctl train --resume RUN_DIR", file=sys.stderr)
                sys.exit(message["exit"])


def _warm(argv: list[str]) -> bool:
    if control.disabled(os.environ) or not hasattr(control.socket, "send_fds"):
        return False
    for arg in argv:
        if arg in HERE_OPTIONS:
            return False
        if not arg.startswith("-"):
            return arg not in HERE
    return False  # options only: --help's listing


def _here() -> None:
    from nnctl.cli import run

    run()


if __name__ == "__main__":
    main()
