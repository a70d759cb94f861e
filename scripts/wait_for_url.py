"""Wait until a URL answers HTTP 200 (used by scripts/demo.sh; no curl needed on the machine)."""

import sys
import time
import urllib.request


def main(url: str, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return 0
        except OSError:
            pass
        time.sleep(0.25)
    print(f"{url} did not answer within {timeout_s:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 60))
