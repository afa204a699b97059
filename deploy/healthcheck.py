"""Container health probe: GET /status on the local gateway, exit 0 when it answers 200.

/status sits behind the same guard as /mcp: a non-loopback bind (0.0.0.0 in a container) needs a
bearer token, so the probe sends $MCPROUTE_TOKEN. (The Host check passes: with a 0.0.0.0 bind any
Host is accepted, and this probe asks for 127.0.0.1 anyway.) Used by the Dockerfile's HEALTHCHECK
and the Kubernetes readiness probe (an exec probe, since an httpGet probe cannot read a Secret).
Standard library only: it runs in the image's Python before anything else is imported.
"""

import os
import sys
import urllib.request

port = os.environ.get("MCPROUTE_PORT", "8765")
request = urllib.request.Request(f"http://127.0.0.1:{port}/status")
if token := os.environ.get("MCPROUTE_TOKEN"):
    request.add_header("Authorization", f"Bearer {token}")
try:
    with urllib.request.urlopen(request, timeout=float(os.environ.get("MCPROUTE_PROBE_TIMEOUT", "3"))) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as exc:  # any failure is "not healthy"; say why in the probe's output
    print(f"mcproute health: {exc}", file=sys.stderr)
    sys.exit(1)
