"""sse_client.py — a small server-sent-events client for the tests and the
stream benchmark (Python standard library only).

It reads a GET /api/v1/streaming/user answer the way EventSource does:
blocks separated by a blank line, fields "id", "event", "data", comment
lines starting with ":"; a block without data only sets the last event id.
The HTTP/1.1 chunked framing is undone here (http.client would buffer)."""

import socket
import threading
import time
import urllib.parse


class Stream:
    """One stream.  token goes in the Authorization header, or with
    query_token=True as ?access_token=; last_id is sent as Last-Event-ID.
    With reader=True a thread parses events into .events as they come.
    read_after: seconds between sending the request and reading the answer
    (so that the first events arrive together with the headers)."""

    def __init__(self, port, token=None, query_token=False, last_id=None, host="127.0.0.1",
                 reader=True, path="/api/v1/streaming/user", timeout=10.0, read_after=0.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        q = ""
        if token and query_token:
            q = "?" + urllib.parse.urlencode({"access_token": token})
        lines = ["GET %s%s HTTP/1.1" % (path, q), "Host: %s:%d" % (host, port),
                 "Accept: text/event-stream"]
        if token and not query_token:
            lines.append("Authorization: Bearer %s" % token)
        if last_id is not None:
            lines.append("Last-Event-ID: %s" % last_id)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        if read_after:
            time.sleep(read_after)
        self.raw = b""
        while b"\r\n\r\n" not in self.raw:
            got = self.sock.recv(65536)
            if not got:
                raise ConnectionError("closed before the headers")
            self.raw += got
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        self.early = len(self.raw)  # body bytes that came in the reads of the headers
        head = head.decode("latin-1").split("\r\n")
        self.status = int(head[0].split()[1])
        self.headers = {}
        for h in head[1:]:
            k, _, v = h.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self.text = ""        # decoded body not yet split into blocks
        self.events = []      # dicts: id, event, data, t (monotonic arrival)
        self.heartbeats = 0
        self.last_id = None   # as EventSource keeps it
        self.closed = False   # the server ended the stream
        self.cv = threading.Condition()
        self.thread = None
        if reader:
            # The reads of the headers may have taken the first blocks too
            # (a fast gateway sends them at once); the thread parses only
            # what comes after, so those are parsed here.
            self.events += self.feed(b"")
            self.sock.settimeout(None)
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    # -- parsing --
    def _dechunk(self):
        """Moves complete chunks from raw into text; False at the last chunk.
        (Index-based: a recv may hold many small chunks.)"""
        if not self.chunked:
            self.text += self.raw.decode("utf-8")
            self.raw = b""
            return True
        raw, pos, parts, more = self.raw, 0, [], True
        while True:
            eol = raw.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(raw[pos:eol].split(b";")[0], 16)
            if size == 0:
                more = False
                break
            if len(raw) < eol + 2 + size + 2:
                break
            parts.append(raw[eol + 2:eol + 2 + size])
            pos = eol + 2 + size + 2
        self.raw = raw[pos:]
        if parts:
            self.text += b"".join(parts).decode("utf-8")
        return more

    def feed(self, data):
        """Parses more bytes; returns the new events."""
        self.raw += data
        more = self._dechunk()
        new = []
        blocks = self.text.split("\n\n")
        self.text = blocks.pop()  # the unfinished block
        for block in blocks:
            ev = {"event": "message", "data": None, "id": None}
            for line in block.split("\n"):
                if line.startswith(":"):
                    if line.strip() == ": heartbeat":
                        self.heartbeats += 1
                    continue
                k, _, v = line.partition(":")
                v = v[1:] if v.startswith(" ") else v
                if k == "id":
                    self.last_id = v
                    ev["id"] = v
                elif k == "event":
                    ev["event"] = v
                elif k == "data":
                    ev["data"] = v if ev["data"] is None else ev["data"] + "\n" + v
            if ev["data"] is not None:
                ev["t"] = time.monotonic()
                new.append(ev)
        if not more:
            self.closed = True
        return new

    def _run(self):
        try:
            while True:
                got = self.sock.recv(65536)
                with self.cv:
                    if not got:
                        self.closed = True
                    else:
                        self.events += self.feed(got)
                    self.cv.notify_all()
                if not got or self.closed:
                    return
        except OSError:
            with self.cv:
                self.closed = True
                self.cv.notify_all()

    # -- waiting --
    def wait(self, predicate, timeout=10.0, what="a condition on the stream"):
        """Waits until predicate(self) is true; returns its value."""
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                v = predicate(self)
                if v:
                    return v
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out after %.1f s waiting for %s; events so far: %r"
                                         % (timeout, what, self.events))
                self.cv.wait(left)

    def wait_event(self, event, match=None, timeout=10.0):
        """The first event of that type (and with match(data) true)."""
        def find(s):
            for e in s.events:
                if e["event"] == event and (match is None or match(e["data"])):
                    return e
            return None
        return self.wait(find, timeout, "event %s" % event)

    def wait_ready(self, timeout=10.0):
        """Waits for the first id-only block (the stream's starting point)."""
        return self.wait(lambda s: s.last_id is not None, timeout, "the stream's first id")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
