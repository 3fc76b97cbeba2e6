#!/usr/bin/env python3
"""Keys scoped to pools, the keys file reloaded live, per-key rates across replicas, the audit
trail, and TLS with HTTP/2: real tokenpool servers on a real Redis, real openssl and curl.

    test_security.py BUILD_DIR
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

from tokenpool_testing import Checks, make_certificates, redis_server, tokenpool_server, wait_ready

checks = Checks("security")
check = checks.check
TOKENPOOL = ""


def new_key(name: str, role: str, *extra: str) -> Tuple[str, Dict[str, Any]]:
    """`tokenpool keys new`: the key (line 1) and its keys-file entry (line 2)."""
    lines = subprocess.run([TOKENPOOL, "keys", "new", "--name", name, "--role", role, *extra],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    return lines[0], json.loads(lines[1])


def write_keys(path: pathlib.Path, entries: List[Dict[str, Any]]) -> None:
    """Replaces the file whole (a rename, as a mounted secret is swapped)."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"keys": entries}))
    os.replace(temporary, path)


def call(base: str, method: str, path: str, key: Optional[str] = None, body: Any = None) -> Tuple[int, Dict[str, Any], Dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, (json.loads(text) if text and response.headers.get_content_type().endswith("json") else {}), dict(response.headers)
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, (json.loads(text) if text else {}), dict(error.headers)


def refused_at_start(work: pathlib.Path, redis_url: str) -> None:
    """A keys file with a duplicate name or digest, a bad role, pool pattern or digest, or none
    at all, stops the start with a message naming the entry."""
    _, good = new_key("good", "client")
    cases = {
        "duplicate name": ([good, dict(good, sha256="0" * 64)], 'key "good": the name is used twice'),
        "duplicate digest": ([good, dict(good, name="twin")], 'key "twin": its sha256 is another key'),
        "bad role": ([dict(good, role="root")], 'key "good": role must be'),
        "bad pool pattern": ([dict(good, pools=["a*b"])], 'key "good": pools must be'),
        "short digest": ([dict(good, sha256="abc")], 'key "good": sha256 must be 64 hex digits'),
        "unknown field": ([dict(good, pool=["x"])], 'key "good": unknown field "pool"'),
    }
    for what, (entries, message) in cases.items():
        path = work / f"bad-{what.replace(' ', '-')}.json"
        write_keys(path, entries)
        run = subprocess.run([TOKENPOOL, "serve", "--port", "1", "--redis-url", redis_url, "--keys-file", str(path)],
                             capture_output=True, text=True, timeout=30)
        check(run.returncode != 0 and message in run.stderr, f"start refused: {what} ({run.returncode}: {run.stderr.strip()[-160:]})")
    run = subprocess.run([TOKENPOOL, "serve", "--port", "1", "--redis-url", redis_url, "--keys-file", str(work / "missing.json")],
                         capture_output=True, text=True, timeout=30)
    check(run.returncode != 0 and "cannot read the keys file" in run.stderr, "start refused: a missing keys file")


def scopes(base: str, keys: Dict[str, str]) -> None:
    """Every pool route of the route table (read from the OpenAPI document, which a Swift test
    holds equal to it) answers 403 forbidden-pool to a key of other pools."""
    document = json.loads(urllib.request.urlopen(base + "/openapi.json", timeout=5).read())
    pooled = [(method.upper(), path) for path, item in document["paths"].items() if path.startswith("/pools/{pool}")
              for method in item if method in ("get", "post", "put", "patch", "delete")]
    check(len(pooled) >= 15, f"the route table has {len(pooled)} pool routes")
    token = "A" * 24
    for method, template in pooled:
        path = template.replace("{pool}", "other").replace("{token}", token)
        for who in ("team-admin", "team-client"):
            status, problem, _ = call(base, method, path, keys[who], body={} if method in ("POST", "PUT", "PATCH") else None)
            # A client key on an admin route is refused for its role first: 403 either way.
            wanted = ("forbidden-pool",) if who == "team-admin" else ("forbidden-pool", "forbidden")
            check(status == 403 and problem.get("type", "").split(":")[-1] in wanted, f"{who} {method} {template} in another pool: {status} {problem.get('type')}")
    # The default pool's short routes are the default pool's.
    status, problem, _ = call(base, "GET", "/stats", keys["team-admin"])
    check(status == 403 and problem["type"].endswith("forbidden-pool"), f"team-admin GET /stats (pool default): {status}")
    status, _, _ = call(base, "GET", "/pools/team-a-1/stats", keys["team-admin"])
    check(status == 200, f"team-admin GET /pools/team-a-1/stats: {status}")
    status, _, _ = call(base, "POST", "/pools/team-a-1/tokens/batch", keys["team-admin"], {"count": 3})
    check(status == 201, f"team-admin generates in its own pool: {status}")
    call(base, "POST", "/pools/other/tokens/batch", keys["ops"], {"count": 2})
    status, page, _ = call(base, "GET", "/pools", keys["team-client"])
    names = sorted(p["pool"] for p in page.get("pools", []))
    check(status == 200 and names == ["team-a-1"], f"GET /pools lists only the key's pools: {names}")
    status, page, _ = call(base, "GET", "/pools", keys["ops"])
    check({"team-a-1", "other"} <= {p["pool"] for p in page.get("pools", [])}, "GET /pools lists every pool to an admin of every pool")
    for path in ("/audit", "/metrics"):
        status, _, _ = call(base, "GET", path, keys["team-admin"])
        check(status == 403, f"an admin of some pools may not read {path}: {status}")
    status, problem, headers = call(base, "GET", "/pools", "not-a-key")
    check(status == 401 and "WWW-Authenticate" in headers and "not-a-key" not in json.dumps(problem), "an unknown key is 401, its text not echoed")


def audit(base: str, keys: Dict[str, str], secrets: List[str]) -> None:
    """Every admin route leaves an entry with the key's name; refusals too; never a key."""
    ops = keys["ops"]
    since = call(base, "GET", "/audit?limit=1000", ops)[1]
    start = since["entries"][-1]["id"] if since["entries"] else None
    status, created, _ = call(base, "POST", "/pools/audited/tokens/batch", ops, {"count": 3})
    tokens = [t["token"] for t in created["tokens"]]
    call(base, "POST", "/pools/audited/tokens", ops, {})
    call(base, "PATCH", f"/pools/audited/tokens/{tokens[0]}", ops, {"metadata": {"a": 1}})
    call(base, "POST", f"/pools/audited/tokens/{tokens[0]}/disable", ops)
    call(base, "POST", f"/pools/audited/tokens/{tokens[0]}/enable", ops)
    call(base, "DELETE", f"/pools/audited/tokens/{tokens[1]}", ops)
    call(base, "PUT", "/pools/audited", ops, {"leaseTTL": 30})
    call(base, "DELETE", "/pools/audited", ops)
    call(base, "DELETE", "/pools/other/tokens/" + "B" * 24, keys["team-admin"])
    call(base, "GET", "/stats", "wrong-key")
    entries: List[Dict[str, Any]] = []
    cursor = start
    while True:
        page = call(base, "GET", "/audit?limit=5" + (f"&cursor={cursor}" if cursor else ""), ops)[1]
        entries += page["entries"]
        cursor = page["next"]
        if not cursor:
            break
    seen = {(e["method"], e["route"], e["key"], e["result"]) for e in entries}
    wanted = [("POST", "/pools/{pool}/tokens/batch", "ops", "ok"), ("POST", "/pools/{pool}/tokens", "ops", "ok"),
              ("PATCH", "/pools/{pool}/tokens/{token}", "ops", "ok"), ("POST", "/pools/{pool}/tokens/{token}/disable", "ops", "ok"),
              ("POST", "/pools/{pool}/tokens/{token}/enable", "ops", "ok"), ("DELETE", "/pools/{pool}/tokens/{token}", "ops", "ok"),
              ("PUT", "/pools/{pool}", "ops", "ok"), ("DELETE", "/pools/{pool}", "ops", "ok"),
              ("DELETE", "/pools/{pool}/tokens/{token}", "team-admin", "forbidden-pool"), ("GET", "/stats", "-", "unauthorized")]
    for entry in wanted:
        check(entry in seen, f"audited: {entry}")
    check(all("time" in e and "client" in e and e["client"].startswith("127.0.0.1:") for e in entries), "each entry has its time and client address")
    text = json.dumps(entries)
    check(not any(secret in text for secret in secrets + ["wrong-key"]), "no audit entry holds a key")
    # The pool's events name the key of each admin change (`by`), and never a key itself.
    call(base, "POST", "/pools/team-a-by/tokens/batch", ops, {"count": 2})
    made = call(base, "POST", "/pools/team-a-by/tokens", keys["team-admin"], {})[1]["token"]
    call(base, "DELETE", f"/pools/team-a-by/tokens/{made}", ops)
    stream = curl("-s", "-N", "--max-time", "3", "-H", f"Authorization: Bearer {ops}", base + "/pools/team-a-by/events?since=0&duration=0.5").stdout
    by = [json.loads(line[6:]).get("by") for line in stream.splitlines() if line.startswith("data: ")]
    check(by == ["ops", "team-admin", "ops"], f"events carry the key name of each change: {by}")
    check(not any(secret in stream for secret in secrets), "no event holds a key")


def rate_across_replicas(bases: List[str], key: str, per_second: float, burst: int, seconds: float = 3.0) -> None:
    """Six threads spray three replicas, half on a read (the rate counted by its own call), half
    on assign (a hot route: counted in the assign's own script call); what gets through is the
    key's one budget."""
    allowed, limited, other = [0], [0], []
    limited_on = set()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    started = time.monotonic()

    def spray(base: str, hot: bool) -> None:
        while time.monotonic() < stop_at:
            if hot:
                # An empty pool: 404 no free token once let through.
                status, _, headers = call(base, "POST", "/pools/rated-empty/tokens/assign", key)
            else:
                status, _, headers = call(base, "GET", "/pools/team-a-1", key)
            with lock:
                if status in (200, 404):
                    allowed[0] += 1
                elif status == 429 and headers.get("Retry-After"):
                    limited[0] += 1
                    limited_on.add(hot)
                else:
                    other.append(status)

    threads = [threading.Thread(target=spray, args=(bases[i % 3], i % 2 == 1)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    expected = burst + per_second * elapsed
    check(not other, f"only 200/404 and 429 with Retry-After: {other[:5]}")
    check(limited[0] > 0 and limited_on == {True, False}, f"requests over the rate were refused ({limited[0]}), on the hot route and the other")
    check(abs(allowed[0] - expected) <= 0.2 * expected,
          f"{allowed[0]} let through in {elapsed:.2f} s over 3 replicas; the rate allows {expected:.0f} (±20%)")


def reload_under_load(base: str, path: pathlib.Path, entries: Dict[str, Dict[str, Any]], keys: Dict[str, str]) -> None:
    """Two keys loop requests while the file is rewritten ten times: every answer is one the old
    or the new rules give, never a 5xx; each change is in force within 2 s."""
    answers: List[Tuple[str, int]] = []
    running = [True]

    def loop(who: str) -> None:
        while running[0]:
            status, _, _ = call(base, "GET", "/pools/team-a-1/stats", keys[who])
            answers.append((who, status))

    threads = [threading.Thread(target=loop, args=(who,)) for who in ("ops", "team-admin")]
    for thread in threads:
        thread.start()
    delays = []
    base_entries = [entries["ops"], entries["team-client"], entries["rated"]]
    for round_ in range(10):
        # Even rounds: team-admin may use team-a-*; odd: only other pools; every third: no such key.
        if round_ % 3 == 2:
            version, wanted = base_entries, 401
        elif round_ % 2 == 0:
            version, wanted = base_entries + [entries["team-admin"]], 200
        else:
            version, wanted = base_entries + [dict(entries["team-admin"], pools=["other"])], 403
        written = time.monotonic()
        write_keys(path, version)
        while call(base, "GET", "/pools/team-a-1/stats", keys["team-admin"])[0] != wanted and time.monotonic() - written < 5:
            time.sleep(0.02)
        delays.append(time.monotonic() - written)
    running[0] = False
    for thread in threads:
        thread.join()
    check(max(delays) <= 2.0, f"each change was in force within 2 s (slowest {max(delays):.2f} s)")
    statuses = {who: sorted({s for w, s in answers if w == who}) for who in ("ops", "team-admin")}
    check(statuses["ops"] == [200], f"the key no change touched kept working: {statuses['ops']}")
    check(set(statuses["team-admin"]) <= {200, 401, 403} and not any(s >= 500 for _, s in answers),
          f"the changing key got only its old or new rules' answers, no 5xx: {statuses['team-admin']} over {len(answers)} requests")
    # A file that does not parse leaves the keys as they were.
    path.write_text("{not json")
    time.sleep(2.2)
    status, _, _ = call(base, "GET", "/pools/team-a-1/stats", keys["ops"])
    metrics = urllib.request.urlopen(urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {keys['ops']}"}), timeout=5).read().decode()
    check(status == 200 and "tokenpool_keys_file_valid 0" in metrics, "a broken keys file keeps the old keys and sets tokenpool_keys_file_valid 0")
    write_keys(path, base_entries + [entries["team-admin"]])


def curl(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, timeout=timeout)


def tls(work: pathlib.Path, redis_url: str, keys: Dict[str, str], keys_file: pathlib.Path) -> None:
    ca, cert, key = make_certificates(work, "first")
    with tokenpool_server(TOKENPOOL, redis_url, args=["--tls-cert", str(cert), "--tls-key", str(key), "--keys-file", str(keys_file)],
                          wait=False) as server:
        base = f"https://127.0.0.1:{server.port}"
        deadline = time.monotonic() + 20
        while curl("--cacert", str(ca), base + "/healthz").returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        answer = curl("--http2", "--cacert", str(ca), "-o", "/dev/null", "-w", "%{http_version} %{http_code}", base + "/healthz")
        check(answer.stdout == "2 200", f"HTTPS with HTTP/2 by ALPN: {answer.stdout} {answer.stderr.strip()}")
        answer = curl("--http1.1", "--cacert", str(ca), "-o", "/dev/null", "-w", "%{http_version} %{http_code}", base + "/healthz")
        check(answer.stdout == "1.1 200", f"HTTP/1.1 beside it: {answer.stdout}")
        answer = curl("--cacert", str(work / "second-ca.pem") if (work / "second-ca.pem").exists() else "/dev/null", base + "/healthz")
        check(answer.returncode != 0, "a client that does not trust the CA is refused")
        auth = ["-H", f"Authorization: Bearer {keys['ops']}"]
        curl("--http2", "--cacert", str(ca), *auth, "-X", "POST", "-H", "Content-Type: application/json", "-d", '{"count":1}',
             base + "/pools/tls/tokens/batch")
        # A waiting assign, the events stream and plain requests on one HTTP/2 connection at once.
        started = time.monotonic()
        common = ["--http2", "--cacert", str(ca), *auth, "-w", "%{http_version} %{http_code}\n"]
        answer = curl("--parallel", "--parallel-immediate", *common, "--max-time", "3", base + "/pools/tls/events?since=0", "-o", str(work / "events.txt"),
                      "--next", *common, "-X", "POST", base + "/pools/tls/tokens/assign?wait=1.5", "-o", "/dev/null",
                      "--next", *common, "-X", "POST", base + "/pools/tls/tokens/assign", "-o", "/dev/null", timeout=30)
        lines = answer.stdout.split()
        check(lines.count("2") == 3 and "200" in lines, f"three streams over HTTP/2: {answer.stdout!r} {answer.stderr.strip()[-200:]}")
        check("404" in lines and time.monotonic() - started >= 1.4, f"the waiting assign waited over HTTP/2 and found none: {lines}")
        events = (work / "events.txt").read_text()
        check("assigned" in events and "retry: 1000" in events, f"SSE over HTTP/2 carried the assignment: {events[:200]!r}")
        # The Swift client (through the CLI) over HTTPS, trusting the CA it is given.
        env = {**os.environ, "TOKENPOOL_SERVER": base, "TOKENPOOL_KEY": keys["ops"], "TOKENPOOL_CA_FILE": str(ca)}
        run = subprocess.run([TOKENPOOL, "stats", "--pool", "tls", "--json"], capture_output=True, text=True, env=env, timeout=30)
        check(run.returncode == 0 and json.loads(run.stdout or "{}").get("total") == 1, f"the Swift client speaks HTTPS with a given CA: {run.stderr.strip()}")
        traced = subprocess.run([TOKENPOOL, "stats", "--pool", "tls"], capture_output=True, text=True, env={**env, "TOKENPOOL_TRACE": "1"}, timeout=30)
        check(traced.returncode == 0 and "HTTP/2.0 200 GET https://" in traced.stderr,
              f"and HTTP/2, by ALPN: {traced.stderr.strip()}")
        run = subprocess.run([TOKENPOOL, "stats", "--pool", "tls"], capture_output=True, text=True,
                             env={**env, "TOKENPOOL_CA_FILE": ""}, timeout=30)
        check(run.returncode != 0, "the Swift client without the CA refuses the server's certificate")
        # A new certificate, served after SIGHUP.
        subject = lambda: subprocess.run(  # noqa: E731
            ["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-servername", "localhost"],
            input="", capture_output=True, text=True, timeout=10).stdout
        check("CN = first" in subject() or "CN=first" in subject(), "the first certificate is served")
        _, cert2, key2 = make_certificates(work, "second")
        os.replace(cert2, cert)
        os.replace(key2, key)
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "second" not in subject() and time.monotonic() < deadline:
            time.sleep(0.1)
        check("second" in subject(), "SIGHUP: the renewed certificate is served without a restart")
        check(server.process.poll() is None, "the server lives on after SIGHUP")


def main() -> None:
    global TOKENPOOL
    TOKENPOOL = os.path.join(sys.argv[1], "tokenpool")
    with tempfile.TemporaryDirectory() as folder, redis_server() as redis:
        work = pathlib.Path(folder)
        refused_at_start(work, redis.url)
        keys: Dict[str, str] = {}
        entries: Dict[str, Dict[str, Any]] = {}
        for name, role, extra in [("ops", "admin", []), ("team-admin", "admin", ["--pools", "team-a-*"]),
                                  ("team-client", "client", ["--pools", "team-a-*", "shared"]),
                                  ("rated", "client", ["--rate", "20", "--burst", "5"])]:
            keys[name], entries[name] = new_key(name, role, *extra)
        hashed = subprocess.run([TOKENPOOL, "keys", "hash"], input=keys["ops"] + "\n", capture_output=True, text=True).stdout.strip()
        check(hashed == entries["ops"]["sha256"], "tokenpool keys hash prints the entry's digest")
        keys_file = work / "keys.json"
        write_keys(keys_file, list(entries.values()))
        args = ["--keys-file", str(keys_file), "--log-level", "info"]
        with open(work / "a.log", "w") as log_a, tokenpool_server(TOKENPOOL, redis.url, args=args, stdout=log_a, stderr=log_a) as a, \
                tokenpool_server(TOKENPOOL, redis.url, args=args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as b, \
                tokenpool_server(TOKENPOOL, redis.url, args=args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as c:
            scopes(a.base, keys)
            audit(a.base, keys, list(keys.values()))
            rate_across_replicas([a.base, b.base, c.base], keys["rated"], 20, 5)
            reload_under_load(a.base, keys_file, entries, keys)
        log = (work / "a.log").read_text()
        check("msg=audit" in log and not any(k in log for k in keys.values()), "audit lines are logged at info, never with a key")
        tls(work, redis.url, keys, keys_file)
    checks.finish()


if __name__ == "__main__":
    main()
