"""Start `edge-drift serve` as a real child process on loopback and wait until it answers (tests, bench)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def edge_drift_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -c` on the CLI entry point."""
    script = Path(sys.executable).with_name("edge-drift")
    if script.is_file():
        return [str(script)]
    found = shutil.which("edge-drift")
    return [found] if found else [sys.executable, "-c", "from edge_drift.cli import main; main()"]


def wait_for_health(url: str, process: subprocess.Popen, timeout: float, name: str) -> None:
    """Until GET url/health answers 200; an exit or the timeout raises, naming the server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{name} did not answer {url}/health within {timeout:.0f}s")


class ServerProcess:
    """`edge-drift serve --port P ARGS...` on 127.0.0.1; stopped (SIGINT, then kill) on exit."""

    def __init__(self, *args: str, env: dict | None = None, startup_timeout: float = 120.0, log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = open(log, "w") if log else subprocess.DEVNULL
        self.process = subprocess.Popen([*edge_drift_command(), "serve", "--port", str(self.port), *args],
                                        env={**os.environ, **(env or {})}, stdout=self._out,
                                        stderr=subprocess.STDOUT)
        try:
            self._wait(startup_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float) -> None:
        wait_for_health(self.url, self.process, timeout, f"edge-drift serve (log: {self.log})")

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=10).json()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._out is not subprocess.DEVNULL:
            self._out.close()
        return self.process.returncode

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
