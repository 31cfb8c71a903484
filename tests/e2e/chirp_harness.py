"""chirp_harness.py — a small harness for Chirp's end-to-end tests.

Python 3 standard library, and python3-jsonschema to check every answer
against the OpenAPI document (Contract, below).  It starts the real binaries
against the test stack (deploy/stack.sh test start; its env exported, or read
from `deploy/stack.sh test env` when CHIRP_PG_URL is unset):

    stack = harness.Stack("tweets", workers=1)   # gateway + 1 worker per role
    stack.start()                                # waits for /readyz (15 s)
    r = stack.client().post("/api/v1/tweets", {"text": "hi"}, token=t)
    stack.stop()                                 # SIGTERM; asserts exit 0

Each process logs to a file under one temporary folder per test run; the
folder is printed at start, and the tail of every log is printed when a test
fails or a process does not exit with status 0 (under the sanitizer build
LeakSanitizer turns a leak into a non-zero exit, which therefore fails the
test).  Binaries come from CHIRP_GATEWAY_BIN / CHIRP_WORKER_BIN (ctest sets
them), defaulting to build/gateway/chirp-gateway and build/workers/chirp-worker.

Names are unique per run (a random hex prefix), so tests can be re-run
against the same database.
"""

import atexit
import http.client
import itertools
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
API = "/api/v1"
# The fields every tweet object has (the API's tweet).
TWEET_KEYS = ("id", "author_id", "text", "reply_to", "created_at", "edited_at")

# A random prefix per run: re-running against the same database never collides.
RUN = secrets.token_hex(4)
_counter = itertools.count(1)
_counter_lock = threading.Lock()

LOG_DIR = None
_procs = []  # every Proc started in this run (for log tails and the atexit kill)


def log_dir():
    global LOG_DIR
    if LOG_DIR is None:
        LOG_DIR = tempfile.mkdtemp(prefix="chirp-e2e-%s-" % RUN)
        print("chirp e2e: logs in %s" % LOG_DIR, file=sys.stderr, flush=True)
    return LOG_DIR


def unique(prefix="u"):
    """A name unique to this run: [A-Za-z0-9_], at most 30 characters."""
    with _counter_lock:
        n = next(_counter)
    name = "%s_%s_%d" % (prefix, RUN, n)
    assert len(name) <= 30, name
    return name


# ---- environment ------------------------------------------------------------

_stack_env_cache = None


def stack_sh():
    return os.environ.get("CHIRP_STACK_SH") or os.path.join(ROOT, "deploy", "stack.sh")


def stack_env():
    """The environment for gateway and workers: ours, plus the test stack's
    URLs when they are not exported, plus CHIRP_PWHASH=min."""
    global _stack_env_cache
    if _stack_env_cache is None:
        env = dict(os.environ)
        if not env.get("CHIRP_PG_URL"):
            out = subprocess.run(["bash", stack_sh(), "test", "env"], check=True,
                                 capture_output=True, text=True, timeout=30).stdout
            for line in out.splitlines():
                line = line.strip()
                if line.startswith("export "):
                    k, _, v = line[len("export "):].partition("=")
                    env[k] = shlex.split(v)[0] if v else ""
        env.setdefault("CHIRP_PWHASH", "min")
        # The like batcher's age rule defaults to 60 s: a test's likes would
        # reach PostgreSQL only a minute later (also when another test's
        # batcher on the shared stack took them).  Tests of the batching
        # itself set their own.
        env.setdefault("CHIRP_LIKES_FLUSH_AGE_MS", "500")
        env.setdefault("CHIRP_LOG_LEVEL", "info")
        _stack_env_cache = env
    return dict(_stack_env_cache)


def gateway_bin():
    return os.environ.get("CHIRP_GATEWAY_BIN") or os.path.join(ROOT, "build", "gateway",
                                                               "chirp-gateway")


def worker_bin():
    return os.environ.get("CHIRP_WORKER_BIN") or os.path.join(ROOT, "build", "workers",
                                                              "chirp-worker")


def free_port():
    """A port nobody listens on now (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(sql):
    """Runs sql with psql against CHIRP_PG_URL; returns stdout stripped
    (-At: unaligned, tuples only).  Raises on error."""
    env = stack_env()
    # The statement goes through stdin: it may be longer than one argv string may be.
    r = subprocess.run(["psql", "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1", env["CHIRP_PG_URL"]],
                       input=sql, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("psql failed (%d): %s\n%s" % (r.returncode, sql, r.stderr))
    return r.stdout.strip()


def sql_int(sql):
    return int(psql(sql))


def id_literal(v):
    """An id (str or int) checked to be digits, for use inside SQL text."""
    s = str(v)
    if not s.isdigit():
        raise ValueError("not an id: %r" % (v,))
    return s


def redis_cmd(*args):
    """One command to the test stack's Redis (CHIRP_REDIS_URL) over RESP;
    returns the reply (int, bytes, None or list).  Only for evicting
    single cache keys: never FLUSH a stack that others may share."""
    u = urllib.parse.urlsplit(stack_env()["CHIRP_REDIS_URL"])
    db = (u.path or "/0").strip("/") or "0"
    # The reader is closed with the socket (an open makefile() keeps the fd
    # alive and warns "unclosed socket" when collected).
    with socket.create_connection((u.hostname, u.port or 6379), timeout=10) as s, \
            s.makefile("rb") as f:

        def send(*a):
            out = [b"*%d\r\n" % len(a)]
            for x in a:
                x = x if isinstance(x, bytes) else str(x).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(x), x))
            s.sendall(b"".join(out))
            return read()

        def read():
            line = f.readline()
            if not line:
                raise ConnectionError("redis closed the connection")
            kind, rest = line[:1], line[1:-2]
            if kind == b"+":
                return rest
            if kind == b"-":
                raise RuntimeError("redis: " + rest.decode())
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)
                return data[:-2]
            if kind == b"*":
                n = int(rest)
                return None if n < 0 else [read() for _ in range(n)]
            raise RuntimeError("redis: unexpected reply %r" % line)

        if db != "0":
            send("SELECT", db)
        return send(*args)


def evict_tweet(tweet_id):
    """Drops a tweet's cache entry, so the next read comes from PostgreSQL."""
    return redis_cmd("DEL", "chirp:t:{%s}" % id_literal(tweet_id))


def evict_account(account_id):
    return redis_cmd("DEL", "chirp:a:{%s}" % id_literal(account_id))


def evict_session(token):
    import hashlib
    return redis_cmd("DEL", "chirp:s:{%s}" % hashlib.sha256(token.encode()).hexdigest())


def stack_cmd(cmd, timeout=120):
    """deploy/stack.sh test CMD (start-rabbit, stop-rabbit, ...)."""
    r = subprocess.run(["bash", stack_sh(), "test", cmd], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("stack.sh test %s failed (%d):\n%s%s" % (cmd, r.returncode, r.stdout,
                                                                  r.stderr))
    return r.stdout


def rabbitmqctl(*args, timeout=60):
    """rabbitmqctl ARGS against the test stack's node, in the environment
    deploy/stack.sh gives it (rmq_env, stack "test").  Returns stdout."""
    import glob
    top = os.path.dirname(os.path.dirname(os.path.abspath(stack_sh())))
    ctl = (sorted(glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmqctl")) or
           [shutil.which("rabbitmqctl") or "rabbitmqctl"])[-1]
    lo = int(os.environ.get("CHIRP_STACK_CTL_PORT_MIN", "56761"))
    env = dict(os.environ, HOME=os.path.join(top, "var", "test", "rabbit-home"),
               ERL_EPMD_PORT=os.environ.get("CHIRP_STACK_EPMD_PORT", "56742"),
               ERL_EPMD_ADDRESS="127.0.0.1", RABBITMQ_CONF_ENV_FILE="/dev/null",
               RABBITMQ_CTL_DIST_PORT_MIN=str(lo), RABBITMQ_CTL_DIST_PORT_MAX=str(lo + 9),
               RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
    node = os.environ.get("CHIRP_STACK_NODE", "chirp-test@localhost")
    r = subprocess.run([ctl, "-n", node, "-q"] + list(args), env=env, capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("rabbitmqctl %s failed (%d): %s%s" % (" ".join(args), r.returncode,
                                                                 r.stdout, r.stderr))
    return r.stdout


def private_vhost(name):
    """Creates the RabbitMQ virtual host chirp-NAME-RUN on the test stack
    (for guest) and returns its CHIRP_AMQP_URL: processes started with it
    have queues of their own (chirp.persist ... chirp.dead) that no other
    test's traffic reaches.  It is deleted (with its queues) at exit."""
    vhost = "chirp-%s-%s" % (name, RUN)
    rabbitmqctl("add_vhost", vhost)
    atexit.register(lambda: rabbitmqctl("delete_vhost", vhost))
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    u = urllib.parse.urlsplit(stack_env()["CHIRP_AMQP_URL"])
    return "%s://%s/%s" % (u.scheme, u.netloc, urllib.parse.quote(vhost, safe=""))


def amqp_queue_counts(queue):
    """(messages ready, consumers) of a queue on the test stack's RabbitMQ
    (CHIRP_AMQP_URL), by a passive queue.declare over a minimal AMQP 0-9-1
    client.  Raises LookupError when the queue does not exist."""
    import struct
    u = urllib.parse.urlsplit(stack_env()["CHIRP_AMQP_URL"])
    user = urllib.parse.unquote(u.username or "guest")
    password = urllib.parse.unquote(u.password or "guest")
    vhost = urllib.parse.unquote(u.path[1:]) if len(u.path) > 1 else "/"

    def shortstr(v):
        v = v.encode()
        return struct.pack("B", len(v)) + v

    def method(channel, cls, meth, args=b""):
        payload = struct.pack(">HH", cls, meth) + args
        return struct.pack(">BHI", 1, channel, len(payload)) + payload + b"\xce"

    with socket.create_connection((u.hostname, u.port or 5672), timeout=10) as s, \
            s.makefile("rb") as f:

        def expect(cls, meth):
            while True:
                hdr = f.read(7)
                if len(hdr) < 7:
                    raise ConnectionError("RabbitMQ closed the connection")
                kind, _, size = struct.unpack(">BHI", hdr)
                payload = f.read(size)
                if f.read(1) != b"\xce":
                    raise ConnectionError("RabbitMQ: bad frame end")
                if kind != 1:
                    continue  # heartbeat or content: not expected here
                c, m = struct.unpack(">HH", payload[:4])
                if (c, m) == (cls, meth):
                    return payload[4:]
                if (c, m) in ((20, 40), (10, 50)):  # channel.close / connection.close
                    code = struct.unpack(">H", payload[4:6])[0]
                    text = payload[7:7 + payload[6]].decode("utf-8", "replace")
                    if code == 404:
                        raise LookupError(text)
                    raise RuntimeError("RabbitMQ %d: %s" % (code, text))

        s.sendall(b"AMQP\x00\x00\x09\x01")
        expect(10, 10)  # connection.start
        auth = ("\0%s\0%s" % (user, password)).encode()
        s.sendall(method(0, 10, 11, struct.pack(">I", 0) + shortstr("PLAIN") +
                         struct.pack(">I", len(auth)) + auth + shortstr("en_US")))
        tune = expect(10, 30)  # connection.tune
        channel_max, frame_max, _ = struct.unpack(">HIH", tune[:8])
        s.sendall(method(0, 10, 31, struct.pack(">HIH", channel_max, frame_max, 0)))
        s.sendall(method(0, 10, 40, shortstr(vhost) + shortstr("") + b"\x00"))
        expect(10, 41)  # connection.open-ok
        s.sendall(method(1, 20, 10, shortstr("")))
        expect(20, 11)  # channel.open-ok
        # queue.declare: reserved short, queue, bits (passive), arguments {}
        s.sendall(method(1, 50, 10, struct.pack(">H", 0) + shortstr(queue) + b"\x01" +
                         struct.pack(">I", 0)))
        try:
            ok = expect(50, 11)
        finally:
            try:
                s.sendall(method(0, 10, 50, struct.pack(">H", 200) + shortstr("bye") +
                                 struct.pack(">HH", 0, 0)))
                expect(10, 51)
            except (OSError, ConnectionError, RuntimeError, LookupError):
                pass
        n = ok[0]
        messages, consumers = struct.unpack(">II", ok[1 + n:9 + n])
        return messages, consumers


def wait_sole_consumers(queue, ours, timeout=120.0):
    """Waits until queue has exactly `ours` consumers, i.e. no process
    outside this test (another engineer's test or workers on the shared test
    stack) consumes it; for tests that stop workers, count what they did, or
    run workers with their own configuration.  Fails with a clear message
    after timeout."""
    last = [None]

    def sole():
        last[0] = amqp_queue_counts(queue)[1]
        return last[0] == ours

    try:
        wait_until(sole, timeout, 0.5, "%s to have only this test's %d consumer(s)" % (queue, ours))
    except AssertionError as e:
        raise AssertionError("%s: it has %s.  Another process consumes the shared test stack's "
                             "queue; this test's results would be meaningless." % (e, last[0]))


# ---- polling ----------------------------------------------------------------

def wait_until(predicate, timeout=10.0, interval=0.05, what=None):
    """Calls predicate() until it returns a truthy value (returned) or
    timeout seconds pass (AssertionError naming what was awaited)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = predicate()
            if v:
                return v
        except Exception as e:  # a poll may fail transiently; report the last one
            last_exc = e
        if time.monotonic() >= deadline:
            msg = "timed out after %.1f s waiting for %s" % (
                timeout, what or getattr(predicate, "__name__", "a condition"))
            if last_exc is not None:
                msg += " (last error: %r)" % (last_exc,)
            raise AssertionError(msg)
        time.sleep(interval)


# ---- processes --------------------------------------------------------------

# If the test process dies (ctest timeout, SIGKILL), its children get SIGKILL
# instead of leaking: setpriv (util-linux) sets the parent-death signal and
# execs the binary, so the pid stays the binary's.  Processes are started from
# the main thread only (the signal follows the thread that forked).
_SETPRIV = shutil.which("setpriv")


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


class Proc:
    """One child process (gateway or worker) with its log file."""

    def __init__(self, name, argv, env, role=None):
        self.name = name
        self.argv = argv
        self.env = env
        self.role = role  # a worker's --role, None for the gateway
        self.log = os.path.join(log_dir(), "%s.log" % name)
        self.p = None
        self.killed = False  # SIGKILLed on purpose: its status is not checked

    def start(self):
        if not os.access(self.argv[0], os.X_OK):
            raise AssertionError("%s: no executable %s (build first, or set "
                                 "CHIRP_GATEWAY_BIN/CHIRP_WORKER_BIN)" % (self.name, self.argv[0]))
        logf = open(self.log, "ab")
        try:
            argv = ([_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []) + self.argv
            self.p = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL,
                                      stdout=logf, stderr=subprocess.STDOUT, cwd=ROOT)
        finally:
            logf.close()
        _procs.append(self)
        return self

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill9(self):
        """SIGKILL (a crash on purpose) and reap it."""
        self.killed = True
        os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait(10)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns None when it exited with status 0, else
        a message with the status and the tail of its log."""
        if self.p is None or self.killed:
            return None
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, signal.SIGCONT)  # in case a test left it stopped
            except ProcessLookupError:
                pass
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
                return "%s (pid %d) did not exit within %d s of SIGTERM; killed.\n" \
                       "--- tail of %s ---\n%s" % (self.name, self.p.pid, timeout, self.log,
                                                    tail(self.log))
        rc = self.p.returncode
        if rc != 0:
            return "%s (pid %d) exited with status %d (want 0).\n--- tail of %s ---\n%s" % (
                self.name, self.p.pid, rc, self.log, tail(self.log, 60))
        return None


@atexit.register
def _kill_leftovers():
    for pr in _procs:
        if pr.p is not None and pr.p.poll() is None:
            pr.p.kill()


# ---- the API's contract (gateway/openapi.json) --------------------------------

class ContractError(AssertionError):
    """An answer the OpenAPI document does not describe."""


class Contract:
    """Checks answers against gateway/openapi.json: every answer the Client
    receives for an /api/v1 path that the document describes (method and
    path template) must have a status the document lists for it, its
    required headers, and, when it is JSON, a body valid against the
    status's schema (python3-jsonschema; one validator per schema, built
    once).  Non-JSON bodies (the server-sent-events stream) are not read;
    paths and methods the document does not describe are not checked
    (tests also probe unknown endpoints); 408/502/504 come from a proxy in
    front, not from the gateway.  Every mismatch is raised in the client
    and also kept in FAILURES: main() fails the run if any was swallowed
    (e.g. by wait_until)."""

    PROXY_STATUSES = (408, 502, 504)

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = json.load(f)
        self.routes = []  # (literal segments, compiled regex, template, path item)
        for template, item in self.doc["paths"].items():
            rx = "^" + "/".join("[^/]+" if seg.startswith("{") else re.escape(seg)
                                for seg in template.split("/")) + "$"
            literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
            self.routes.append((literal, re.compile(rx), template, item))
        # Literal paths win over patterns, as in the gateway.
        self.routes.sort(key=lambda r: -r[0])
        self.validators = {}
        self.lock = threading.Lock()
        try:
            import jsonschema
        except ImportError:  # a python3 other than Debian's: use Debian's package
            sys.path.append("/usr/lib/python3/dist-packages")
            try:
                import jsonschema
            except ImportError:
                raise ImportError("the e2e tests validate answers with python3-jsonschema: "
                                  "install it (deploy/install-deps.sh)")
        self.jsonschema = jsonschema

    def _deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            cur = self.doc
            for part in node["$ref"].lstrip("#/").split("/"):
                cur = cur[part]
            node = cur
        return node

    def operation(self, method, path):
        """(template, operation) for a concrete path, or (None, None)."""
        path = path.split("?", 1)[0].split("#", 1)[0]
        m = method.lower()
        for _, rx, template, item in self.routes:
            if m in item and rx.match(path):
                return template, item[m]
        return None, None

    def _validator(self, key, schema):
        with self.lock:
            v = self.validators.get(key)
            if v is None:
                # The schema with the document's components beside it, so that
                # its "#/components/..." references resolve (any jsonschema 4.x).
                root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                        "components": self.doc["components"], "allOf": [schema]}
                v = self.validators[key] = self.jsonschema.Draft202012Validator(root)
            return v

    def problems(self, method, path, resp):
        """What is wrong with resp as an answer to method path ([] when right)."""
        if resp.status in self.PROXY_STATUSES:
            return []
        template, op = self.operation(method, path)
        if op is None:
            return []
        where = "%s %s (%s) answered %d" % (method, path[:200], template, resp.status)
        spec = op["responses"].get(str(resp.status)) or op["responses"].get(
            "%dXX" % (resp.status // 100))
        if spec is None:
            return ["%s: a status the document does not list (it lists %s); body %r" % (
                where, ", ".join(sorted(op["responses"])), resp.body[:300])]
        spec = self._deref(spec)
        out = []
        for name, h in (spec.get("headers") or {}).items():
            if self._deref(h).get("required") and resp.header(name) is None:
                out.append("%s without its required header %s" % (where, name))
        ctype = (resp.header("Content-Type") or "").split(";")[0].strip().lower()
        content = spec.get("content") or {}
        if not content:
            if resp.body and method != "HEAD":
                out.append("%s with a body where the document has none: %r" % (
                    where, resp.body[:200]))
            return out
        if ctype != "application/json":
            if "application/json" in content and ctype not in content and method != "HEAD":
                out.append("%s as %r, the document says application/json" % (where, ctype))
            return out
        media = content.get("application/json")
        if media is None:
            return out + ["%s as JSON, the document says %s" % (where, ", ".join(content))]
        try:
            body = json.loads(resp.body.decode("utf-8"))
        except ValueError as e:
            return out + ["%s with invalid JSON (%s): %r" % (where, e, resp.body[:200])]
        v = self._validator((template, method, resp.status), media.get("schema", {}))
        for e in sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path))[:5]:
            out.append("%s: body%s: %s" % (where, "".join("[%r]" % p for p in e.absolute_path),
                                            e.message[:300]))
        # A list: a Link header to the next page exactly when there is one.
        if isinstance(body, dict) and "next_cursor" in body and "items" in body and \
                "Link" in (spec.get("headers") or {}):
            link = resp.header("Link")
            if (body["next_cursor"] is None) != (link is None):
                out.append("%s: next_cursor %r but Link %r" % (where, body["next_cursor"], link))
            elif link is not None and "cursor=%s>" % body["next_cursor"] not in link:
                out.append("%s: Link %r does not carry next_cursor %r" % (
                    where, link, body["next_cursor"]))
        return out


    # The events of GET /api/v1/streaming/user and their data's schemas.
    EVENTS = {"tweet": "StreamTweet", "tweet.edited": "StreamTweetEdited",
              "tweet.deleted": "StreamTweetDeleted", "notification": "StreamNotification"}

    def event_problems(self, event, data):
        """What is wrong with one server-sent event (its type, and its data
        text as JSON against the document's schema); [] when right."""
        name = self.EVENTS.get(event)
        if name is None:
            return ["stream event %r: not a type the document names (%s)" % (
                event, ", ".join(sorted(self.EVENTS)))]
        try:
            body = json.loads(data)
        except (TypeError, ValueError) as e:
            return ["stream event %s: data is not JSON (%s): %r" % (event, e, data)]
        v = self._validator(("event", event), {"$ref": "#/components/schemas/" + name})
        return ["stream event %s: data%s: %s" % (event, "".join("[%r]" % p for p in e.absolute_path),
                                                 e.message[:300])
                for e in sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path))[:5]]

    def _props(self, schema, out):
        """The members an object schema documents (through $ref, allOf, anyOf):
        {name: [subschemas]}; None when it allows any (no properties listed)."""
        schema = self._deref(schema)
        if not isinstance(schema, dict):
            return out
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key, []):
                out = self._props(sub, out)
        if "properties" in schema or "additionalProperties" in schema:
            if schema.get("additionalProperties") not in (None, True) or "properties" in schema:
                out = {} if out is None else out
                for k, v in schema.get("properties", {}).items():
                    out.setdefault(k, []).append(v)
                if isinstance(schema.get("additionalProperties"), dict):
                    out.setdefault("*", []).append(schema["additionalProperties"])
        return out

    def _items(self, schema, out):
        schema = self._deref(schema)
        if isinstance(schema, dict):
            if "items" in schema:
                out.append(schema["items"])
            for key in ("allOf", "anyOf", "oneOf"):
                for sub in schema.get(key, []):
                    self._items(sub, out)
        return out

    def undocumented(self, schema, value, where="body"):
        """Members of value (recursively) that schema does not name."""
        found = []
        if isinstance(value, dict):
            props = self._props(schema, None)
            if props is None:
                return found
            for k, v in value.items():
                subs = props.get(k) or props.get("*")
                if subs is None:
                    found.append("%s.%s" % (where, k))
                    continue
                for sub in subs[:1]:
                    found += self.undocumented({"anyOf": subs} if len(subs) > 1 else sub, v,
                                               "%s.%s" % (where, k))
        elif isinstance(value, list):
            items = self._items(schema, [])
            if items:
                sub = items[0] if len(items) == 1 else {"anyOf": items}
                for i, v in enumerate(value):
                    found += self.undocumented(sub, v, "%s[%d]" % (where, i))
        return found

    def undocumented_in(self, resp):
        """Members of a JSON answer its documented schema does not name."""
        template, op = self.operation(resp.method, resp.path)
        spec = self._deref(op["responses"].get(str(resp.status))) if op else None
        media = ((spec or {}).get("content") or {}).get("application/json")
        if not media or resp.json is None:
            return []
        return ["%s %s: %s" % (resp.method, template, w)
                for w in self.undocumented(media.get("schema", {}), resp.json)]


_contract = None
_contract_lock = threading.Lock()
FAILURES = []  # every contract mismatch of this run, as text
CHECKED = [0]  # answers checked
SEEN = set()  # (method, template, status) checked, for CHIRP_OPENAPI_COVERAGE


def contract():
    global _contract
    with _contract_lock:
        if _contract is None:
            _contract = Contract(os.path.join(ROOT, "gateway", "openapi.json"))
        return _contract


def check_contract(method, path, resp):
    """Raises ContractError when resp is not what the document describes."""
    if not path.startswith(API + "/"):
        return
    c = contract()
    found = c.problems(method, path, resp)
    CHECKED[0] += 1
    template = c.operation(method, path)[0]
    if template:
        SEEN.add((method, template, resp.status))
    if found:
        with _contract_lock:
            FAILURES.extend(found)
        raise ContractError("the answer does not match gateway/openapi.json:\n  " +
                            "\n  ".join(found))


# ---- HTTP -------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage (case-insensitive get)
        self.body = body
        self.elapsed = elapsed
        self._json = None
        self._parsed = False

    @property
    def json(self):
        if not self._parsed:
            self._parsed = True
            try:
                self._json = json.loads(self.body.decode("utf-8")) if self.body else None
            except ValueError:
                self._json = None
        return self._json

    def header(self, name):
        return self.headers.get(name)

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:400].decode("utf-8", "replace"))


class Client:
    """A tiny HTTP client.  keepalive=True reuses one connection (one client
    per thread); otherwise each request opens its own."""

    def __init__(self, port, host="127.0.0.1", timeout=30.0, keepalive=False):
        self.host, self.port, self.timeout, self.keepalive = host, port, timeout, keepalive
        self._conn = None

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method, path, body=None, token=None, headers=None, raw=None,
                content_type="application/json", query=None):
        """body: an object sent as JSON; raw: bytes sent as they are.
        Returns a Response (status, headers, body, json, elapsed)."""
        if query:
            path = path + "?" + urllib.parse.urlencode(query)
        h = {}
        data = None
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
        if data is not None and content_type is not None:
            h["Content-Type"] = content_type
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if headers:
            h.update(headers)
        for attempt in range(2):
            conn = self._conn if self.keepalive else None
            fresh = conn is None
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            t0 = time.monotonic()
            try:
                conn.request(method, path, body=data, headers=h)
                r = conn.getresponse()
                payload = r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                self._conn = None
                if fresh or attempt == 1 or method not in ("GET", "HEAD"):
                    raise
                continue  # a kept-alive connection closed by the server: once more
            elapsed = time.monotonic() - t0
            if self.keepalive and not r.will_close:
                self._conn = conn
            else:
                conn.close()
                self._conn = None
            resp = Response(r.status, r.headers, payload, elapsed)
            resp.method, resp.path = method, path
            check_contract(method, path, resp)
            return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


# ---- the system under test --------------------------------------------------

# The worker roles a Stack starts by default: follows and feeds need the
# fan-out role as well as persist; notifications the notify role; likes
# reach PostgreSQL through the like batcher (role "likes").  Running every
# role also keeps each role's queue on the shared stack from piling up.
DEFAULT_ROLES = ("persist", "fanout", "notify", "likes")


class Stack:
    """A gateway and N workers of each role in roles (default: every role,
    DEFAULT_ROLES) on the test stack."""

    def __init__(self, name, workers=1, env=None, worker_env=None, roles=DEFAULT_ROLES):
        self.name = name
        self.n_workers = workers
        self.roles = tuple(roles)
        self.extra_env = env or {}
        self.worker_env = worker_env or {}
        self.gateway = None
        self.workers = []
        self.port = None
        self._seq = itertools.count(1)

    def _env(self, extra=None):
        env = stack_env()
        env.update(self.extra_env)
        if extra:
            env.update(extra)
        return env

    def start(self, ready_timeout=15.0):
        self.start_gateway(ready_timeout)
        for role in self.roles:
            for _ in range(self.n_workers):
                self.start_worker(role=role)
        return self

    def start_gateway(self, ready_timeout=15.0):
        for attempt in range(3):
            self.port = free_port()
            env = self._env({"CHIRP_HTTP_PORT": str(self.port), "CHIRP_HTTP_BIND": "127.0.0.1"})
            self.gateway = Proc("%s-gateway-%d" % (self.name, next(self._seq)), [gateway_bin()],
                                env).start()
            try:
                self.wait_ready(ready_timeout)
                return self.gateway
            except AssertionError:
                if self.gateway.alive() or attempt == 2:
                    raise
                # It exited: perhaps someone took the port meanwhile.  Retry.
        raise AssertionError("unreachable")

    def start_worker(self, extra_env=None, role="persist"):
        env = self._env(self.worker_env)
        if extra_env:
            env.update(extra_env)
        w = Proc("%s-worker-%s-%d" % (self.name, role, next(self._seq)),
                 [worker_bin(), "--role", role], env, role=role).start()
        self.workers.append(w)
        return w

    def workers_of(self, role):
        """The workers of one role started so far (killed ones included)."""
        return [w for w in self.workers if w.role == role]

    def client(self, **kw):
        return Client(self.port, **kw)

    def wait_ready(self, timeout=15.0):
        c = self.client(timeout=5)

        def ready():
            if not self.gateway.alive():
                raise AssertionError("%s exited with status %s before it was ready:\n%s" % (
                    self.gateway.name, self.gateway.p.returncode, tail(self.gateway.log)))
            try:
                return c.get("/readyz").status == 200
            except OSError:
                return False

        try:
            wait_until(ready, timeout, 0.05, "GET /readyz = 200 from %s" % self.gateway.name)
        except AssertionError as e:
            raise AssertionError("%s\n--- tail of %s ---\n%s" % (e, self.gateway.log,
                                                              tail(self.gateway.log)))

    def stop(self):
        """Stops every process (workers first); raises AssertionError listing
        each one that did not exit with status 0."""
        problems = []
        for p in self.workers + ([self.gateway] if self.gateway else []):
            msg = p.stop()
            if msg:
                problems.append(msg)
        if problems:
            raise AssertionError("\n\n".join(problems))


# ---- API helpers ------------------------------------------------------------

def sign_up(client, prefix="u", password="correct horse 1"):
    """Creates a unique account; returns (token, account)."""
    name = unique(prefix)
    r = client.post(API + "/accounts", {"username": name, "email": "%s@example.com" % name.lower(),
                                        "password": password})
    if r.status != 201:
        raise AssertionError("sign up %s: %r" % (name, r))
    return r.json["token"], r.json["account"]


def post_tweet(client, token, text, **extra):
    body = {"text": text}
    body.update(extra)
    r = client.post(API + "/tweets", body, token=token)
    if r.status != 202:
        raise AssertionError("POST /tweets: %r" % (r,))
    return r.json


def wait_fanout_idle(client, timeout=120.0):
    """Waits until the fan-out role has caught up with everything queued so
    far (e.g. a backlog left by tests that ran no fan-out worker): posts a
    tweet as a fresh account and waits for it in that account's own Redis
    feed list, which the fan-out worker writes.  Needs a running fan-out
    worker.  Returns the seconds it took."""
    t0 = time.monotonic()
    token, acct = sign_up(client, "drain")
    t = post_tweet(client, token, "fan-out barrier")
    key = "chirp:f:{%s}" % id_literal(acct["id"])
    wait_until(lambda: redis_cmd("LPOS", key, t["id"]) is not None, timeout, 0.05,
               "the fan-out worker to reach a barrier tweet (backlog drained)")
    return time.monotonic() - t0


def count_tweets_by_author(author_id):
    return sql_int("SELECT count(*) FROM tweets WHERE author_id = %s" % id_literal(author_id))


def metrics(client, token=None):
    """GET /metrics parsed: {"name" or "name{labels}": float}.  token: the
    gateway's CHIRP_METRICS_TOKEN, when it has one."""
    r = client.get("/metrics", token=token)
    if r.status != 200:
        raise AssertionError("GET /metrics: %r" % (r,))
    out = {}
    for line in r.body.decode("utf-8", "replace").splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            pass
    return out


def sign_up_many(port, n, prefix="m", threads=16):
    """Signs up n unique accounts over HTTP with `threads` keep-alive
    clients; returns [(token, account)] in no particular order."""
    out, errors, lock = [], [], threading.Lock()

    def run(k):
        c = Client(port, keepalive=True)
        try:
            for _ in range(k):
                try:
                    pair = sign_up(c, prefix)
                except Exception as e:  # noqa: BLE001 - collected, raised below
                    with lock:
                        errors.append(repr(e))
                    continue
                with lock:
                    out.append(pair)
        finally:
            c.close()

    ths = [threading.Thread(target=run, args=(n // threads + (1 if i < n % threads else 0),),
                            daemon=True) for i in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    if errors:
        raise AssertionError("%d of %d sign-ups failed, e.g. %s" % (len(errors), n, errors[0]))
    return out


def parallel(port, fn, items, threads=32):
    """fn(client, item) for every item on `threads` threads, each with its
    own keep-alive Client; returns the results in the order of items (an
    exception in fn is raised here)."""
    import concurrent.futures
    local = threading.local()
    clients, lock = [], threading.Lock()

    def run(item):
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = Client(port, keepalive=True)
            with lock:
                clients.append(c)
        return fn(c, item)

    try:
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            return list(ex.map(run, items))
    finally:
        for c in clients:
            c.close()


def wait_notify_idle(client, timeout=120.0):
    """Waits until the notify role has caught up with everything queued so
    far: a fresh account follows another and waits for the follow
    notification.  Needs a running notify worker.  Returns the seconds it took."""
    t0 = time.monotonic()
    t1, _ = sign_up(client, "nb")
    t2, a2 = sign_up(client, "nb")
    r = client.post(API + "/accounts/%s/follow" % id_literal(a2["id"]), token=t1)
    if r.status not in (200, 202):
        raise AssertionError("follow for the notify barrier: %r" % (r,))
    wait_until(lambda: client.get(API + "/notifications/unread_count", token=t2).json["count"] >= 1,
               timeout, 0.05, "the notify worker to reach a barrier follow (backlog drained)")
    return time.monotonic() - t0


def evict_poll(poll_id):
    """Drops a poll's cached definition, so the gateway reloads it from
    PostgreSQL (e.g. after a test moved its expires_at)."""
    return redis_cmd("DEL", "chirp:p:{%s}" % id_literal(poll_id))


# ---- test case base and main ------------------------------------------------

class StackTestCase(unittest.TestCase):
    """One Stack per test class: started in setUpClass, stopped (exit
    statuses asserted) in tearDownClass."""

    WORKERS = 1  # per role
    ROLES = DEFAULT_ROLES
    ENV = {}
    stack = None

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(cls.__name__, workers=cls.WORKERS, env=dict(cls.ENV), roles=cls.ROLES)
        try:
            cls.stack.start()
        except BaseException:
            try:
                cls.stack.stop()
            except AssertionError:
                pass
            raise
        cls.http = cls.stack.client()

    @classmethod
    def tearDownClass(cls):
        if cls.stack is not None:
            cls.stack.stop()

    # -- assertion helpers --
    def assertStatus(self, r, status, msg=None):
        self.assertEqual(r.status, status, msg or "unexpected status: %r" % (r,))

    def assertKeys(self, obj, required, forbidden=()):
        """obj is a JSON object with at least the required keys and none of
        the forbidden ones (new features may add keys)."""
        self.assertIsInstance(obj, dict, obj)
        missing = set(required) - set(obj)
        self.assertFalse(missing, "missing keys %s in %r" % (sorted(missing), obj))
        present = set(forbidden) & set(obj)
        self.assertFalse(present, "keys %s must not be in %r" % (sorted(present), obj))

    def assertSameTweet(self, got, want, msg=None):
        """Equal on the tweet fields of the contract (TWEET_KEYS).  Newer
        workers sharing the test stack may cache extra keys (e.g. "poll")."""
        self.assertIsInstance(got, dict, msg)
        self.assertEqual({k: got.get(k) for k in TWEET_KEYS},
                         {k: want.get(k) for k in TWEET_KEYS}, msg)

    def assertError(self, r, status, code, field=None):
        """An error reply: exact status, JSON {"error": {code, message,
        field?}} with the given code and field (None: no field)."""
        self.assertEqual(r.status, status, "unexpected reply: %r" % (r,))
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
        self.assertIsInstance(r.json, dict, r)
        self.assertEqual(set(r.json), {"error"}, r)
        e = r.json["error"]
        self.assertEqual(e.get("code"), code, r)
        self.assertIsInstance(e.get("message"), str, r)
        self.assertTrue(e["message"], r)
        if field is None:
            self.assertNotIn("field", e, r)
        else:
            self.assertEqual(e.get("field"), field, r)


def main():
    """unittest.main, plus the tail of every process log when a test failed;
    exits non-zero on failure."""
    prog = unittest.main(exit=False, verbosity=2)
    ok = prog.result.wasSuccessful()
    print("chirp e2e: %d answers checked against gateway/openapi.json" % CHECKED[0],
          file=sys.stderr)
    cover = os.environ.get("CHIRP_OPENAPI_COVERAGE")
    if cover:  # which documented answers the run met: one "METHOD template status" a line
        with open(cover, "a", encoding="utf-8") as f:
            f.writelines("%s %s %d\n" % k for k in sorted(SEEN))
    if FAILURES:
        # Also those a test swallowed (a retry loop, a thread).
        ok = False
        print("\n%d answer(s) did not match gateway/openapi.json:\n  %s" % (
            len(FAILURES), "\n  ".join(FAILURES[:50])), file=sys.stderr)
    if not ok and _procs:
        for pr in _procs:
            print("\n--- tail of %s ---\n%s" % (pr.log, tail(pr.log, 30)), file=sys.stderr)
    sys.exit(0 if ok else 1)
