#!/usr/bin/env python3
"""The tokenpool client subcommands and `tokenpool hold` against a live server on a real Redis.

    test_cli.py BUILD_DIR
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from tokenpool_testing import Checks, free_port, start_redis, wait_ready

checks = Checks("cli")
check = checks.check




def main():
    build = sys.argv[1]
    tokenpool = os.path.join(build, "tokenpool")
    redis_port, port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TOKENPOOL_SERVER": base, "TOKENPOOL_KEY": "cli-admin"}

    def cli(*args, key=None, **kwargs):
        e = dict(env, TOKENPOOL_KEY=key) if key else env
        return subprocess.run([tokenpool, *args], capture_output=True, text=True, env=e, timeout=60, **kwargs)

    def state(token):
        request = urllib.request.Request(f"{base}/pools/cli/tokens/{token}", headers={"Authorization": "Bearer cli-admin"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())["state"]

    with tempfile.TemporaryDirectory() as work:
        redis = start_redis(redis_port, work, wait=False)
        server = subprocess.Popen([tokenpool, "serve", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                                   "--lease-ttl", "4", "--admin-key", "cli-admin", "--log-level", "error"])
        try:
            wait_ready(base)
            out = cli("generate", "--count", "3", "--pool", "cli")
            tokens = out.stdout.split()
            check(out.returncode == 0 and len(tokens) == 3 and all(len(t) == 24 for t in tokens), "generate --count 3 prints three tokens")
            out = cli("assign", "--pool", "cli")
            fields = out.stdout.strip().split("\t")
            check(out.returncode == 0 and fields[1] == "assigned" and fields[0] in tokens, "assign prints the token, its state and lease")
            token, lease = fields[0], fields[2]
            # A lease of 4 s: room for a few CLI processes to start on a busy machine.
            out = cli("keep-alive", token, "--lease", lease, "--pool", "cli")
            check(out.returncode == 0, "keep-alive with the lease" + ("" if out.returncode == 0 else f": exit {out.returncode}, {out.stderr.strip()}"))
            out = cli("unblock", token, "--lease", str(int(lease) + 1), "--pool", "cli")
            # On a failure, say what the server answered: seen once in a clean-clone run (the
            # wrong lease answered 200), not reproduced since.
            check(out.returncode == 5 and "lease" in out.stderr,
                  "unblock with a wrong lease: exit 5 and the reason on stderr"
                  + ("" if out.returncode == 5 else f" (exit {out.returncode}, {out.stderr.strip()}, answered {out.stdout.strip()!r}, lease {lease})"))
            out = cli("unblock", token, "--lease", lease, "--pool", "cli")
            now = state(token)
            check(out.returncode == 0 and now == "free",
                  "unblock with the lease frees it" + ("" if out.returncode == 0 and now == "free" else f" (exit {out.returncode}, {out.stderr.strip()}, state {now})"))
            out = cli("stats", "--pool", "cli", "--json")
            check(out.returncode == 0 and json.loads(out.stdout)["total"] == 3, "stats --json prints the server's JSON")
            check(cli("stats", key="wrong").returncode == 7, "a wrong key: exit 7")

            out = cli("hold", "--pool", "cli", "--", "sh", "-c", "echo $TOKENPOOL_TOKEN $TOKENPOOL_LEASE")
            held = out.stdout.split()
            check(out.returncode == 0 and len(held) == 2 and held[0] in tokens, "hold -- sh -c 'echo $TOKENPOOL_TOKEN' prints an assigned token")
            check(held and state(held[0]) == "free", "and the token is free again afterwards")
            check(cli("hold", "--pool", "cli", "--", "sh", "-c", "exit 7").returncode == 7, "hold passes on the command's exit status")

            # The lease (4 s) is kept alive while the command runs longer than it.
            hold = subprocess.Popen([tokenpool, "hold", "--pool", "cli", "--", "sh", "-c", "echo $TOKENPOOL_TOKEN; sleep 6"],
                                    stdout=subprocess.PIPE, text=True, env=env)
            token = hold.stdout.readline().strip()
            time.sleep(5)
            check(state(token) == "assigned", "hold keeps the lease alive past its TTL while the command runs")
            check(hold.wait(timeout=30) == 0 and state(token) == "free", "and unblocks when the command is done")

            hold = subprocess.Popen([tokenpool, "hold", "--pool", "cli", "--", "sh", "-c", "echo $TOKENPOOL_TOKEN; exec sleep 30"],
                                    stdout=subprocess.PIPE, text=True, env=env)
            token = hold.stdout.readline().strip()
            time.sleep(0.3)
            hold.send_signal(signal.SIGTERM)
            status = hold.wait(timeout=15)
            check(status == 128 + signal.SIGTERM and state(token) == "free", f"SIGTERM reaches the command, hold unblocks (exit {status})")

            blockers = [subprocess.Popen([tokenpool, "hold", "--pool", "cli", "--", "sleep", "2"], env=env) for _ in range(3)]
            time.sleep(0.6)
            started = time.time()
            out = cli("hold", "--pool", "cli", "--wait", "500ms", "--", "true")
            waited = time.time() - started
            check(out.returncode == 3 and waited >= 0.5, f"no free token within --wait 500ms: exit 3 after {waited:.2f} s")
            waiter = subprocess.Popen([tokenpool, "hold", "--pool", "cli", "--wait", "10s", "--", "true"], env=env)
            queued = False
            for _ in range(200):
                request = urllib.request.Request(f"{base}/pools/cli/stats", headers={"Authorization": "Bearer cli-admin"})
                with urllib.request.urlopen(request, timeout=5) as response:
                    if json.loads(response.read())["waiting"] == 1:
                        queued = True
                        break
                time.sleep(0.01)
            check(queued, "hold --wait waits in the server's queue (stats: waiting 1), not in a polling loop")
            check(waiter.wait(timeout=30) == 0, "--wait 10s gets a token once one is given back")
            for blocker in blockers:
                blocker.wait(timeout=30)

            check_hold_under_a_wrong_clock(tokenpool, redis_port, env)
            check_hold_stops_the_command_on_a_lost_lease(tokenpool, redis_port, env)
            check_request_log(tokenpool, redis_port)

            # A token from an older TokenPool may begin with '-': after '--' it is the token, not an option.
            out = cli("delete", "--pool", "cli", "--", "-h" + "A" * 22)
            check(out.returncode == 4, f"delete -- -hAAA...: the token after --, not the help (exit {out.returncode})")
            out = cli("delete", tokens[0], "--pool", "cli")
            check(out.returncode == 0, "delete" + ("" if out.returncode == 0 else f" (exit {out.returncode}, {out.stderr.strip()})"))
            out = cli("delete", tokens[0], "--pool", "cli")
            check(out.returncode == 4, "delete again: exit 4 (not found)" + ("" if out.returncode == 4 else f" (exit {out.returncode}, {out.stderr.strip()})"))

            out = cli("generate", "--count", "2", "--pool", "meta", "--metadata", '{"proxy": "10.0.0.7:3128"}')
            check(out.returncode == 0 and len(out.stdout.split()) == 2, "generate --metadata makes tokens with it")
            out = cli("assign", "--pool", "meta", "--holder", "worker-7")
            check(out.returncode == 0, "assign --holder")
            out = cli("list", "--pool", "meta", "--state", "assigned")
            lines = out.stdout.strip().split("\n")
            check(out.returncode == 0 and len(lines) == 1 and "\tworker-7\t" in lines[0] and '{"proxy":"10.0.0.7:3128"}' in lines[0],
                  f"list --state assigned shows the holder and the metadata: {lines}")
            out = cli("list", "--pool", "meta", "--json")
            check(out.returncode == 0 and len(json.loads(out.stdout)) == 2, "list --json: every token of the pool")
            out = cli("pools")
            check(out.returncode == 0 and any(line.startswith("meta\ttotal 2\tfree 1\tassigned 1") for line in out.stdout.split("\n")),
                  f"pools lists each pool with its counts: {out.stdout.strip()!r}")
            out = cli("generate", "--pool", "meta", "--metadata", "[1]")
            check(out.returncode != 0 and "JSON object" in out.stderr, "generate --metadata with no object: refused before any request")
            check(cli("assign", "--server", "http://127.0.0.1:1").returncode == 6, "no server: exit 6")
            check_cooldown_and_disable(cli)
            check_allocation(cli, base, tokenpool, env)
        finally:
            server.terminate()
            server.wait(timeout=10)
            redis.kill()
            redis.wait()
    checks.finish()


def check_cooldown_and_disable(cli):
    """unblock --cooldown/--outcome, list --state cooling|disabled, disable --reason, enable (#24)."""
    token = cli("generate", "--pool", "rest").stdout.strip()
    fields = cli("assign", "--pool", "rest").stdout.strip().split("\t")
    out = cli("unblock", token, "--lease", fields[2], "--cooldown", "30", "--outcome", "failure", "--pool", "rest")
    shown = out.stdout.strip().split("\t")
    check(out.returncode == 0 and shown[:2] == [token, "cooling"] and shown[2].endswith("Z"),
          f"unblock --cooldown 30 --outcome failure: cooling, with when it is free again ({out.stdout.strip()!r} {out.stderr.strip()})")
    check(cli("assign", "--pool", "rest").returncode == 3, "a cooling token is not assigned: exit 3")
    out = cli("list", "--pool", "rest", "--state", "cooling")
    check(out.returncode == 0 and out.stdout.startswith(token + "\tcooling"), f"list --state cooling lists it: {out.stdout.strip()!r}")
    out = cli("unblock", token, "--cooldown", "0", "--pool", "rest")
    check(out.returncode == 64 and "--cooldown" in out.stderr, f"--cooldown 0 is refused before any request (exit {out.returncode})")
    out = cli("disable", token, "--reason", "account locked", "--pool", "rest")
    check(out.returncode == 0 and out.stdout.strip().split("\t")[:2] == [token, "disabled"] and out.stdout.strip().endswith("\taccount locked"),
          f"disable --reason: disabled, with its reason ({out.stdout.strip()!r})")
    out = cli("list", "--pool", "rest", "--state", "disabled", "--json")
    listed = json.loads(out.stdout) if out.returncode == 0 else []
    check([t["reason"] for t in listed] == ["account locked"] and listed[0]["failures"] == 1,
          f"list --state disabled --json: its reason and its failure count ({listed})")
    out = cli("stats", "--pool", "rest")
    check(out.returncode == 0 and "\tcooling 0\tdisabled 1" in out.stdout, f"stats counts it disabled: {out.stdout.strip()!r}")
    out = cli("enable", token, "--pool", "rest")
    check(out.returncode == 0 and out.stdout.strip() == f"{token}\tfree", f"enable: free again ({out.stdout.strip()!r})")
    check(cli("assign", "--pool", "rest").returncode == 0, "and assignable")


def check_allocation(cli, base, tokenpool, env):
    """assign --count/--priority/--wait, waiters, hold --count with $TOKENPOOL_TOKENS, the holder cap (#25)."""
    def state(token):
        request = urllib.request.Request(f"{base}/pools/take/tokens/{token}", headers={"Authorization": "Bearer cli-admin"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())["state"]

    made = cli("generate", "--count", "3", "--pool", "take").stdout.split()
    out = cli("assign", "--count", "2", "--pool", "take", "--holder", "transfer")
    lines = [line.split("\t") for line in out.stdout.strip().split("\n")]
    check(out.returncode == 0 and len(lines) == 2 and {l[0] for l in lines} <= set(made) and lines[0][0] != lines[1][0]
          and all(l[1] == "assigned" for l in lines), f"assign --count 2: two tokens, a line each ({out.stdout.strip()!r})")
    check(cli("assign", "--count", "2", "--pool", "take").returncode == 3, "assign --count 2 with one free: exit 3, all or nothing")
    check(state(next(t for t in made if t not in {l[0] for l in lines})) == "free", "and the one free token was not taken")
    check(cli("assign", "--count", "0", "--pool", "take").returncode == 64, "--count 0 is refused before any request")
    waiter = subprocess.Popen([tokenpool, "assign", "--count", "2", "--priority", "5", "--wait", "10s", "--pool", "take", "--holder", "big"],
                              stdout=subprocess.PIPE, text=True, env=env)
    for _ in range(200):
        out = cli("waiters", "--pool", "take")
        if out.stdout.strip():
            break
        time.sleep(0.02)
    head = out.stdout.strip().split("\t")
    check(out.returncode == 0 and head[:2] == ["5", "2"] and head[4] == "big",
          f"waiters lists the queue: PRIORITY COUNT SINCE WAIT-UNTIL HOLDER [SET-ASIDE] ({out.stdout.strip()!r})")
    free = next(t for t in made if t not in {l[0] for l in lines})
    # The free token is set aside for the head, which wants two.
    check(len(head) == 6 and head[5] == free, f"with the token set aside for it ({head[5:]})")
    check("\treserved 1" in cli("stats", "--pool", "take").stdout, "stats counts it reserved")
    cli("unblock", lines[0][0], "--lease", lines[0][2], "--pool", "take")
    got = waiter.communicate(timeout=20)[0].strip().split("\n")
    check(waiter.returncode == 0 and len(got) == 2, f"the waiting assign --count 2 got both ({got})")
    for line in got + ["\t".join(lines[1])]:
        fields = line.split("\t")
        cli("unblock", fields[0], "--lease", fields[2], "--pool", "take")
    out = cli("hold", "--count", "3", "--pool", "take", "--", "sh", "-c", "echo $TOKENPOOL_TOKENS; echo $TOKENPOOL_LEASES")
    printed = out.stdout.split("\n")
    held = printed[0].split()
    check(out.returncode == 0 and sorted(held) == sorted(made) and len(printed[1].split()) == 3,
          f"hold --count 3: all three in $TOKENPOOL_TOKENS, their leases in $TOKENPOOL_LEASES ({printed[:2]})")
    check(all(state(t) == "free" for t in made), "and all three are free again afterwards")
    request = urllib.request.Request(f"{base}/pools/take", method="PUT", data=b'{"maxPerHolder": 1}',
                                     headers={"Authorization": "Bearer cli-admin", "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()
    out = cli("assign", "--count", "2", "--holder", "greedy", "--pool", "take")
    check(out.returncode == 9 and "maxPerHolder" in out.stderr, f"over the pool's maxPerHolder: exit 9 ({out.returncode}, {out.stderr.strip()})")
    check("maxPerHolder 1" in cli("pools").stdout, "pools shows the cap")


def check_hold_stops_the_command_on_a_lost_lease(tokenpool, redis_port, env):
    """A lease lost under `hold` (its token deleted, or no keep-alive before its deadline) stops the
    command: SIGTERM, SIGKILL after --kill-after, exit 8; --on-lost continue lets it run on."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    lease_ttl = 1.5
    server = subprocess.Popen([tokenpool, "serve", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                               "--lease-ttl", str(lease_ttl), "--admin-key", "cli-admin", "--log-level", "error"])
    hold_env = dict(env, TOKENPOOL_SERVER=base)

    def delete(token):
        request = urllib.request.Request(f"{base}/pools/lost/tokens/{token}", method="DELETE", headers={"Authorization": "Bearer cli-admin"})
        urllib.request.urlopen(request, timeout=5).read()

    def hold(command, *flags):
        request = urllib.request.Request(base + "/pools/lost/tokens", method="POST", headers={"Authorization": "Bearer cli-admin"})
        urllib.request.urlopen(request, timeout=5).read()
        process = subprocess.Popen([tokenpool, "hold", "--pool", "lost", *flags, "--", "sh", "-c", "echo $TOKENPOOL_TOKEN; " + command],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=hold_env)
        return process, process.stdout.readline().strip()

    try:
        wait_ready(base)
        # The next keep-alive (a third of the lease) finds the token gone: SIGTERM, exit 8.
        process, token = hold("exec sleep 30")
        delete(token)
        deleted = time.monotonic()
        status, took = process.wait(timeout=20), time.monotonic() - deleted
        err = process.stderr.read()
        check(status == 8 and took <= lease_ttl / 3 + 1.5 and "lost" in err and "SIGTERM" in err,
              f"hold: a deleted token's command is stopped, exit 8 ({status}, after {took:.2f} s: {err.strip()})")
        # A command that ignores SIGTERM is killed --kill-after later.
        process, token = hold("trap '' TERM; while :; do sleep 0.1; done", "--kill-after", "1s")
        delete(token)
        deleted = time.monotonic()
        status, took = process.wait(timeout=20), time.monotonic() - deleted
        check(status == 8 and 1.0 <= took <= lease_ttl / 3 + 2.5, f"hold --kill-after 1s: SIGKILL a second after SIGTERM ({status}, {took:.2f} s)")
        # No keep-alive gets through (the server stopped): lost at the lease's deadline.
        process, token = hold("exec sleep 30")
        assigned = time.monotonic()
        server.send_signal(signal.SIGSTOP)
        try:
            status, took = process.wait(timeout=20), time.monotonic() - assigned
        finally:
            server.send_signal(signal.SIGCONT)
        err = process.stderr.read()
        check(status == 8 and took <= lease_ttl + 1.0 and "deadline" in err,
              f"hold: no keep-alive before the lease's deadline stops the command, exit 8 ({status}, after {took:.2f} s)")
        # --on-lost continue: today's behaviour, said on stderr.
        process, token = hold("sleep 2; exit 0", "--on-lost", "continue")
        delete(token)
        status, err = process.wait(timeout=20), process.stderr.read()
        check(status == 0 and "goes on without it" in err, f"hold --on-lost continue lets the command finish ({status})")
    finally:
        server.send_signal(signal.SIGCONT)
        server.terminate()
        server.wait(timeout=10)


def check_hold_under_a_wrong_clock(tokenpool, redis_port, env):
    """`hold` keeps its lease by durations the server measured, so a client clock 10 minutes
    ahead or behind changes nothing (only the wall clock is off, as on a real machine)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([tokenpool, "serve", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                               "--lease-ttl", "1", "--admin-key", "cli-admin", "--log-level", "error"])
    headers = {"Authorization": "Bearer cli-admin"}

    def get(path):
        with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=5) as response:
            return response.read().decode()

    def keep_alives():
        lines = [l for l in get("/metrics").splitlines() if l.startswith("tokenpool_keep_alives_total")]
        return int(float(lines[0].split()[-1])) if lines else 0

    try:
        wait_ready(base)
        request = urllib.request.Request(base + "/pools/clock/tokens", method="POST", headers=headers)
        urllib.request.urlopen(request, timeout=5).read()
        for offset in ("+10m", "-10m"):
            before = keep_alives()
            clock_env = dict(env, TOKENPOOL_SERVER=base, FAKETIME_DONT_FAKE_MONOTONIC="1")
            hold = subprocess.Popen(["faketime", "-f", offset, tokenpool, "hold", "--pool", "clock", "--", "sh", "-c",
                                     "echo $TOKENPOOL_TOKEN $TOKENPOOL_LEASE; sleep 4"], stdout=subprocess.PIPE, text=True, env=clock_env)
            token, lease = hold.stdout.readline().split()
            held_throughout = True
            while hold.poll() is None:
                info = json.loads(get(f"/pools/clock/tokens/{token}"))
                held_throughout &= hold.poll() is not None or (info["state"] == "assigned" and str(info["lease"]) == lease)
                time.sleep(0.2)
            status = hold.wait(timeout=20)
            sent = keep_alives() - before
            free = json.loads(get(f"/pools/clock/tokens/{token}"))["state"] == "free"
            check(held_throughout and status == 0 and free and 4 <= sent <= 20,
                  f"hold with the client's clock {offset}: lease {lease} held for 4 s on a 1 s TTL, {sent} keep-alives, exit {status}, freed"
                  + ("" if held_throughout and free else f" (held throughout: {held_throughout}, free after: {free})"))
    finally:
        server.terminate()
        server.wait(timeout=10)


def check_request_log(tokenpool, redis_port):
    """At --log-level debug every request is logged, the hot routes (matched ahead of the
    router) as much as the rest; at info it prints none."""
    for level, logged in (("debug", True), ("info", False)):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryFile("w+") as log:
            server = subprocess.Popen([tokenpool, "serve", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                                       "--log-level", level], stderr=log)
            try:
                wait_ready(base)
                try:
                    urllib.request.urlopen(urllib.request.Request(base + "/pools/logged/tokens/assign", method="POST"), timeout=5)
                except urllib.error.HTTPError as error:
                    assert error.code == 404, error.code
                urllib.request.urlopen(base + "/healthz", timeout=5).read()
            finally:
                server.terminate()
                server.wait(timeout=10)
            log.seek(0)
            lines = [l for l in log.read().splitlines() if "msg=Request" in l]
        paths = ["hb.request.path=/pools/logged/tokens/assign", "hb.request.path=/healthz"]
        found = [any(p in l for l in lines) for p in paths]
        check(found == [logged, logged], f"--log-level {level}: the request log {'has' if logged else 'has not'} the assign and /healthz ({len(lines)} lines)")


if __name__ == "__main__":
    main()
