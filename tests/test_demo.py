"""`make demo`'s script starts the sandbox and the app, serves the landing page, and Ctrl-C stops both."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.real_audio import emotify_dir

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children_alive(pgid: int) -> bool:
    result = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True)
    return bool(result.stdout.strip())


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "flask").exists(), reason="needs the project's .venv")
@pytest.mark.parametrize("world", ["generated", "real-audio"])
def test_demo_serves_the_app_and_ctrl_c_stops_everything(tmp_path, world):
    web_port, sandbox_port = _free_port(), _free_port()
    env = {**os.environ, "WEB_PORT": str(web_port), "SANDBOX_PORT": str(sandbox_port),
           "CONTEXTIFY_INSTANCE_DIR": str(tmp_path), "SANDBOX_SCALE": "small"}
    env.pop("CONTEXTIFY_SANDBOX_URL", None)
    env.pop("SANDBOX_AUDIO_DIR", None)
    if world == "real-audio":
        env["AUDIO_DIR"] = str(emotify_dir())  # what `make demo AUDIO_DIR=...` hands the script
    demo = subprocess.Popen(["bash", "scripts/demo.sh"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        line = ""
        while "running at" not in line:
            line = demo.stdout.readline()
            assert line or demo.poll() is None, "demo exited before serving"
            assert time.monotonic() < deadline, "demo did not start within 120 s"
        assert f"http://127.0.0.1:{web_port}" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=10) as response:
            assert response.status == 200
            assert "Sandbox mode" in response.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{sandbox_port}/__sandbox__/world", timeout=10) as response:
            assert response.status == 200
            tracks = json.loads(response.read())["sizes"]["tracks"]
        assert (tracks == 200) == (world == "real-audio"), tracks
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends to the foreground group
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            raise
    time.sleep(0.5)
    assert not _children_alive(demo.pid), "Ctrl-C left a process of the demo running"


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "flask").exists(), reason="needs the project's .venv")
def test_demo_with_a_folder_that_is_not_a_recordings_folder_says_so_at_once(tmp_path):
    env = {**os.environ, "WEB_PORT": str(_free_port()), "SANDBOX_PORT": str(_free_port()),
           "CONTEXTIFY_INSTANCE_DIR": str(tmp_path / "instance"), "AUDIO_DIR": str(tmp_path)}
    env.pop("CONTEXTIFY_SANDBOX_URL", None)
    started = time.monotonic()
    done = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode != 0 and time.monotonic() - started < 60
    assert "has no metadata.csv" in done.stdout + done.stderr and "Traceback" not in done.stdout + done.stderr
