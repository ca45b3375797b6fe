"""How many times a reader switches files following one repair, from the Celery task to the
Docker call: a plain `restart` request from an operator, traced on a real repair (real engine,
real Redis) of one running container.

    python -m benchmarks.repair_reading [--root PATH] [--listed]
        [--redis-url redis://127.0.0.1:6379/14]

The rule: the reader follows every call made from `workers/` and `healer/engine/` (the
orchestration being read) into the function it lands in, in any file of the project, and
reads that function but not its own helpers. Each move to another file, and each return to
the caller's file, is one switch; the trace ends at the engine's restart call. `--root`
traces another checkout (a `git archive` of an older commit, say) to compare; `--listed`
makes the worker inspect the container first, as the probe that asked for the repair did, so
the repair re-reads it from the list call. Prints the files in order and the count. Creates
one container of the busybox test image (no network) and removes it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "compose-healer-test/busybox"
# A project of its own per run: an earlier run's cooldown would skip the repair.
PROJECT = "repairreading" + os.urandom(3).hex()

_TRACER = r"""
import os, sys
root, cid, listed, project = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
sys.path.insert(0, root)
import workers.app  # first: an older layout imports its tasks from the app (a cycle)
import workers.tasks as tasks
follow = tuple(os.path.join(root, d) + "/" for d in ("workers", "healer/engine"))
own = tuple(os.path.join(root, d) + "/" for d in ("workers", "healer"))
seq, stack, done = [], [], [False]

def prof(frame, event, arg):
    if done[0] or event not in ("call", "return"):
        return
    f = frame.f_code.co_filename
    if event == "call":
        if not stack and frame.f_code.co_name != "repair_service":
            return
        parent = not stack or (stack[-1][1] and stack[-1][0].startswith(follow))
        rec = f.startswith(own) and parent and not frame.f_code.co_name.startswith("<")
        stack.append((f, rec))
        if rec:
            seq.append(f[len(root) + 1 :])
            done[0] = frame.f_code.co_name == "restart" and "adapters/docker" in f
    elif stack and stack[-1][0] == f:
        stack.pop()
        if stack and stack[-1][1]:
            seq.append(stack[-1][0][len(root) + 1 :])

if listed:
    tasks.healer().engine.inspect(cid)
sys.setprofile(prof)
try:
    tasks.repair_service(sid=project + "/web", condition="unhealthy", action="restart",
                         container_ids=[cid], source="api", request_id=os.urandom(6).hex())
finally:
    sys.setprofile(None)
files = [x for i, x in enumerate(seq) if i == 0 or seq[i - 1] != x]
print("\n".join(files))
if not done[0]:
    sys.exit("the repair never reached the engine's restart call: " + files[-1])
print(f"switches: {len(files) - 1}")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--listed", action="store_true")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = ap.parse_args()
    labels = {
        "com.docker.compose.project": PROJECT,
        "com.docker.compose.service": "web",
        "com.docker.compose.container-number": "1",
    }
    label_args = [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]
    run = ["docker", "run", "-d", "--network", "none", "--name", f"{PROJECT}-web-1"]
    cid = subprocess.run(
        [*run, *label_args, "--stop-timeout", "1", IMAGE, "sleep", "600"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    env = {
        **os.environ,
        "HEALER_REDIS_URL": args.redis_url,
        "HEALER_PROJECTS": PROJECT,
        "HEALER_LOG_DIR": str(Path("/tmp") / f"{PROJECT}-logs"),
        "PYTHONPATH": str(args.root.resolve()),
    }
    try:
        root = str(args.root.resolve())
        listed = "1" if args.listed else "0"
        tracer = [sys.executable, "-c", _TRACER, root, cid, listed, PROJECT]
        subprocess.run(tracer, check=True, env=env, cwd="/tmp")
    finally:
        subprocess.run(["docker", "rm", "-f", cid], check=False, capture_output=True)
        # The run's marks in Redis expire by themselves; its history names a project gone.


if __name__ == "__main__":
    main()
