#!/usr/bin/env python3
"""feed_cluster.py — the feed scripts obey Redis Cluster's one-slot rule.

Starts a private single-node Redis Cluster (cluster-enabled, all 16 384
slots on the one node, free ports) and runs a feed test binary (argv[1]:
test_feed or test_reposts) against it with CHIRP_REDIS_URL pointing there
(the rest of the environment, e.g. CHIRP_PG_URL, as given).  A script call
that declares keys of several slots answers CROSSSLOT there, so the
pushes of chirp_feed_push_many (several owners' lists) and every other
feed call must touch one owner's keys per call to pass.  Exits with the
binary's status.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args):
    r = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                       timeout=10)
    return r.stdout.strip()


def main():
    if len(sys.argv) != 2:
        print("usage: feed_cluster.py TEST_BINARY", file=sys.stderr)
        return 2
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    d = tempfile.mkdtemp(prefix="chirp-cluster-")
    port, bus = free_port(), free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                             "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
                             "--cluster-port", str(bus), "--cluster-config-file",
                             os.path.join(d, "nodes.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 15
        while cli(port, "PING") != "PONG":
            if time.time() > deadline or proc.poll() is not None:
                print("the private cluster node did not start", file=sys.stderr)
                return 1
            time.sleep(0.05)
        cli(port, "CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        while "cluster_state:ok" not in cli(port, "CLUSTER", "INFO"):
            if time.time() > deadline:
                print("the private cluster did not become ok", file=sys.stderr)
                return 1
            time.sleep(0.05)
        env = dict(os.environ, CHIRP_REDIS_URL="redis://127.0.0.1:%d/0" % port)
        return subprocess.run([sys.argv[1]], env=env, timeout=50).returncode
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
