"""portal_lib.py - the portal tests' small client and checks (stdlib only).

The tests (tests/portal/*.py) run under tests/cli/portal_test.sh, which builds the fixture
(tests/portal/fixture.sh), starts `cdrate serve` and passes everything in the environment:
  CDRATE SRC WORK PORTAL_PORT PORTAL_AUDIT PORTAL_STDERR STORE LEDGER BILLS PASSWORD IVR_KEY CYCLE
Every check prints one line ("ok - ..." or "FAIL - ..."); done() prints "NAME: N passed, M failed"
and gives the exit status.
"""
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

ENV = os.environ


class Checks:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok - %s" % what)
        else:
            self.failed += 1
            print("FAIL - %s%s" % (what, (": " + detail) if detail else ""))
        sys.stdout.flush()
        return cond

    def done(self):
        print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed))
        sys.stdout.flush()
        sys.exit(1 if self.failed else 0)


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    def reason(self):
        """The error's reason of a JSON error answer, or None."""
        j = self.json()
        if isinstance(j, dict) and isinstance(j.get("error"), dict):
            return j["error"].get("reason")
        return None

    def is_json_error(self, status):
        j = self.json()
        return (self.status == status and isinstance(j, dict) and isinstance(j.get("error"), dict)
                and j["error"].get("status") == status)

    def __repr__(self):
        return "%d %r" % (self.status, self.body[:200])


class Client:
    """One keep-alive connection, a session cookie and its CSRF token."""

    def __init__(self, port, host="127.0.0.1", timeout=60):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None
        self.cookie = None  # the cdrate_session value
        self.csrf = None
        self.key = None  # an API key sent as Authorization: Bearer

    def _connect(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, csrf=True, retry=True):
        h = {"Accept": "application/json"}
        if self.cookie:
            h["Cookie"] = "cdrate_session=" + self.cookie
        if self.key:
            h["Authorization"] = "Bearer " + self.key
        if csrf and self.csrf and method == "POST":
            h["X-CSRF-Token"] = self.csrf
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        if headers:
            for k, v in headers.items():
                if v is None:
                    h.pop(k, None)
                else:
                    h[k] = v
        try:
            c = self._connect()
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
        except (http.client.HTTPException, OSError):
            self.close()
            if not retry:
                raise
            return self.request(method, path, body, headers, csrf, retry=False)
        resp = Resp(r.status, r.getheaders(), data)
        for k, v in resp.headers:
            if k.lower() == "set-cookie" and v.startswith("cdrate_session="):
                val = v.split(";", 1)[0].split("=", 1)[1]
                self.cookie = val or None
        if r.will_close:
            self.close()
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def login(self, login, password):
        r = self.post("/api/v1/login", {"login": login, "password": password})
        j = r.json()
        if r.status == 200 and isinstance(j, dict):
            self.csrf = j.get("csrf")
        return r


def _complete(got):
    """Does got hold one whole answer (headers and a Content-Length body, or a chunked one)?"""
    i = got.find(b"\r\n\r\n")
    if i < 0:
        return False
    head = got[:i].decode("latin-1").lower().split("\r\n")
    try:
        if 100 <= int(head[0].split(" ", 2)[1]) < 200:
            return _complete(got[i + 4:])  # 100 Continue: the answer follows
    except (ValueError, IndexError):
        return False
    for ln in head[1:]:
        k, _, v = ln.partition(":")
        if k.strip() == "content-length" and v.strip().isdigit():
            return len(got) - i - 4 >= int(v.strip())
        if k.strip() == "transfer-encoding" and "chunked" in v:
            return got.endswith(b"\r\n0\r\n\r\n") or got[i + 4:].startswith(b"0\r\n\r\n")
    return False  # no length: until the server closes


def raw(port, data, timeout=60):
    """Send bytes on a new connection (then shut our side), read until one whole answer came or
    the server closed the connection (a server may keep a half-closed connection open).
    Returns (status or None, the bytes read, closed_without_answer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before reading everything
        while not _complete(got):
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            got += b
    finally:
        s.close()
    status = None
    if got.startswith(b"HTTP/1."):
        try:
            status = int(got.split(b" ", 2)[1])
        except (ValueError, IndexError):
            status = None
    return status, got, not got


def body_of(raw_answer):
    """The body of a raw answer (after the blank line)."""
    i = raw_answer.find(b"\r\n\r\n")
    return raw_answer[i + 4:] if i >= 0 else b""


def wait_until(cond, deadline_s, step=0.05):
    """Poll cond() until it gives a true value or deadline_s seconds pass; returns its last value.
    The step is a polling interval, not a timing assumption: only the deadline ends the wait."""
    end = time.monotonic() + deadline_s
    while True:
        v = cond()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


class Server:
    """A `cdrate serve` of our own (another process on the same store, or a store of its own)."""

    def __init__(self, args, stderr_path):
        self.stderr_path = stderr_path
        self.err = open(stderr_path, "wb")
        self.p = subprocess.Popen([ENV["CDRATE"], "serve", "--listen", "127.0.0.1:0"] + args,
                                  stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL)
        self.port = None
        line = b""
        end = time.monotonic() + 120
        while not line.endswith(b"\n") and time.monotonic() < end:
            rl, _, _ = select.select([self.p.stdout], [], [], 1.0)
            if rl:
                b = os.read(self.p.stdout.fileno(), 1)
                if not b:
                    break
                line += b
        if line.startswith(b"listening on "):
            self.port = int(line.strip().rsplit(b":", 1)[1])

    def stop(self):
        """SIGTERM; the exit status (None when it did not end within the deadline)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            rc = None
        self.err.close()
        self.p.stdout.close()
        return rc

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def sanitizer_clean(text):
    return "AddressSanitizer" not in text and "runtime error" not in text and \
        "LeakSanitizer" not in text


def cdrate(*args):
    """Run the cdrate command; (exit status, stdout, stderr)."""
    p = subprocess.run([ENV["CDRATE"]] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def audit_lines(path):
    """The audit log's lines, parsed (None for a line that is not JSON)."""
    out = []
    try:
        with open(path, "rb") as f:
            for ln in f.read().split(b"\n"):
                if not ln:
                    continue
                try:
                    out.append(json.loads(ln.decode("utf-8")))
                except (ValueError, UnicodeDecodeError):
                    out.append(None)
    except FileNotFoundError:
        pass
    return out
