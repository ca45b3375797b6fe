"""demo-load: steady traffic to demo-web so its request and error rates mean something.

Without traffic `rate(http_requests_total[5m])` is 0 and HighErrorRate can never fire.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.error
import urllib.request

TARGET = os.environ.get("TARGET_URL", "http://demo-web:8080/")
INTERVAL = float(os.environ.get("INTERVAL", "0.5"))


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 ignores SIGTERM otherwise
    while True:
        try:
            with urllib.request.urlopen(TARGET, timeout=2):
                pass
        except (urllib.error.URLError, OSError):
            pass  # 5xx and a restarting target are what the demo is about; keep going
        time.sleep(INTERVAL)


if __name__ == "__main__":
    main()
