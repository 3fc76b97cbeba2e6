#!/usr/bin/env python3
"""The API contract against a live server on a real Redis.

    run_contract.py TOKENPOOL_BINARY

Starts a redis-server and a tokenpool (with admin and client keys) on free ports, then:
1. the documentation: /docs and /redoc point at /openapi.json; the document passes
   openapi-spec-validator; /openapi.yaml is the same document;
2. schemathesis with every check on, over every operation; any finding fails;
3. the Postman collection: every OpenAPI operation has a request, and replaying the requests in
   order (token and lease carried as the collection's scripts carry them) gives the status codes of
   their saved examples.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import yaml
from openapi_spec_validator import validate

from tokenpool_testing import Checks, redis_server, tokenpool_server

ROOT = pathlib.Path(__file__).resolve().parents[2]
ADMIN, CLIENT = "contract-admin-key", "contract-client-key"
checks = Checks("contract")
check = checks.check



def http(method, url, headers=None, body=None):
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=body.encode() if body else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()



def check_docs(base, offline):
    for page, needle in [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]:
        status, headers, html = http("GET", base + page)
        check(status == 200 and needle in html and "/openapi.json" in html, f"{page} loads its UI and points at /openapi.json")
        if offline:
            check("/docs/assets/" + needle in html and "cdn." not in html, f"{page} loads its UI from this server (--docs-assets)")
            status, headers, script = http("GET", base + "/docs/assets/" + needle)
            check(status == 200 and len(script) > 100_000 and "javascript" in headers.get("Content-Type", ""),
                  f"/docs/assets/{needle} is served ({len(script):,} characters)")
    status, headers, text = http("GET", base + "/openapi.json")
    document = json.loads(text)
    try:
        validate(document)
        check(True, "/openapi.json passes openapi-spec-validator")
    except Exception as error:  # the validator's own error types vary by version
        check(False, f"/openapi.json passes openapi-spec-validator: {error}")
    status, headers, text = http("GET", base + "/openapi.yaml")
    check(status == 200 and yaml.safe_load(text) == document, "/openapi.yaml is the same document")
    return document


def run_schemathesis(base):
    st = shutil.which("st", path=os.path.dirname(sys.executable)) or "st"
    # Every check but one: the stateful phase reuses an Idempotency-Key across POSTs, which by
    # contract makes them one resource (the replay answers the first call's token); deleting it
    # through one POST's link then rightly leaves the other link's DELETE a 404, which
    # ensure_resource_availability calls a missing resource. Create-then-read/delete without a
    # key is covered by the Swift suites and the Postman replay below.
    # The events stream never ends by itself (schemathesis would wait for its end); it is read
    # by the Postman replay below (?duration=2) and by the Swift and browser tests.
    command = [st, "run", base + "/openapi.json", "--checks", "all", "--exclude-checks", "ensure_resource_availability",
               "--exclude-path-regex", "/events$",
               "-H", f"Authorization: Bearer {ADMIN}",
               "--max-examples", os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"), "--workers", "1",  # CPython 3.11 ast.parse is not thread-safe (hypothesis calls it)
               "--seed", os.environ.get("SCHEMATHESIS_SEED", "20261129"), "--no-color"]
    print("$ " + " ".join(command), flush=True)
    completed = subprocess.run(command, timeout=900)
    check(completed.returncode == 0, "schemathesis: every check, every operation, no finding")


def check_postman(base, document):
    collection = json.loads((ROOT / "postman/TokenPool.postman_collection.json").read_text())
    requests = [item for folder in collection["item"] for item in folder["item"]]

    def template(item):
        path = "/" + "/".join(item["request"]["url"]["path"])
        return item["request"]["method"], path.replace("{{token}}", "{token}").replace("{{pool}}", "{pool}")

    listed = {template(item) for item in requests}
    for path, operations in document["paths"].items():
        for method in operations:
            if method != "parameters":
                check((method.upper(), path) in listed, f"Postman has a request for {method.upper()} {path}")

    variables = {"baseUrl": base, "adminKey": ADMIN, "clientKey": CLIENT, "pool": "postman", "token": "", "lease": ""}

    def fill(text):
        for key, value in variables.items():
            text = text.replace("{{" + key + "}}", str(value))
        return text

    for item in requests:
        request = item["request"]
        headers = {h["key"]: fill(h["value"]) for h in request.get("header", [])}
        body = fill(request["body"]["raw"]) if "body" in request else None
        status, _, text = http(request["method"], fill(request["url"]["raw"]), headers, body)
        expected = item["response"][0]["code"]
        check(status == expected, f"Postman '{item['name']}' {request['method']} {fill(request['url']['raw'])} -> {status} (example {expected})")
        script = "\n".join(item.get("event", [{}])[0].get("script", {}).get("exec", []))
        for name in ("token", "lease"):
            if f'collectionVariables.set("{name}"' in script and status < 300:
                variables[name] = json.loads(text)[name]


def main():
    binary = sys.argv[1]
    # --redis-url URL: run against that Redis (e.g. a Redis Cluster) instead of starting one.
    given = sys.argv[sys.argv.index("--redis-url") + 1] if "--redis-url" in sys.argv else None
    # --docs-assets DIR: /docs and /redoc from this folder (fastapi-offline's static files), checked offline.
    assets = sys.argv[sys.argv.index("--docs-assets") + 1] if "--docs-assets" in sys.argv else None
    # Waits of a second at most, so examples that wait keep the run short.
    args = ["--admin-key", ADMIN, "--client-key", CLIENT, "--max-wait", "1"] + (["--docs-assets", assets] if assets else [])
    with redis_server() as redis, tokenpool_server(binary, given or redis.url, args=args) as server:
        document = check_docs(server.base, offline=assets is not None)
        run_schemathesis(server.base)
        # Schemathesis may leave the default pool with settings of its own (a maxPerHolder of
        # 1, say) that the Postman replay's assigns would meet: the replay starts on a fresh pool.
        http("DELETE", server.base + "/pools/default", headers={"Authorization": f"Bearer {ADMIN}"})
        check_postman(server.base, document)
    checks.finish()


if __name__ == "__main__":
    main()
