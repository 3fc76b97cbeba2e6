#!/usr/bin/env python3
"""Writes the Postman collection (v2.1) and environment from the OpenAPI document.

One request per OpenAPI operation, in the order a person tries them (generate, batch, assign,
inspect, metadata, list, keep-alive, unblock, disable, enable, stats, waiters, events, delete; then the same in a named pool; then
the pool's settings, listing and deletion; then health), each
with a saved example response and pm.test assertions. The token and lease travel between
requests in collection variables.

    python3 postman/build_collection.py            # rewrites postman/*.json
    python3 postman/build_collection.py --check    # exits 1 if the committed files are stale
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "Sources/TokenAPI/Embedded/openapi.json"
COLLECTION = ROOT / "postman/TokenPool.postman_collection.json"
ENVIRONMENT = ROOT / "postman/TokenPool.postman_environment.json"

ORDER = ["generateToken", "generateTokens", "assignToken", "inspectToken", "setTokenMetadata", "listTokens", "keepAliveToken",
         "unblockToken", "disableToken", "enableToken", "poolStats", "poolWaiters", "poolEvents", "deleteToken"]
# Requests sent with the admin key and no lease although a client key may send them too (with
# its lease): in the collection's order the lease has ended by then.
AS_ADMIN = {"disableToken"}
POOL_ORDER = ["configurePool", "getPool", "listPools", "deletePool"]
SAVE_TOKEN = {"generateToken", "assignToken"}
SAVE_LEASE = {"assignToken"}
STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content"}


def operations(document):
    found = {}
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                found[op["operationId"]] = (method.upper(), path, op)
    return found


def url(path, lease, wait=False, take=False):
    raw_path = path.replace("{token}", "{{token}}").replace("{pool}", "{{pool}}")
    query = [{"key": "lease", "value": "{{lease}}"}] if lease else []
    if wait:
        # Off by default, so the collection replays fast; tick it to wait for a token.
        query.append({"key": "wait", "value": "10", "disabled": True, "description": "Seconds to wait for a token when none is free"})
    if take:
        # Tick them for several at once (answered as {"tokens": [...]}) or a place ahead in the queue.
        query.append({"key": "count", "value": "2", "disabled": True, "description": "How many tokens at once, all or nothing (1 to 100)"})
        query.append({"key": "priority", "value": "10", "disabled": True, "description": "A waiting assign's priority, -100 to 100"})
    raw = "{{baseUrl}}" + raw_path + ("?lease={{lease}}" if lease else "")
    if path.endswith("/events"):
        # The stream replays the last minute and ends after 2 s, so the collection replays on.
        query = [{"key": "since", "value": "{{$timestamp}}000", "disabled": True},
                 {"key": "duration", "value": "2", "description": "Seconds; without it the stream stays open"}]
        raw += "?duration=2"
    return {"raw": raw, "host": ["{{baseUrl}}"], "path": [p for p in raw_path.split("/") if p], **({"query": query} if query else {})}


def request_item(op_id, method, path, op):
    success = next(code for code in op["responses"] if code.startswith("2"))
    status = int(success)
    security = op.get("security", [])
    as_admin = op_id.removesuffix("InPool") in AS_ADMIN
    key = "{{adminKey}}" if as_admin or (security and list(security[0]) == ["adminKey"]) else "{{clientKey}}"
    takes_lease = not as_admin and any(p.get("$ref", "").endswith("/Lease") for p in op.get("parameters", []))
    takes_wait = any(p.get("$ref", "").endswith("/Wait") for p in op.get("parameters", []))
    headers = [{"key": "Authorization", "value": f"Bearer {key}"}] if security else []
    takes_count = any(p.get("$ref", "").endswith("/Count") for p in op.get("parameters", []))
    request = {"method": method, "header": list(headers), "url": url(path, takes_lease, takes_wait, takes_count),
               "description": op.get("description", op.get("summary", ""))}
    if "requestBody" in op:
        request["header"].append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {"mode": "raw", "raw": json.dumps(op["requestBody"]["content"]["application/json"]["example"]),
                           "options": {"raw": {"language": "json"}}}
    tests = [f'pm.test("status is {status}", function () {{ pm.response.to.have.status({status}); }});']
    content = op["responses"][success].get("content", {}).get("application/json")
    text = op["responses"][success].get("content", {}).get("text/plain")
    if content:
        tests.append('pm.test("answers JSON", function () { pm.response.to.be.json; });')
    if op_id.removesuffix("InPool") in SAVE_TOKEN:
        tests.append('pm.collectionVariables.set("token", pm.response.json().token);')
    if op_id.removesuffix("InPool") in SAVE_LEASE:
        tests.append('pm.test("has a lease", function () { pm.expect(pm.response.json().lease).to.be.a("number"); });')
        tests.append('pm.collectionVariables.set("lease", pm.response.json().lease);')
    example = {
        "name": f"{status} {STATUS_TEXT.get(status, '')}".strip(),
        "originalRequest": request,
        "status": STATUS_TEXT.get(status, ""),
        "code": status,
        "header": [{"key": "Content-Type", "value": "application/json" if content else "text/plain"}] if content or text else [],
        "body": json.dumps(content["example"] if "example" in content else next(iter(content["examples"].values()))["value"], indent=2)
        if content else (text["example"] if text else ""),
        "_postman_previewlanguage": "json" if content else "text",
    }
    return {
        "name": op.get("summary", op_id),
        "request": request,
        "response": [example],
        "event": [{"listen": "test", "script": {"type": "text/javascript", "exec": tests}}],
        "_operationId": op_id,
    }


def build():
    document = json.loads(OPENAPI.read_text())
    ops = operations(document)
    folders = []
    for title, suffix in [("Default pool", ""), ("Named pool", "InPool")]:
        folders.append({"name": title, "item": [request_item(op_id + suffix, *ops[op_id + suffix]) for op_id in ORDER]})
    folders.append({"name": "Pools", "item": [request_item(op_id, *ops[op_id]) for op_id in POOL_ORDER]})
    folders.append({"name": "Health", "item": [request_item(op_id, *ops[op_id]) for op_id in ["health", "ready", "metrics", "audit"]]})
    listed = {item.pop("_operationId") for folder in folders for item in folder["item"]}
    missing = set(ops) - listed
    if missing:
        sys.exit(f"operations without a request: {sorted(missing)}")
    collection = {
        "info": {"name": "TokenPool", "description": document["info"]["description"],
                 "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "item": folders,
        "variable": [{"key": "token", "value": ""}, {"key": "lease", "value": ""}],
    }
    environment = {
        "name": "TokenPool local",
        "values": [
            {"key": "baseUrl", "value": "http://localhost:8080", "enabled": True},
            {"key": "adminKey", "value": "change-me-admin", "enabled": True, "type": "secret"},
            {"key": "clientKey", "value": "change-me-client", "enabled": True, "type": "secret"},
            {"key": "pool", "value": "postman", "enabled": True},
        ],
        "_postman_variable_scope": "environment",
    }
    return {COLLECTION: json.dumps(collection, indent=2) + "\n", ENVIRONMENT: json.dumps(environment, indent=2) + "\n"}


def main():
    for path, text in build().items():
        if "--check" in sys.argv:
            if not path.exists() or path.read_text() != text:
                sys.exit(f"{path} is stale: run python3 postman/build_collection.py")
        else:
            path.write_text(text)


if __name__ == "__main__":
    main()
