"""Wait until a URL answers HTTP 200 (used by scripts/demo.sh; no curl needed on the machine)."""

import os
import sys
import time
import urllib.request


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A child that exited but was not reaped yet is a zombie: gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def main(url: str, timeout_s: float, pid: int | None = None) -> int:
    """0 once `url` answers 200; 1 after `timeout_s`, or at once when process `pid` (the server) has exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return 0
        except OSError:
            pass
        if not _alive(pid):
            print(f"the server for {url} exited before answering", file=sys.stderr)
            return 1
        time.sleep(0.25)
    print(f"{url} did not answer within {timeout_s:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 60,
                  int(sys.argv[3]) if len(sys.argv) > 3 else None))
