"""Contract: `python -m sandbox` starts a real server in its own process and says where."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_python_m_app_sandbox_serves_on_a_free_port(small_world):  # small_world: the disk cache exists
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--scale", "small", "--profile", "extended",
         "--token-ttl", "60"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+) \(seed 42, scale small, profile extended\)", line)
        assert match, line
        world = requests.get(f"{match.group(1)}/__sandbox__/world", timeout=10).json()
        assert world["seed"] == 42 and world["scale"] == "small" and world["profile"] == "extended"
        assert world["sizes"]["tracks"] == len(small_world.tracks)
    finally:
        process.terminate()
        process.wait(timeout=10)
