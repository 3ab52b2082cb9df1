"""bad_requests.py - what a hostile client sends (issue 13 "Tests", "Bad requests").

Oversized headers and bodies, invalid UTF-8 (path, query, cookie, body), path traversal in
statement downloads, malformed JSON, then 10,000 seeded random requests on keep-alive
connections from several threads (and random bytes on connections of their own). Every answer
is checked (see FUZZ below for what is accepted), then: the server still answers, and its audit
log is consistent (every line JSON with its fields; seq strictly increasing per pid; as many
allowed statement views as statements served).
"""
import json
import os
import random
import re
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portal_lib import ENV, Checks, Client, audit_lines, body_of, raw  # noqa: E402

FUZZ_N = 10000
FUZZ_THREADS = 4
SEED = 13013
PASSWD_MARKERS = (b"root:x:0:0", b"/bin/bash", b"/usr/sbin/nologin", b"daemon:")


# ---- a raw HTTP/1.1 keep-alive connection ---------------------------------------------------------
class RawConn:
    def __init__(self, port):
        self.port = port
        self.s = None
        self.buf = b""

    def close(self):
        if self.s:
            self.s.close()
        self.s = None
        self.buf = b""

    def _fill(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError
        self.buf += b

    def _read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep)
        out, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return out

    def _read_n(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def exchange(self, data, method):
        """Send one request, read one answer: (status, headers, body), or None when the server
        closed the connection without answering."""
        if self.s is None:
            self.s = socket.create_connection(("127.0.0.1", self.port), timeout=120)
        try:
            self.s.sendall(data)
            while True:
                head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
                status = int(head[0].split(" ", 2)[1])
                hdrs = {}
                for ln in head[1:]:
                    k, _, v = ln.partition(":")
                    hdrs[k.strip().lower()] = v.strip()
                if 100 <= status < 200:
                    continue  # 100 Continue: the answer follows
                break
            if method == "HEAD" or status in (204, 304):
                body = b""
            elif hdrs.get("transfer-encoding", "").lower() == "chunked":
                body = b""
                while True:
                    n = int(self._read_until(b"\r\n").split(b";")[0], 16)
                    if n == 0:
                        self._read_until(b"\r\n")
                        break
                    body += self._read_n(n)
                    self._read_n(2)
            elif "content-length" in hdrs:
                body = self._read_n(int(hdrs["content-length"]))
            else:
                while True:
                    try:
                        self._fill()
                    except EOFError:
                        break
                body, self.buf = self.buf, b""
                self.close()
            if hdrs.get("connection", "").lower() == "close":
                self.close()
            return status, hdrs, body
        except (EOFError, ConnectionResetError, BrokenPipeError, socket.timeout):
            self.close()
            return None


def build(method, target, headers, body):
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1"]
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if body is not None:
        lines.append("Content-Length: %d" % len(body))
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + (body or b"")


def jerr(status, body):
    try:
        j = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(j, dict) and isinstance(j.get("error"), dict) and \
        j["error"].get("status") == status and isinstance(j["error"].get("reason"), str)


def jreason(body):
    try:
        return json.loads(body.decode("utf-8"))["error"]["reason"]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        return None


# ---- the routes: what may answer 2xx -----------------------------------------------------------
LINE_KINDS = ("balance", "usage", "bill-to-date", "owner", "invoices")
ENT_KINDS = ("members", "invoices", "warnings", "requests")


def api_segments(target):
    """The API path's segments as the server sees them (libmicrohttpd decodes the path, the API
    splits it at '/', ignoring empty segments), or None when it is not under /api/v1/."""
    path = target.split("?", 1)[0]
    dec = urllib.parse.unquote_to_bytes(path)
    if b"\0" in dec:
        dec = dec[:dec.index(b"\0")]
    if not dec.startswith(b"/api/v1/"):
        return None
    return [s for s in dec[len(b"/api/v1/"):].split(b"/") if s]


def is_statement(segs):
    return segs is not None and len(segs) == 4 and segs[0] in (b"lines", b"enterprises") and \
        segs[2] == b"statements"


def api_route_ok(method, segs):
    """May (method, segs) answer 2xx: a real route with the method it takes."""
    n = len(segs)
    s = [x.decode("latin-1") for x in segs]
    if method in ("GET", "HEAD"):
        if s == ["me"] or s == ["enterprises"] or (s == ["health"] and method == "GET"):
            return True
        if n == 3 and s[0] == "lines" and s[2] in LINE_KINDS:
            return True
        if n == 4 and s[0] in ("lines", "enterprises") and s[2] == "statements":
            return True
        if n == 2 and s[0] == "enterprises":
            return True
        if n == 3 and s[0] == "enterprises" and s[2] in ENT_KINDS:
            return True
        return False
    if method == "POST":
        return s in (["login"], ["logout"]) or \
            (n == 3 and s[0] == "enterprises" and s[2] == "requests") or \
            (n == 3 and s[0] == "requests" and s[2] in ("approve", "reject"))
    return False


# ---- the generator --------------------------------------------------------------------------------
MSISDNS = ["8613800000101", "8613800000102", "8613800000201", "8613900000201", "8613899999999",
           "0", "86138000001010000000", "abc", "%38%36"]
ENTS = ["7", "8", "9", "0", "07", "18446744073709551616", "-1", "x"]
CYCLES = ["2026-11", "2026-10", "2026-13", "2026-1", "../2026-11", "2026-11.json", "%FF"]
QUERIES = ["", "?cycle=2026-11", "?cycle=2026-13", "?cycle=%FF", "?format=json",
           "?format=html&lang=zh-CN", "?format=csv", "?format=csv&section=summary",
           "?format=csv&section=members&download=1", "?format=csv&section=itemised",
           "?format=csv&section=../../etc/passwd", "?format=../x", "?format=xml",
           "?format=csv&section=%2e%2e%2fetc%2fpasswd&download=1", "?download=1", "?a=%00&b",
           "?lang=zh-CN", "?%C0%AF=1", "?section=" + "A" * 300, "?&&&=&=", "?format=csv&section="]


def pick(rnd, vocab, real):
    """From vocab, the first `real` (the valid ones) two times in three."""
    return rnd.choice(vocab[:real]) if rnd.random() < 0.67 else rnd.choice(vocab)


def gen_path(rnd):
    m, e, c = pick(rnd, MSISDNS, 4), pick(rnd, ENTS, 2), pick(rnd, CYCLES, 1)
    p = rnd.choice([
        "/api/v1/me", "/api/v1/health", "/api/v1/login", "/api/v1/logout", "/api/v1/enterprises",
        "/api/v1/lines/%s/%s" % (m, rnd.choice(LINE_KINDS + ("statements", "x", ""))),
        "/api/v1/lines/%s/statements/%s" % (m, c),
        "/api/v1/enterprises/%s" % e,
        "/api/v1/enterprises/%s/%s" % (e, rnd.choice(ENT_KINDS + ("statements", "approve"))),
        "/api/v1/enterprises/%s/statements/%s" % (e, c),
        "/api/v1/requests/%s/%s" % (rnd.choice(["1", "2", "99", "0", "x"]),
                                    rnd.choice(["approve", "reject", "delete"])),
        "/api/v1", "/api", "/api/v2/me", "/", "/login", "/logout", "/static/portal.css",
        "/static/../../etc/passwd", "/members", "/statements", "/favicon.ico",
    ])
    r = rnd.random()
    if r < 0.25:  # mangled
        how = rnd.randrange(9)
        if how == 0:
            p = p.replace("/", "//", 1)
        elif how == 1:
            p = p + "/.."
        elif how == 2:
            p = p.replace("/v1/", "/v1/%2e%2e%2f")
        elif how == 3:
            i = rnd.randrange(len(p) + 1)
            p = p[:i] + rnd.choice(["%", "%zz", "%FF", "%E4%B8", "%C3%A9", "%00", "%2F", "~",
                                    "%E5%BC%A0", ";", "'", "\"", "<", "{", "|"]) + p[i:]
        elif how == 4:
            p = p.upper()
        elif how == 5:
            p = p + "/" + "x" * rnd.randrange(1, 1200)
        elif how == 6:
            p = "/".join(urllib.parse.quote(s, safe="") for s in p.split("/"))
        elif how == 7:
            p = p.replace("/api/v1", "/api/v1/./")
        else:
            p = "*" if rnd.random() < 0.5 else "http://127.0.0.1" + p
    if rnd.random() < 0.5 and not p.startswith("*"):
        p += pick(rnd, QUERIES, 9)
    return p


def gen_body(rnd, ids):
    r = rnd.randrange(14)
    if r == 0:
        return None
    if r == 1:
        return json.dumps({"login": rnd.choice(["zhang.wei", "nobody", "op.admin", ""]),
                           "password": rnd.choice([ENV["PASSWORD"], "wrong", ""])}).encode()
    if r == 2:
        return json.dumps({"kind": rnd.choice(["raise_cap", "change_plan", "add_member", "x"]),
                           "msisdn": rnd.choice(MSISDNS), "cap": rnd.choice(["1.00", "-1", "x"]),
                           "plan": "cn-payg", "product": rnd.choice(["71", "81", 71]),
                           "note": "fuzz 张伟"}).encode()
    if r == 3:
        return b'{"login":"a","password":'
    if r == 4:
        return b'{"login":{"a":[1,2,{"b":null}]},"password":"x"}'
    if r == 5:
        return b'{"login":"a","login":"b","password":"c"}'
    if r == 6:
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
    if r == 7:
        return b"[" * rnd.randrange(1, 5000)
    if r == 8:
        return b"login=zhang.wei&password=x&csrf=" + ids["csrf"].encode()
    if r == 9:
        return b'{"login":"\\ud800","password":"\\u0000"}'
    if r == 10:
        return b"x" * rnd.choice([65 * 1024, 70000, 64 * 1024])
    if r == 11:
        return b'{"note":"' + b"n" * rnd.randrange(200, 2000) + b'","kind":"raise_cap"}'
    if r == 12:
        return b'{"a":1e999999,"b":-0.0e-1,"c":true,"d":false,"e":null} trailing'
    return b""


def gen_headers(rnd, ids, api):
    h = []
    if rnd.random() < 0.7:
        h.append(("Accept", rnd.choice(["application/json", "text/html", "*/*", "text/html;q=0.9",
                                        "", "\x7f"])))
    ident = rnd.random()
    if api and ident < 0.45:  # a valid identity (API paths only: pages stay anonymous)
        h.append(("Cookie", "cdrate_session=" + rnd.choice(ids["cookies"])))
        if rnd.random() < 0.8:
            h.append(("X-CSRF-Token", ids["csrf_of"].get(h[-1][1][15:], "x")))
    elif api and ident < 0.6:
        h.append(rnd.choice([("Authorization", "Bearer " + ENV["IVR_KEY"]),
                             ("X-API-Key", ENV["IVR_KEY"])]))
    elif ident < 0.8:
        h.append(rnd.choice([
            ("Cookie", "cdrate_session=" + "A" * 43), ("Cookie", "cdrate_session=%FF%FE"),
            ("Cookie", "cdrate_lang=zh-CN; cdrate_session="), ("Cookie", ";;=;"),
            ("Authorization", "Bearer cdk_x_y"), ("Authorization", "Basic Zm9vOmJhcg=="),
            ("Authorization", ""), ("X-API-Key", "cdk_" + "z" * 500),
            ("X-CSRF-Token", "A" * 43), ("Cookie", "cdrate_lang=%E4%B8")]))
    for _ in range(rnd.randrange(4)):
        h.append(rnd.choice([
            ("Content-Type", rnd.choice(["application/json", "text/plain",
                                         "application/x-www-form-urlencoded",
                                         "application/json; charset=utf-8", "application/jsonx",
                                         "multipart/form-data; boundary=zz"])),
            ("Accept-Language", rnd.choice(["zh-CN,zh;q=0.9", "en", "xx", "zh"])),
            ("X-Junk-%d" % rnd.randrange(100), "".join(chr(rnd.randrange(32, 127))
                                                       for _ in range(rnd.randrange(200)))),
            ("Range", "bytes=0-10"), ("If-None-Match", "*"), ("Origin", "http://evil.example"),
            ("Referer", "http://evil.example/x"), ("X-Forwarded-For", "1.2.3.4"),
            ("Expect", "100-continue"), ("User-Agent", "fuzz/1.0")]))
    return h


def gen_request(rnd, ids):
    """One request of the keep-alive kind: (method, target, headers, body)."""
    method = rnd.choice(["GET"] * 6 + ["HEAD", "POST", "POST", "POST", "PUT", "DELETE", "OPTIONS",
                                       "PATCH", "get", "FOO"])
    target = gen_path(rnd)
    segs = api_segments(target)
    api = target.startswith("/api")
    if method == "HEAD" and is_statement(segs):
        method = "GET"  # a statement's 404 for a missing section is told by its body
    headers = gen_headers(rnd, ids, api)
    body = gen_body(rnd, ids) if method in ("POST", "PUT", "PATCH") or rnd.random() < 0.1 else None
    if method == "POST" and segs == [b"logout"]:  # the shared sessions stay: no right token
        headers = [(k, "x") if k == "X-CSRF-Token" else (k, v) for k, v in headers]
    return method, target, headers, body


def gen_garbage(rnd):
    """A request that is not quite HTTP, or not HTTP at all: (bytes, is_http_request_line).
    Random bytes end with an empty line, as a request does (libmicrohttpd waits for the end of
    a line until its connection timeout, even after the client shut its side down)."""
    r = rnd.randrange(10)
    if r == 0:
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 2000))) + b"\r\n\r\n", \
            False
    if r == 1:
        return b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", True
    if r == 2:
        return b"GET /api/v1/me HTTP/9.9\r\nHost: x\r\n\r\n", True
    if r == 3:
        return b"GET /api/v1/me\r\n\r\n", False
    if r == 4:
        return b"GET /api/v1/\xff\xfe/balance HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", True
    if r == 5:
        return (b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                b"Content-Length: 20\r\n\r\n0123456789"), True
    if r == 6:
        return (b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"zz\r\nabc\r\n0\r\n\r\n"), True
    if r == 7:
        return b"GET /api/v1/me HTTP/1.1\nHost: x\n\n", True
    if r == 8:
        return b"G\x00T / HTTP/1.1\r\n\r\n", False
    return b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-A: \x01\x02\x7f\r\nConnection: close\r\n\r\n", \
        True


# ---- the fuzz ----------------------------------------------------------------------------------------
def fuzz(t, port, ids):
    """FUZZ: what is accepted.
    Requests of the keep-alive kind (syntactically HTTP/1.1, random method, path from the routes'
    vocabulary and its manglings, random headers, identities and bodies): an answer on the same
    connection (never a dropped connection), status 200-499, never 5xx. A 2xx only where the
    request is valid: under /api/ a real route with the method it takes (api_route_ok);
    outside /api/ (the pages) GET, HEAD or POST. A 3xx only outside /api/. Every 4xx under /api/
    is a JSON error with that status, and every answer under /api/ has X-Content-Type-Options.
    A 2xx of the API other than a statement's CSV or HTML, or HEAD, is JSON. No answer ever holds
    /etc/passwd. Garbage on connections of their own (1 request in 10): status below 500 (but 505,
    libmicrohttpd's own, for HTTP/9.9); no answer at all only when the first line is not an HTTP
    request line."""
    per = FUZZ_N // FUZZ_THREADS
    results = [None] * FUZZ_THREADS

    def worker(k):
        rnd = random.Random(SEED * 100 + k)
        conn = RawConn(port)
        prev = None
        fails, stats = [], {"2xx": 0, "3xx": 0, "4xx": 0, "stmt200": 0, "stmt_nosection": 0,
                            "garbage": 0, "dropped_garbage": 0}
        for i in range(per):
            if rnd.random() < 0.1:
                data, http_line = gen_garbage(rnd)
                stats["garbage"] += 1
                try:
                    st, got, closed = raw(port, data, timeout=60)
                except OSError as e:
                    fails.append("garbage %r: %s" % (data[:60], e))
                    continue
                if closed:
                    stats["dropped_garbage"] += 1
                    if http_line:
                        fails.append("garbage with an HTTP request line dropped: %r" % data[:80])
                elif st is None or (st >= 500 and not (st == 505 and b"HTTP/9.9" in data)):
                    fails.append("garbage %r answered %r" % (data[:60], got[:80]))
                continue
            method, target, headers, body = gen_request(rnd, ids)
            a = conn.exchange(build(method, target, headers, body), method)
            what = "%s %s %r body %s" % (method, target[:120], headers,
                                         None if body is None else len(body))
            if a is None:
                fails.append("dropped: %s (after %s)" % (what, prev))
                continue
            prev = "%s -> %d" % (what, a[0])
            st, hdrs, rb = a
            segs = api_segments(target)
            api = target.startswith("/api/")
            if not 200 <= st < 500:
                fails.append("%d: %s" % (st, what))
                continue
            stats["%dxx" % (st // 100)] += 1
            stats[st] = stats.get(st, 0) + 1
            if any(m in rb for m in PASSWD_MARKERS):
                fails.append("/etc/passwd served: " + what)
            if api and "x-content-type-options" not in hdrs:
                fails.append("no security headers: " + what)
            if 200 <= st < 300:
                if api and not (segs is not None and api_route_ok(method, segs)):
                    fails.append("2xx (%d) where nothing is valid: %s" % (st, what))
                if not api and method not in ("GET", "HEAD", "POST"):
                    fails.append("page 2xx for %s" % what)
                ctype = hdrs.get("content-type", "")
                if api and method != "HEAD" and ctype.startswith("application/json"):
                    try:
                        json.loads(rb.decode("utf-8"))
                    except (ValueError, UnicodeDecodeError):
                        fails.append("2xx not JSON: " + what)
                elif api and method != "HEAD" and not is_statement(segs):
                    fails.append("API 2xx of type %r: %s" % (ctype, what))
                if st == 200 and is_statement(segs):
                    stats["stmt200"] += 1
            elif 300 <= st < 400:
                if api:
                    fails.append("API 3xx: " + what)
            else:
                if api and method != "HEAD" and not jerr(st, rb):
                    fails.append("API %d not a JSON error %r: %s" % (st, rb[:100], what))
                if st == 404 and is_statement(segs) and b"statement has no" in rb:
                    stats["stmt_nosection"] += 1
        conn.close()
        results[k] = (fails, stats)

    th = [threading.Thread(target=worker, args=(k,)) for k in range(FUZZ_THREADS)]
    t0 = time.monotonic()
    for x in th:
        x.start()
    for x in th:
        x.join()
    took = time.monotonic() - t0
    fails = [f for r in results for f in r[0]]
    stats = {}
    for r in results:
        for k, v in r[1].items():
            stats[k] = stats.get(k, 0) + v
    for f in fails[:30]:
        print("  " + f)
    t.check(not fails, "fuzz: %d requests (%d threads, seed %d) in %.1f s: every answer as "
            "accepted %s" % (per * FUZZ_THREADS, FUZZ_THREADS, SEED, took, stats),
            "%d bad answers" % len(fails))
    return stats


def main():
    t = Checks("bad_requests")
    port = int(ENV["PORTAL_PORT"])
    audit = ENV["PORTAL_AUDIT"]
    pw = ENV["PASSWORD"]
    c = Client(port)
    t.check(c.login("acme.admin", pw).status == 200, "acme.admin logged in")

    def up(what):
        st, got, _ = raw(port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close"
                         b"\r\n\r\n")
        t.check(st == 200 and body_of(got) == b'{"status":"ok"}\n', "the server answers /health "
                "after %s" % what, repr(got[:100]))

    # ---- oversized headers and bodies ----------------------------------------------------------
    r = c.get("/api/v1/me", headers={"X-Pad": "a" * 20480})
    t.check(r.is_json_error(431) and r.reason() == "headers_too_large",
            "a 20 KiB header: 431 JSON headers_too_large", repr(r))
    r = c.get("/api/v1/me", headers={"X-Pad-%d" % i: "b" * 1000 for i in range(20)})
    t.check(r.is_json_error(431), "20 headers of 1000 bytes: 431 JSON", repr(r))
    st, got, closed = raw(port, b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"c" * 102400 +
                          b"\r\nConnection: close\r\n\r\n")
    t.check(st in (413, 431), "a 100 KiB header: libmicrohttpd's own 431 or 413", repr(got[:80]))
    up("a 100 KiB header")
    st, got, closed = raw(port, b"GET /api/v1/" + b"d" * 102400 + b" HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n")
    t.check(st in (413, 414, 431), "a 100 KiB URL: 413, 414 or 431", repr(got[:80]))
    up("a 100 KiB URL")
    r = c.get("/api/v1/me", headers={"X-Pad": "e" * 15000})
    t.check(r.status == 200, "a 15 KiB header (under the limit): 200", repr(r))
    big = b'{"login":"zhang.wei","password":"' + b"p" * (65 * 1024) + b'"}'
    r = c.post("/api/v1/login", big, headers={"Content-Type": "application/json"})
    t.check(r.is_json_error(413) and r.reason() == "body_too_large",
            "a 65 KiB body: 413 JSON body_too_large", repr(r))
    r = c.post("/api/v1/enterprises/7/requests", b"x" * (64 * 1024 + 1),
               headers={"Content-Type": "application/json"})
    t.check(r.is_json_error(413), "64 KiB + 1 to requests: 413", repr(r))
    # the same without Content-Length: chunked
    chunks = b"".join(b"%x\r\n" % 8192 + b"f" * 8192 + b"\r\n" for _ in range(10)) + b"0\r\n\r\n"
    st, got, _ = raw(port, b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     + chunks)
    t.check(st == 413 and jerr(413, body_of(got)), "an 80 KiB chunked body: 413 JSON",
            repr(got[:80]))
    # a Content-Length far beyond the limit, and the client gone after two bytes: the server
    # drops the connection (it answers 413 only once the body has been read: libmicrohttpd's
    # request cycle) and stays up
    st, got, _ = raw(port, b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/json\r\nContent-Length: 99999999999\r\n\r\n{}")
    t.check(st in (None, 413), "a Content-Length of 99,999,999,999 and 2 bytes: dropped or 413",
            repr(got[:80]))
    up("oversized bodies")

    # ---- invalid UTF-8 ---------------------------------------------------------------------------
    for label, path in (("path", "/api/v1/lines/%FF%FE/balance"),
                        ("path (overlong)", "/api/v1/lines/%C0%AF/owner"),
                        ("query argument", "/api/v1/enterprises/7?cycle=%FF"),
                        ("query name", "/api/v1/me?%E4%B8=1"),
                        ("surrogate in the query", "/api/v1/me?x=%ED%A0%80")):
        r = c.get(path)
        t.check(r.is_json_error(400) and r.reason() == "bad_encoding",
                "invalid UTF-8 in the %s: 400 bad_encoding" % label, repr(r))
    r = c.get("/api/v1/me", headers={"Cookie": "cdrate_session=%s; cdrate_lang=\xff" % c.cookie})
    t.check(r.is_json_error(400) and r.reason() == "bad_encoding",
            "invalid UTF-8 in a cookie: 400 bad_encoding", repr(r))
    st, got, _ = raw(port, b"GET /api/v1/lines/\xff\xfe/balance HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")
    t.check(st == 400, "raw bytes 0xFF 0xFE in the path: 400", repr(got[:80]))
    for label, body in (("a JSON body", b'{"login":"\xff","password":"x"}'),
                        ("a truncated sequence", b'{"login":"\xe5\xbc","password":"x"}'),
                        ("a NUL byte", b'{"login":"a\x00b","password":"x"}')):
        r = c.post("/api/v1/login", body, headers={"Content-Type": "application/json"})
        t.check(r.is_json_error(400) and r.reason() == "bad_encoding",
                "invalid UTF-8 in %s: 400 bad_encoding" % label, repr(r))
    r = c.post("/api/v1/enterprises/7/requests",
               b'{"kind":"raise_cap","msisdn":"8613800000101","cap":"1.00","note":"\xc3"}',
               headers={"Content-Type": "application/json"})
    t.check(r.is_json_error(400) and r.reason() == "bad_encoding",
            "invalid UTF-8 in a request's note: 400 bad_encoding", repr(r))

    # ---- path traversal in downloads ----------------------------------------------------------------
    base = "/api/v1/lines/8613800000101/statements/2026-11"
    trav = [
        (base + "?format=csv&section=../../etc/passwd", 400),
        (base + "?format=csv&section=../../etc/passwd&download=1", 400),
        (base + "?format=csv&section=%2e%2e%2f%2e%2e%2fetc%2fpasswd", 400),
        (base + "?format=csv&section=/etc/passwd", 400),
        (base + "?format=../x", 400),
        (base + "?format=..%2f..%2fetc%2fpasswd&download=1", 400),
        ("/api/v1/lines/8613800000101/statements/..%2f..%2f..%2fetc%2fpasswd", 404),
        ("/api/v1/lines/8613800000101/statements/%2e%2e%2f%2e%2e%2fetc", 404),
        ("/api/v1/enterprises/7/statements/2026-11/..%2f..%2fpasswd", 404),
        ("/api/v1/enterprises/7/statements/2026-11?format=csv&section=../members", 400),
        ("/api/v1/%2e%2e/%2e%2e/%2e%2e/etc/passwd", 404),
        ("/static/..%2f..%2f..%2fetc%2fpasswd", 404),
    ]
    for path, want in trav:
        r = c.get(path)
        ok = r.is_json_error(want) and not any(m in r.body for m in PASSWD_MARKERS)
        t.check(ok, "traversal %s: %d JSON, no file served" % (path, want), repr(r))
    for target in (b"/api/v1/../../../../etc/passwd", b"/../../etc/passwd",
                   b"/static/../../../etc/passwd",
                   base.encode() + b"/../../../../../etc/passwd"):
        st, got, _ = raw(port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nAccept: application/"
                         b"json\r\nConnection: close\r\n\r\n")
        api = target.startswith(b"/api/")
        t.check(st is not None and (400 <= st < 500 or (not api and st == 303)) and
                not any(m in got for m in PASSWD_MARKERS),
                "raw target %s: %s, no file served" % (target.decode(), "4xx" if api else
                                                       "4xx or 303 to the login page"),
                repr(got[:80]))
    # a NUL in a query argument ends it (libmicrohttpd's values are C strings): the section is
    # then "itemised", one of the fixed list; nothing outside is served either way
    r = c.get(base + "?format=csv&section=itemised%00../../etc/passwd")
    t.check(r.status in (200, 400) and not any(m in r.body for m in PASSWD_MARKERS),
            "section=itemised%00../../etc/passwd: the itemised CSV or 400, no file served",
            repr(r))
    r = c.get(base + "?format=csv&section=summary&download=1")
    disp = r.header("Content-Disposition") or ""
    t.check(r.status == 200 and
            disp == 'attachment; filename="statement-8613800000101-2026-11-summary.csv"',
            "a download's name is made of checked parts only", disp)

    # ---- malformed JSON ---------------------------------------------------------------------------
    J = {"Content-Type": "application/json"}
    cases = [
        ("truncated", b'{"login":"zhang.wei","password":', J, 400, "malformed_json"),
        ("nested object", b'{"login":{"a":1},"password":"x"}', J, 400, "malformed_json"),
        ("nested array", b'{"login":["a"],"password":"x"}', J, 400, "malformed_json"),
        ("deep nesting", b"[" * 60000, J, 400, "malformed_json"),
        ("duplicate keys", b'{"login":"zhang.wei","login":"op.admin","password":"x"}', J, 400,
         "malformed_json"),
        ("trailing characters", b'{"login":"a","password":"b"}x', J, 400, "malformed_json"),
        ("two objects", b'{"login":"a","password":"b"}{}', J, 400, "malformed_json"),
        ("an array", b'["login","password"]', J, 400, "malformed_json"),
        ("a bare string", b'"zhang.wei"', J, 400, "malformed_json"),
        ("empty", b"", J, 400, "malformed_json"),
        ("lone surrogate", b'{"login":"\\ud800","password":"x"}', J, 400, "malformed_json"),
        ("escaped NUL", b'{"login":"a\\u0000b","password":"x"}', J, 400, "malformed_json"),
        ("unknown escape", b'{"login":"\\q","password":"x"}', J, 400, "malformed_json"),
        ("single quotes", b"{'login':'a','password':'b'}", J, 400, "malformed_json"),
        ("numbers as strings", b'{"login":1,"password":2}', J, 400, "bad_request"),
        ("null values", b'{"login":null,"password":null}', J, 400, "bad_request"),
        ("over-long string", b'{"login":"' + b"L" * 5000 + b'","password":"x"}', J, 400,
         "malformed_json"),
        ("text/plain", b'{"login":"a","password":"b"}', {"Content-Type": "text/plain"}, 415,
         "unsupported_media_type"),
        ("no content type", b'{"login":"a","password":"b"}', {"Content-Type": None}, 415,
         "unsupported_media_type"),
        ("form encoded", b"login=a&password=b",
         {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ]
    anon = Client(port)
    for label, body, hdr, want, reason in cases:
        r = anon.post("/api/v1/login", body, headers=hdr)
        t.check(r.is_json_error(want) and r.reason() == reason,
                "malformed JSON (%s): %d %s" % (label, want, reason), repr(r))
        t.check(not anon.cookie, "no session from malformed JSON (%s)" % label)
    r = c.post("/api/v1/enterprises/7/requests", b'{"kind":"raise_cap","kind":"add_member"}',
               headers=J)
    t.check(r.is_json_error(400) and r.reason() == "malformed_json",
            "a request with a duplicate key: 400 malformed_json", repr(r))
    r = c.post("/api/v1/enterprises/7/requests", b'{"kind":"raise_cap","msisdn":"8613800000101"'
               b',"cap":"1.00"', headers=J)
    t.check(r.is_json_error(400), "a truncated request: 400", repr(r))
    up("malformed JSON")

    # ---- 10,000 random requests ------------------------------------------------------------------
    ids = {"cookies": [], "csrf_of": {}}
    for who in ("zhang.wei", "acme.admin", "op.admin", "bm.wang", "tm.chen"):
        x = Client(port)
        if t.check(x.login(who, pw).status == 200, "fuzz identity %s logged in" % who):
            ids["cookies"].append(x.cookie)
            ids["csrf_of"][x.cookie] = x.csrf
    ids["csrf"] = ids["csrf_of"].get(ids["cookies"][0], "") if ids["cookies"] else ""
    before = len(audit_lines(audit))
    stats = fuzz(t, port, ids)
    up("the fuzz")
    r = c.get("/api/v1/me")
    t.check(r.status == 200, "a session from before the fuzz still works", repr(r))

    # ---- the audit log -----------------------------------------------------------------------------
    lines = audit_lines(audit)
    t.check(all(a is not None for a in lines), "every audit line is JSON (%d lines)" % len(lines))
    fields = ("time", "pid", "seq", "who", "role", "from", "action", "target", "outcome")
    t.check(all(a is not None and all(f in a for f in fields) for a in lines),
            "every audit line has %s" % ", ".join(fields))
    t.check(all(a is not None and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", str(a["time"]))
                for a in lines), "every audit time is UTC ISO 8601")
    last, bad = {}, []
    for i, a in enumerate(lines):
        if a is None or "pid" not in a or "seq" not in a:
            continue
        if a["pid"] in last and not a["seq"] > last[a["pid"]]:
            bad.append("line %d: pid %s seq %s after %s" % (i + 1, a["pid"], a["seq"],
                                                             last[a["pid"]]))
        last[a["pid"]] = a["seq"]
    t.check(not bad, "audit seq strictly increasing per pid", "; ".join(bad[:5]))
    new = [a for a in lines[before:] if a]
    views = [a for a in new if a.get("action") in ("statement.view", "statement.download") and
             a.get("outcome") == "allowed"]
    want = stats["stmt200"] + stats["stmt_nosection"]
    t.check(len(views) == want, "audit: %d allowed statement views during the fuzz = %d "
            "statements served (200) + %d without the section asked (404)"
            % (len(views), stats["stmt200"], stats["stmt_nosection"]),
            "%d lines" % len(views))
    text = open(audit, "rb").read()
    t.check(pw.encode() not in text and ENV["IVR_KEY"].encode() not in text and
            not any(x.encode() in text for x in ids["cookies"]),
            "no password, API key or session token in the audit log")
    t.done()


if __name__ == "__main__":
    main()
