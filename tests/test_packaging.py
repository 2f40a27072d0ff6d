"""The built wheel, installed away from the source tree, runs the demo with every network connection refused."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.real  # builds the wheel and runs the demo on the embedded model

# Loaded at interpreter start (site imports `sitecustomize` from PYTHONPATH): any attempt to reach another
# machine raises, and is written down so the test can see it even if the program swallowed the error.
SOCKET_GUARD = '''
import os, socket
_log = os.environ["EDGE_DRIFT_NETWORK_LOG"]
def _refuse(what, *args):
    with open(_log, "a") as out:
        out.write(f"{what} {args!r}\\n")
    raise OSError(f"network access blocked by the test: {what}")
_connect = socket.socket.connect
def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse("connect", address)
    return _connect(self, address)
socket.socket.connect = _guarded_connect
socket.socket.connect_ex = lambda self, address: _refuse("connect_ex", address)
socket.getaddrinfo = lambda *args, **kwargs: _refuse("getaddrinfo", args[:2])
'''


def test_wheel_installed_elsewhere_runs_the_demo_offline(tmp_path):
    wheels, target, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, text=True)
    (wheel,) = wheels.glob("edge_drift-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True)
    (target / "sitecustomize.py").write_text(SOCKET_GUARD)
    log = tmp_path / "network.log"
    env = {**os.environ, "PYTHONPATH": str(target), "EDGE_DRIFT_NETWORK_LOG": str(log),
           "EDGE_DRIFT_PROFILES": str(work / "profiles")}
    env.pop("HF_HUB_OFFLINE", None)  # the code itself must not try, not only be told not to
    where = subprocess.run([sys.executable, "-c", "import edge_drift; print(edge_drift.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target)), where  # the installed copy, not the source tree
    demo = subprocess.run([sys.executable, "-c", "from edge_drift.cli import main; main()", "demo"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "[plain]" in demo.stdout and "[drift]" in demo.stdout and "wrote" in demo.stdout
    assert not log.exists(), log.read_text()
    listing = subprocess.run([sys.executable, "-c", "from edge_drift.cli import main; main()", "models", "list"],
                             cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    assert "recommended pairs" in listing and "SmolLM2" in listing  # the manifest ships in the wheel
    assert sorted(os.listdir(work)) == ["profiles"]  # nothing written outside the data folder
