#!/usr/bin/env python3
"""Writes TokenPool's OpenAPI document, the one the server embeds and serves.

The bare routes (pool `default`) and the /pools/{pool} routes share one definition here, so the
two halves of the document cannot drift apart. Run it after changing the API:

    python3 openapi/build_openapi.py            # rewrites Sources/TokenAPI/Embedded/openapi.{json,yaml}
    python3 openapi/build_openapi.py --check    # exits 1 if the committed file is stale (make test)
"""
import copy
import json
import pathlib
import re
import sys

OUT = pathlib.Path(__file__).resolve().parent.parent / "Sources/TokenAPI/Embedded/openapi.json"
OUT_YAML = OUT.with_suffix(".yaml")
TOKEN = "rMn7W3pYLYoJ1HnIHHgAwMuB"
SOURCES = OUT.parent.parent.parent
# Each default's one home: the pool's rules, the Redis client's, the HTTP server's.
DEFAULTS_SWIFT = [SOURCES / "RedisTokenPool/Settings/Defaults.swift", SOURCES / "RedisNIO/Client/RedisDefaults.swift",
                  SOURCES / "TokenAPI/ServerDefaults.swift"]


def read_defaults():
    """Every default from its one home: durations in seconds, numbers as they are."""
    values = {}
    for name, value in re.findall(r"public static let (\w+)(?:: [\w.]+)? = (.+)", "\n".join(f.read_text() for f in DEFAULTS_SWIFT)):
        if m := re.fullmatch(r"\.seconds\((\d+)\)", value):
            values[name] = int(m[1])
        elif m := re.fullmatch(r"\.milliseconds\((\d+)\)", value):
            values[name] = int(m[1]) / 1000
        elif re.fullmatch(r"\d+", value):
            values[name] = int(value)
        else:
            values[name] = json.loads(value)
    return values


D = read_defaults()


def problem(status, slug, title, detail):
    return {
        "description": title,
        "content": {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"},
            "example": {"type": f"urn:tokenpool:problem:{slug}", "title": title, "status": status, "detail": detail},
        }},
    }


R = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
    "404": {"$ref": "#/components/responses/TokenNotFound"},
    "409": {"$ref": "#/components/responses/LeaseConflict"},
    "413": {"$ref": "#/components/responses/TooLarge"},
    "500": {"$ref": "#/components/responses/Internal"},
    "503": {"$ref": "#/components/responses/Unavailable"},
}


def responses(success, *errors):
    out = dict(success)
    for code in errors:
        out[code] = R[code]
    return out


def info(status, description, example):
    return {status: {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenInfo"}, "example": example}},
    }}


FREE = {"token": TOKEN, "pool": "default", "state": "free", "expiresAt": "2026-11-29T02:39:40.826Z",
        "leaseExpiresAt": None, "lease": None, "leaseExpiresIn": None, "holder": None,
        "metadata": {"proxy": "10.0.0.7:3128"}, "availableAt": None, "failures": 0, "reason": None}
COOLING = dict(FREE, state="cooling", availableAt="2026-11-29T02:35:10.844Z")
DISABLED = dict(FREE, state="disabled", failures=3, reason="failures", availableAt="2026-11-29T02:45:10.844Z")
ASSIGNED = dict(FREE, state="assigned", leaseExpiresAt="2026-11-29T02:35:40.844Z", lease=7, leaseExpiresIn=D["leaseTTL"],
                holder="worker-7")
POOL = {"pool": "proxies", "total": 10, "free": 5, "assigned": 3, "waiting": 0, "cooling": 1, "disabled": 1, "reserved": 0,
        "leaseTTL": D["leaseTTL"], "keepAliveTTL": D["keepAliveTTL"], "cooldown": 30, "maxFailures": 3, "quarantine": 600,
        "rateLimit": {"assigns": 10, "per": 60}, "maxPerHolder": 5}
ASSIGNED_2 = dict(ASSIGNED, token="Qx8vT1mNcL0pZr5sKd2wHy4e", lease=8)
LINKS = {
    "InspectToken": {"operationId": "inspectToken", "parameters": {"token": "$response.body#/token"}},
    "KeepAliveToken": {"operationId": "keepAliveToken", "parameters": {"token": "$response.body#/token"}},
    "UnblockToken": {"operationId": "unblockToken", "parameters": {"token": "$response.body#/token"}},
    "DeleteToken": {"operationId": "deleteToken", "parameters": {"token": "$response.body#/token"}},
}
TOKEN_PARAM = {"$ref": "#/components/parameters/Token"}
LEASE_PARAM = {"$ref": "#/components/parameters/Lease"}
IDEMPOTENCY_PARAM = {"$ref": "#/components/parameters/IdempotencyKey"}
WAIT_PARAMS = [{"$ref": "#/components/parameters/Wait"}, {"$ref": "#/components/parameters/Prefer"}]
ASSIGN_PARAMS = [{"$ref": "#/components/parameters/Count"}, {"$ref": "#/components/parameters/Priority"}]
PAGE_PARAMS = [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Cursor"}]
METADATA_LIMIT = 4096


def json_body(schema, example, required=True):
    return {"required": required, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"},
                                                                   "example": example}}}
ADMIN = [{"adminKey": []}]
CLIENT = [{"clientKey": []}, {"adminKey": []}]


def token_paths():
    """The token routes of one pool, keyed by path below the pool's prefix."""
    generated = info("201", "A new free token", FREE)
    generated["201"]["links"] = copy.deepcopy(LINKS)
    assigned = info("200", "The assigned token with its lease", ASSIGNED)
    assigned["200"]["links"] = {k: copy.deepcopy(v) for k, v in LINKS.items() if k != "DeleteToken"}
    assigned["200"]["content"]["application/json"]["schema"] = {"oneOf": [
        {"$ref": "#/components/schemas/TokenInfo"}, {"$ref": "#/components/schemas/TokenList"}]}
    assigned["200"]["content"]["application/json"]["examples"] = {
        "one": {"summary": "Without count: one TokenInfo", "value": ASSIGNED},
        "several": {"summary": "With count=2: {\"tokens\": [...]}", "value": {"tokens": [ASSIGNED, ASSIGNED_2]}}}
    del assigned["200"]["content"]["application/json"]["example"]
    assigned["200"]["description"] = "The assigned token with its lease; with `count`, `{\"tokens\": [...]}`, each its own lease"
    no_free = problem(404, "no-free-token", "Not Found", "no free token in pool 'default'")
    no_free["description"] = "Too few free tokens (within the wait, when one was asked for): nothing was taken"
    holder_limit = dict(problem(429, "holder-limit", "Too Many Requests",
                                "this holder holds 5 of pool 'default''s tokens, and another would pass its maxPerHolder of 5"),
                        headers={"Retry-After": {"schema": {"type": "integer"}, "example": D["retryAfterSeconds"]}})
    key_reused = problem(409, "idempotency-key-reused", "Conflict",
                         "Idempotency-Key 'job-42' was first used to assign 2 token(s), not 1; use a new key")
    key_reused["description"] = "The Idempotency-Key's first call asked for another count of tokens"
    holder_limit["description"] = ("The holder named already holds the pool's maxPerHolder tokens, or would with count more: "
                                   "refused at once, never queued")

    return {
        "/tokens": {
            "post": {
                "operationId": "generateToken", "tags": ["tokens"], "summary": "Generate one token",
                "description": "Adds a new free token living keep-alive TTL from now, with the metadata given (a JSON object "
                               f"of at most {METADATA_LIMIT} bytes as compact JSON; 413 beyond). Admin key.",
                "security": ADMIN, "parameters": [IDEMPOTENCY_PARAM],
                "requestBody": json_body("GenerateRequest", {"metadata": {"proxy": "10.0.0.7:3128"}}, required=False),
                "responses": dict(responses(generated, "400", "401", "403", "413", "503"),
                                  **{"409": {"$ref": "#/components/responses/IdempotencyKeyInUse"}}),
            },
            "get": {
                "operationId": "listTokens", "tags": ["tokens"], "summary": "List a page of the pool's tokens",
                "description": "`state=assigned`: assigned tokens by lease deadline, soonest first (who is about to lapse); "
                               "`cooling`: resting tokens by `availableAt`, soonest first; `disabled`: disabled tokens by the "
                               "end of their quarantine, soonest first, then those disabled until enabled; "
                               "`all` (the default): every token by life deadline, soonest first; `free`: free tokens in the free "
                               "set's own order (SSCAN: about `limit` a page, and a token may show twice while the set grows). "
                               "Pass `next` back as `cursor` for the next page; `null` on the last. Each page costs "
                               "O(limit log n) in Redis, never a scan of the pool. A token that changes while a listing pages "
                               "through shows where it was when its page was read. Client or admin key.",
                "security": CLIENT,
                "parameters": [{"$ref": "#/components/parameters/State"}] + PAGE_PARAMS,
                "responses": responses({"200": {"description": "One page", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/TokenPage"},
                    "example": {"tokens": [ASSIGNED], "next": "1764383740844:" + TOKEN}}}}}, "400", "401", "403", "503"),
            },
        },
        "/tokens/batch": {"post": {
            "operationId": "generateTokens", "tags": ["tokens"], "summary": "Generate 1 to 10000 tokens",
            "description": "`{\"count\": N}`, with `\"metadata\": {...}` for the same on every token, or "
                           "`{\"metadata\": [{...}, ...]}` for one token per object (`null`: none for that one). Admin key. "
                           "Bodies over the body limit (64 KiB, --max-body-size) are refused with 413, and so is metadata "
                           f"over {METADATA_LIMIT} bytes.",
            "security": ADMIN, "parameters": [IDEMPOTENCY_PARAM],
            "requestBody": json_body("BatchRequest", {"count": 100, "metadata": {"region": "eu"}}),
            "responses": responses({"201": {"description": "The new free tokens", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/TokenList"}, "example": {"tokens": [FREE]}}}}},
                "400", "401", "403", "413", "503") | {"409": {"$ref": "#/components/responses/IdempotencyKeyInUse"}},
        }},
        "/tokens/assign": {"post": {
            "operationId": "assignToken", "tags": ["tokens"], "summary": "Assign a random free token (or N at once)",
            "description": "Picks a random free token (SPOP) and gives it a new lease that lapses after the lease TTL "
                           "unless kept alive. Client or admin key. `count=N` (1 to 100) takes N distinct tokens, each its "
                           "own lease and lease number, all or nothing: with fewer than N free, nothing is taken (404); the "
                           "answer is `{\"tokens\": [...]}` (without `count`, one TokenInfo as always). Keep-alive and unblock "
                           "stay per token. With a wait (`?wait=SECONDS` or `Prefer: wait=SECONDS`) "
                           "and too few free, the request joins the pool's one queue: higher `priority` first (-100 to 100, "
                           "default 0), then in the order the requests joined across every replica. A request for N at the head "
                           "of the queue has every token freed (by unblock, a lapsed lease, a rest's end, generate, enable) set "
                           "aside for it (state `reserved`: not free, no other assign gets it) until it has N, then gets them all "
                           "in one answer; priority decides who is next, never takes back what the head has set aside. A steady "
                           "stream of higher-priority requests can starve lower ones: priority is a promise of order. When its "
                           "wait runs out (404) or its client disconnects, what was set aside goes to the next in line at once. "
                           "With an Idempotency-Key, a retry picks up the tokens handed to the first call or takes its place in "
                           "the queue (and what was set aside for it): never two places, never two hand-overs (the first call "
                           "then gets 503 wait-interrupted); a retry of a count=N assign gets those of its tokens whose leases "
                           "still stand. A place that vanishes while time is left (Redis lost it, or a token handed to it was "
                           "deleted) queues again, at the back. With the pool's `maxPerHolder`, an assign naming a `holder` that "
                           "holds that many of the pool's tokens, or would with N more, is 429 holder-limit at once (never "
                           "queued); assigns that name no holder are not capped.",
            "security": CLIENT, "parameters": [IDEMPOTENCY_PARAM] + WAIT_PARAMS + ASSIGN_PARAMS,
            "requestBody": json_body("AssignRequest", {"holder": "worker-7"}, required=False),
            "responses": dict(responses(assigned, "400", "401", "403", "503"), **{"404": no_free, "429": holder_limit,
                                                                                   "409": key_reused}),
        }},
        "/tokens/{token}": {
            "parameters": [TOKEN_PARAM],
            "get": {"operationId": "inspectToken", "tags": ["tokens"], "summary": "Read a token's state",
                    "security": CLIENT,
                    "responses": responses(info("200", "The token", ASSIGNED), "400", "401", "403", "404", "503")},
            "delete": {"operationId": "deleteToken", "tags": ["tokens"], "summary": "Delete a token for good",
                       "security": ADMIN,
                       "responses": responses({"204": {"description": "Deleted"}}, "400", "401", "403", "404", "503")},
            "patch": {"operationId": "setTokenMetadata", "tags": ["tokens"], "summary": "Replace or remove a token's metadata",
                      "description": "`{\"metadata\": {...}}` replaces it, `{\"metadata\": null}` removes it; the lease and "
                                     "life stay as they are. Admin key.",
                      "security": ADMIN,
                      "requestBody": json_body("MetadataRequest", {"metadata": {"proxy": "10.0.0.8:3128"}}),
                      "responses": responses(info("200", "The token", ASSIGNED), "400", "401", "403", "404", "413", "503")},
        },
        "/tokens/{token}/unblock": {"post": {
            "operationId": "unblockToken", "tags": ["tokens"], "summary": "End an assignment (free, or cooling first)",
            "description": "Ends the token's lease. Unblocking a token with no lease is a no-op. With `lease`, it must be the "
                           "current lease (else 409, and nothing changes). With `cooldown=S` the token is `cooling` until now + "
                           "S (its `availableAt`): no assign, waiting or not, gets it before; without it, the pool's `cooldown` "
                           "setting applies (also to a lease that lapses). Use it for what an upstream 429's `Retry-After` "
                           "said. `outcome=failure` counts one more failure in a row: the pool's `maxFailures`-th disables "
                           "the token (reason `failures`) for the pool's `quarantine`, or until enabled; back from a "
                           "quarantine it is on probation (`failures` = maxFailures - 1). `outcome=success` (the default) "
                           "clears its failures. Only a standing lease's end reports an outcome.",
            "security": CLIENT, "parameters": [TOKEN_PARAM, LEASE_PARAM, {"$ref": "#/components/parameters/Cooldown"},
                                               {"$ref": "#/components/parameters/Outcome"}],
            "responses": responses(info("200", "The token, now free, cooling or disabled", COOLING), "400", "401", "403", "404", "409", "503"),
        }},
        "/tokens/{token}/disable": {"post": {
            "operationId": "disableToken", "tags": ["tokens"], "summary": "Take a token out of service",
            "description": "The assignment ends and the token is `disabled`: kept with its metadata, never assigned until "
                           "enabled; it still dies without keep-alive. An admin key may disable any token; a client key only "
                           "the one it holds, naming its current `lease` (403 without it, 409 for another): the holder takes "
                           "a dead proxy out. Disabling a disabled token replaces its reason and ends any quarantine. With an "
                           "Idempotency-Key, a retry answers the token as it is, without checking the lease again.",
            "security": CLIENT, "parameters": [TOKEN_PARAM, LEASE_PARAM, IDEMPOTENCY_PARAM],
            "requestBody": json_body("DisableRequest", {"reason": "proxy refuses connections"}, required=False),
            "responses": responses(info("200", "The token, now disabled", dict(DISABLED, reason="proxy refuses connections", availableAt=None)),
                                   "400", "401", "403", "404", "409", "503"),
        }},
        "/tokens/{token}/enable": {"post": {
            "operationId": "enableToken", "tags": ["tokens"], "summary": "Put a disabled token back in service",
            "description": "Free again (the first waiting assign gets it first), `failures` 0, `reason` null. A token that "
                           "is not disabled is left as it is (200). Admin key.",
            "security": ADMIN, "parameters": [TOKEN_PARAM],
            "responses": responses(info("200", "The token, now free", FREE), "400", "401", "403", "404", "503"),
        }},
        "/tokens/{token}/keep-alive": {"post": {
            "operationId": "keepAliveToken", "tags": ["tokens"], "summary": "Keep a token (and its lease) alive",
            "description": "Pushes the token's life to now + keep-alive TTL and, if assigned, its lease to now + lease TTL "
                           "(the pool's own TTLs, else the server's); never earlier than they were.",
            "security": CLIENT, "parameters": [TOKEN_PARAM, LEASE_PARAM],
            "responses": responses(info("200", "The token", ASSIGNED), "400", "401", "403", "404", "409", "503"),
        }},
        "/events": {"get": {
            "operationId": "poolEvents", "tags": ["pools"], "summary": "The pool's events, live (server-sent events)",
            "description": "A `text/event-stream`: one event per change, `event:` its type (assigned, unblocked, lapsed, "
                           "expired, deleted, generated, cooling, available, disabled, enabled), `id:` its place in the pool's "
                           "Redis stream, `data:` a JSON object (`type`, `at` in ms by Redis's clock, and `token`, `lease`, "
                           "`holder`, `count`, `availableAt` (cooling; disabled with a quarantine), `reason` (disabled) or `by` (the name of "
                           "the API key that asked for a generate, delete, disable or enable)). The scripts "
                           "append to the stream in the same atomic step as the change, so every replica's stream shows "
                           "every replica's changes, within a quarter second; a replica reads each pool's stream once for all its "
                           "listeners. A listener 1000 events behind gets `event: reconnect` and the stream ends (reconnect "
                           "with `Last-Event-ID`). It starts with what happens next; "
                           "`Last-Event-ID` (sent by an EventSource that reconnects) or `?since=MS` replays what the stream "
                           "still holds (about the last 1000 events). A comment line every 5 s keeps quiet connections "
                           "open. A holder can watch for its own token's `lapsed`. Client or admin key.",
            "security": CLIENT,
            "parameters": [
                {"name": "since", "in": "query", "required": False, "description": "Replay events from this time (ms since the epoch)",
                 "schema": {"type": "integer", "format": "int64", "minimum": 0}},
                {"name": "duration", "in": "query", "required": False, "description": "End the stream after this many seconds (default: never)",
                 "schema": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 86400}},
                {"name": "Last-Event-ID", "in": "header", "required": False, "description": "Replay the events after this one",
                 "schema": {"type": "string", "pattern": "^[0-9]{1,15}-[0-9]{1,19}$"}},
            ],
            "responses": responses({"200": {"description": "The events, as they happen", "content": {"text/event-stream": {
                "schema": {"type": "string"},
                "example": 'id: 1764383740844-0\nevent: assigned\ndata: {"type":"assigned","token":"' + TOKEN
                           + '","lease":7,"holder":"worker-7","at":1764383740844}\n\n'}}}}, "400", "401", "403", "503"),
        }},
        "/stats": {"get": {
            "operationId": "poolStats", "tags": ["pools"], "summary": "Count a pool's tokens (O(1))",
            "description": "May lag a lapse or an expiry by up to the reap interval (about a second). Admin key.",
            "security": ADMIN,
            "responses": responses({"200": {"description": "Counts", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Stats"},
                "example": {"pool": "default", "total": 10, "free": 0, "assigned": 7, "waiting": 4, "cooling": 1,
                            "disabled": 1, "reserved": 1}}}}}, "401", "403", "503"),
        }},
        "/waiters": {"get": {
            "operationId": "poolWaiters", "tags": ["pools"], "summary": "The pool's queue of waiting assigns",
            "description": "A page of the waiting assigns in the order they will be served (higher priority first, then "
                           "joining order; the head that tokens are set aside for first of all), and `setAside`: the tokens "
                           "set aside for the head (first page only). `since` and `waitUntil` by Redis's clock. Waiters whose "
                           "replica stopped renewing them are left out. O(limit) in Redis. Client or admin key.",
            "security": CLIENT, "parameters": PAGE_PARAMS[:1] + [{"$ref": "#/components/parameters/PoolCursor"}],
            "responses": responses({"200": {"description": "One page of the queue", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/WaiterPage"},
                "example": {"waiters": [
                    {"holder": "transfer-test", "count": 2, "priority": 0, "since": "2026-11-29T02:35:01.120Z",
                     "waitUntil": "2026-11-29T02:35:31.120Z"},
                    {"holder": None, "count": 1, "priority": 0, "since": "2026-11-29T02:35:02.511Z",
                     "waitUntil": "2026-11-29T02:35:12.511Z"}],
                    "setAside": [TOKEN], "next": None}}}}}, "400", "401", "403", "503"),
        }},
    }


def pooled(paths):
    """The same routes under /pools/{pool}: operation ids get an InPool suffix, every operation may be a 400."""
    out = {}
    for path, item in copy.deepcopy(paths).items():
        item["parameters"] = [{"$ref": "#/components/parameters/Pool"}] + item.get("parameters", [])
        for method, op in item.items():
            if method == "parameters":
                continue
            op["operationId"] += "InPool"
            op["responses"].setdefault("400", R["400"])
            op["responses"].setdefault("500", R["500"])
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    link["operationId"] += "InPool"
                    link["parameters"]["pool"] = "$request.path.pool"
        out["/pools/{pool}" + path] = item
    return out


def pool_paths():
    pool_param = [{"$ref": "#/components/parameters/Pool"}]
    pool_info = {"200": {"description": "The pool", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Pool"}, "example": POOL}}}}
    return {
        "/pools": {"get": {
            "operationId": "listPools", "tags": ["pools"], "summary": "List a page of the pools",
            "description": "Every pool generated into (or given settings) and not deleted, with its counts and TTLs, by "
                           "name within a page. Pass `next` back as `cursor` for the next page. Client or admin key.",
            "security": CLIENT, "parameters": [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/PoolCursor"}],
            "responses": responses({"200": {"description": "One page", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/PoolPage"}, "example": {"pools": [POOL], "next": None}}}}},
                "400", "401", "403", "503"),
        }},
        "/pools/{pool}": {
            "parameters": pool_param,
            "get": {"operationId": "getPool", "tags": ["pools"], "summary": "A pool's counts and TTLs",
                    "security": CLIENT,
                    "responses": responses(pool_info, "400", "401", "403", "503") | {"404": {"$ref": "#/components/responses/PoolNotFound"}}},
            "put": {"operationId": "configurePool", "tags": ["pools"], "summary": "Set a pool's settings",
                    "description": "Sets all of them at once. Stored in Redis and used by every replica from its next operation "
                                   "on; a TTL left out or null is the server's default (--lease-ttl, --keep-alive-ttl); "
                                   "`cooldown` (0/null: none) rests every token whose assignment ends without a cooldown of its "
                                   "own, lapsed leases included; `maxFailures` failure reports in a row disable a token, for "
                                   "`quarantine` seconds (null: until enabled by hand); `rateLimit` `{assigns: R, per: W}` lets at "
                                   "most R assignments of one token begin in any window of W seconds (a sliding log of each token's "
                                   "last R starts: no burst beyond R in any window); a token at its budget is `cooling` until its next "
                                   "assignment is allowed; `maxPerHolder` caps the tokens one named holder may hold (429 holder-limit beyond; "
                                   "assigns naming no holder are not capped). Rests and quarantines already begun keep their ends. Leases and lives already "
                                   "granted keep their deadlines: a shorter TTL applies from the next assign or keep-alive, and a "
                                   "keep-alive never moves a deadline earlier than it was, so no holder's lease ends sooner than "
                                   "it was told. Makes the pool if there was none. Admin key.",
                    "security": ADMIN,
                    "requestBody": json_body("PoolSettings", {"leaseTTL": 30, "keepAliveTTL": 600, "cooldown": 30, "maxFailures": 3,
                                                              "quarantine": 600, "rateLimit": {"assigns": 10, "per": 60},
                                                              "maxPerHolder": 5}),
                    "responses": responses(pool_info, "400", "401", "403", "503")},
            "delete": {"operationId": "deletePool", "tags": ["pools"], "summary": "Delete a pool and everything in it",
                       "description": "Its tokens, leases, queue and settings go in one step (UNLINK, so Redis frees a big "
                                      "pool's memory in the background). From then on no token of it is assigned, the pool "
                                      "is 404 and its listing empty; waiting assigns in it wait for tokens generated anew. "
                                      "Admin key.",
                       "security": ADMIN,
                       "responses": responses({"204": {"description": "Deleted"}}, "400", "401", "403", "503")
                       | {"404": {"$ref": "#/components/responses/PoolNotFound"}}},
        },
    }


def document():
    paths = token_paths()
    health = {"200": {"description": "OK", "content": {"application/json": {
        "schema": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
        "example": {"status": "ok"}}}}}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "TokenPool",
            "version": "1.0.0",
            "description": "Hands out tokens from a shared pool kept in Redis: generate, assign a random free token, "
                           f"keep it alive, unblock, delete. An assignment lapses after the lease TTL ({D['leaseTTL']} s) without "
                           f"keep-alive; a token without keep-alive for the keep-alive TTL ({D['keepAliveTTL']} s) is deleted. "
                           "Every assignment carries a lease number (fencing token). Errors are RFC 9457 problem+json: "
                           "400/404/409/413 for what the request asked, 503 with Retry-After for transient trouble only, 500 "
                           "for a fault of the service or corrupt data (logged; a retry fails the same way). Limits: request "
                           f"bodies up to {D['maxBodySize'] // 1024} KiB (413 above, --max-body-size); a request that cannot get "
                           f"Redis's answer within the command timeout ({D['commandTimeout']} s, --redis-timeout; one deadline for the "
                           f"wait for a connection and the reply) gets 503 with Retry-After: {D['retryAfterSeconds']}; idle "
                           f"keep-alive connections close after {D['idleTimeout']} s (--idle-timeout; a request still being "
                           f"answered, such as a waiting assign, is never cut); a waiting assign waits {D['maxWait']} s at most "
                           "(--max-wait).",
        },
        "tags": [{"name": "tokens"}, {"name": "pools"}, {"name": "health"}],
        "paths": {
            **paths,
            **pooled(paths),
            **pool_paths(),
            "/metrics": {"get": {
                "operationId": "metrics", "tags": ["health"], "summary": "Prometheus metrics",
                "description": "Requests by route and status with latency histograms, pool gauges (total, free, assigned per "
                               "pool, read in O(1); tokenpool_pool_waiting, the queue's length), a histogram of time spent "
                               "waiting by outcome (tokenpool_wait_duration_seconds), counters of assignments, unblocks, keep-alives, lapses and expiries "
                               "reaped, reaper batches, Redis command latency and errors. Admin key when keys are set.",
                "security": ADMIN,
                "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {
                    "schema": {"type": "string"}, "example": "tokenpool_assignments_total 42\n"}}},
                    "401": R["401"], "403": R["403"], "503": R["503"]},
            }},
            "/audit": {"get": {
                "operationId": "audit", "tags": ["health"], "summary": "The audit trail",
                "description": "Every admin change (generate, batch, PATCH, delete, disable, enable, PUT and DELETE of a pool) "
                               "and every 401, 403 and 429, oldest first: the time (Redis's clock), the key's name (never "
                               "the key; - when unknown), method, route, pool, token, status, result (ok or the problem's "
                               "slug) and client address. Kept --audit-retention seconds (default 30 days) and at most about "
                               "--audit-max-entries entries (default 100000). Admin keys of every pool only.",
                "security": ADMIN,
                "parameters": [
                    {"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 100000000000000},
                     "example": 1796514952098,
                     "description": "From this time on, in ms since the epoch (an RFC 3339 time such as 2026-12-05T10:00:00Z is taken too)"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]{1,15}-[0-9]{1,19}$"},
                     "description": "A page's next: the entries after it (wins over since)"},
                ],
                "responses": {"200": {"description": "One page of entries", "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/AuditPage"}, "example": {"entries": [{
                        "id": "1796514952098-0", "time": "2026-12-05T23:55:52.098Z", "key": "ops", "method": "DELETE",
                        "route": "/pools/{pool}", "status": 204, "result": "ok", "pool": "proxies", "client": "10.0.0.7:50670"}],
                        "next": None}}}},
                    "400": R["400"], "401": R["401"], "403": R["403"], "503": R["503"]},
            }},
            "/healthz": {"get": {"operationId": "health", "tags": ["health"], "summary": "The process answers",
                                 "security": [], "responses": health}},
            "/readyz": {"get": {"operationId": "ready", "tags": ["health"], "summary": "Redis answers too",
                                "security": [],
                                "responses": {**health, "503": {"$ref": "#/components/responses/NotReady"}}}},
        },
        "components": {
            "securitySchemes": {
                "adminKey": {"type": "http", "scheme": "bearer",
                             "description": "An admin key (--admin-key / TOKENPOOL_ADMIN_KEYS): every operation."},
                "clientKey": {"type": "http", "scheme": "bearer",
                              "description": "A client key (--client-key / TOKENPOOL_CLIENT_KEYS): assign, unblock, "
                                             "keep-alive, inspect, and the listings of tokens and pools."},
            },
            "parameters": {
                "Token": {"name": "token", "in": "path", "required": True, "description": "24 characters of [A-Za-z0-9_-]",
                          "schema": {"$ref": "#/components/schemas/Token"}, "example": TOKEN},
                "Pool": {"name": "pool", "in": "path", "required": True, "description": "A pool's name",
                         "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "minLength": 1, "maxLength": 64},
                         "example": "proxies"},
                "IdempotencyKey": {
                    "name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "Makes a retry safe: for one lease TTL after the first call, a call with the same key (in the "
                                   "same pool) gets the first call's answer instead of new tokens. Assign: the same assignment (token "
                                   "and lease) for as long as it stands, so one key never holds two live assignments. Generate: the "
                                   "first call's tokens that are still in the pool.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7E]+$"},
                    "example": "job-42-attempt"},
                "Wait": {"name": "wait", "in": "query", "required": False,
                         "description": "Seconds to wait for a token when none is free (a decimal number, at most the "
                                        f"server's --max-wait, {D['maxWait']} s by default; more is 400). 0 or absent: no wait. "
                                        "Behind Heroku's router (30 s per request) ask for 25 at most.",
                         "schema": {"type": "number", "minimum": 0, "maximum": D["maxWait"]}, "example": 10},
                "Prefer": {"name": "Prefer", "in": "header", "required": False,
                           "description": "RFC 7240 `wait=SECONDS`: the same as the wait query parameter, which wins when "
                                          "both are given. As a preference it is a hint: one that is not a number is ignored, "
                                          "one above the server's maximum waits the maximum.",
                           "schema": {"type": "string"}, "example": "wait=10"},
                "State": {"name": "state", "in": "query", "required": False,
                          "description": "Which tokens: assigned (by lease deadline), free, cooling (by availableAt), disabled "
                                         "(by quarantine's end), or all (by life deadline)",
                          "schema": {"type": "string", "enum": ["assigned", "free", "cooling", "disabled", "all"], "default": "all"},
                          "example": "assigned"},
                "Limit": {"name": "limit", "in": "query", "required": False, "description": "At most this many a page",
                          "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "example": 100},
                "Cursor": {"name": "cursor", "in": "query", "required": False,
                           "description": "The `next` of the page before (opaque); absent for the first page. For the sorted "
                                          "token listings a number alone means: after that deadline (ms since the epoch).",
                           "schema": {"type": "string", "pattern": "^[0-9]{1,18}(:[A-Za-z0-9_-]{24})?$"},
                           "example": "1764383740844:" + TOKEN},
                "PoolCursor": {"name": "cursor", "in": "query", "required": False,
                               "description": "The `next` of the page before (opaque); absent for the first page",
                               "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}, "example": "12"},
                "Cooldown": {"name": "cooldown", "in": "query", "required": False,
                             "description": "Seconds the token rests (cooling) before any assign may take it; fractions "
                                            "allowed (ms); absent: the pool's cooldown",
                             "schema": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 86400}, "example": 30},
                "Outcome": {"name": "outcome", "in": "query", "required": False,
                            "description": "How the assignment went: a failure counts toward the pool's maxFailures, a success "
                                           "clears the token's failures",
                            "schema": {"type": "string", "enum": ["success", "failure"], "default": "success"}},
                "Count": {"name": "count", "in": "query", "required": False,
                          "description": "How many tokens at once, all or nothing (1 to 100); with it the answer is "
                                         "`{\"tokens\": [...]}`; absent: one token, one TokenInfo",
                          "schema": {"type": "integer", "minimum": 1, "maximum": 100}, "example": 2},
                "Priority": {"name": "priority", "in": "query", "required": False,
                             "description": "A waiting assign's place: higher is served first, equal in joining order",
                             "schema": {"type": "integer", "minimum": -100, "maximum": 100, "default": 0}, "example": 10},
                "Lease": {"name": "lease", "in": "query", "required": False,
                          "description": "The holder's lease number; when given it must be the current lease, else 409",
                          "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 9223372036854775807},
                          "example": 7},
            },
            "schemas": {
                "Token": {"type": "string", "pattern": "^[A-Za-z0-9_-]{24}$", "minLength": 24, "maxLength": 24},
                "TokenInfo": {
                    "type": "object", "additionalProperties": False,
                    "required": ["token", "pool", "state", "expiresAt", "leaseExpiresAt", "lease", "leaseExpiresIn", "holder",
                                 "metadata", "availableAt", "failures", "reason"],
                    "properties": {
                        "token": {"$ref": "#/components/schemas/Token"},
                        "pool": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                        "state": {"type": "string", "enum": ["free", "assigned", "cooling", "disabled", "reserved"],
                                  "description": "free: assignable; assigned: under a lease; cooling: resting until availableAt; "
                                                 "disabled: out of service (by hand, or by failure reports); reserved: set aside "
                                                 "for the waiting assign at the head of the queue, which asked for several"},
                        "expiresAt": {"type": "string", "format": "date-time",
                                      "description": "When the token dies without a keep-alive"},
                        "leaseExpiresAt": {"type": "string", "format": "date-time", "nullable": True,
                                           "description": "When the lease lapses; null when free"},
                        "lease": {"type": "integer", "format": "int64", "minimum": 1, "nullable": True,
                                  "description": "The lease number (fencing token); null when free"},
                        "leaseExpiresIn": {"type": "number", "minimum": 0, "nullable": True,
                                           "description": "Seconds left on the lease when the server answered, measured by "
                                                          "Redis's clock: a duration, so a client whose clock is off can still "
                                                          "time its keep-alives (e.g. every third of it); null when free"},
                        "holder": {"type": "string", "nullable": True,
                                   "description": "Who holds the lease, as its assign named it; null when free or unnamed"},
                        "metadata": {"allOf": [{"$ref": "#/components/schemas/Metadata"}], "nullable": True,
                                     "description": "What the token stands for, as generate or PATCH gave it; null for none"},
                        "availableAt": {"type": "string", "format": "date-time", "nullable": True,
                                        "description": "When a cooling token is free again, or a quarantined one comes back "
                                                       "(Redis's clock); null otherwise"},
                        "failures": {"type": "integer", "minimum": 0,
                                     "description": "Failure reports in a row (unblock with outcome=failure); 0 for none"},
                        "reason": {"type": "string", "nullable": True,
                                   "description": "Why a disabled token is disabled: `failures`, or what disable was told; null otherwise"},
                    },
                },
                "Metadata": {"type": "object", "additionalProperties": True,
                             "description": f"Any JSON object of at most {METADATA_LIMIT} bytes as compact JSON (413 beyond); "
                                            "kept and answered as sent: members in order, numbers as written"},
                "GenerateRequest": {"type": "object", "additionalProperties": False,
                                    "properties": {"metadata": {"allOf": [{"$ref": "#/components/schemas/Metadata"}],
                                                                "nullable": True}}},
                "MetadataRequest": {"type": "object", "additionalProperties": False, "required": ["metadata"],
                                    "properties": {"metadata": {"allOf": [{"$ref": "#/components/schemas/Metadata"}],
                                                                "nullable": True}}},
                "AssignRequest": {"type": "object", "additionalProperties": False,
                                  "properties": {"holder": {"type": "string", "minLength": 1, "maxLength": 128,
                                                            "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*$",
                                                            "description": "Who takes the token: kept while the lease stands"}}},
                "DisableRequest": {"type": "object", "additionalProperties": False,
                                   "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 256, "nullable": True,
                                                             "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*$",
                                                             "description": "Why: shown with the token until it is enabled"}}},
                "TokenPage": {"type": "object", "additionalProperties": False, "required": ["tokens", "next"],
                              "properties": {"tokens": {"type": "array", "items": {"$ref": "#/components/schemas/TokenInfo"}},
                                             "next": {"type": "string", "nullable": True}}},
                "Pool": {"type": "object", "additionalProperties": False,
                         "required": ["pool", "total", "free", "assigned", "waiting", "cooling", "disabled", "reserved", "leaseTTL",
                                      "keepAliveTTL", "cooldown", "maxFailures", "quarantine", "rateLimit", "maxPerHolder"],
                         "properties": {"pool": {"type": "string"}, "total": {"type": "integer", "minimum": 0},
                                        "free": {"type": "integer", "minimum": 0, "description": "Tokens an assign may take now"},
                                        "assigned": {"type": "integer", "minimum": 0},
                                        "waiting": {"type": "integer", "minimum": 0},
                                        "cooling": {"type": "integer", "minimum": 0},
                                        "disabled": {"type": "integer", "minimum": 0},
                                        "reserved": {"type": "integer", "minimum": 0,
                                                     "description": "Tokens set aside for the queue's head"},
                                        "maxPerHolder": {"type": "integer", "nullable": True,
                                                         "description": "At most so many tokens held by one named holder; null: no cap"},
                                        "leaseTTL": {"type": "number", "description": "Seconds: the pool's own, else the server's"},
                                        "keepAliveTTL": {"type": "number", "description": "Seconds: the pool's own, else the server's"},
                                        "cooldown": {"type": "number", "nullable": True, "description": "Seconds; null: none"},
                                        "maxFailures": {"type": "integer", "nullable": True, "description": "null: never"},
                                        "quarantine": {"type": "number", "nullable": True,
                                                       "description": "Seconds; null: until enabled by hand"},
                                        "rateLimit": {"allOf": [{"$ref": "#/components/schemas/RateLimit"}], "nullable": True,
                                                      "description": "Each token's rate budget; null: none"}}},
                "RateLimit": {"type": "object", "additionalProperties": False, "required": ["assigns", "per"],
                              "description": "At most `assigns` assignments of one token begin in any window of `per` seconds "
                                             "(Redis's clock; a sliding log, so never more than `assigns` in any window)",
                              "properties": {"assigns": {"type": "integer", "minimum": 1, "maximum": 100000},
                                             "per": {"type": "number", "minimum": 0.001, "maximum": 86400}}},
                "PoolPage": {"type": "object", "additionalProperties": False, "required": ["pools", "next"],
                             "properties": {"pools": {"type": "array", "items": {"$ref": "#/components/schemas/Pool"}},
                                            "next": {"type": "string", "nullable": True}}},
                "PoolSettings": {"type": "object", "additionalProperties": False,
                                 "properties": {name: {"type": "number", "minimum": 0.001, "maximum": 31536000, "nullable": True,
                                                       "description": "Seconds; null or absent: the server's default"}
                                                for name in ("leaseTTL", "keepAliveTTL")}
                                 | {"cooldown": {"type": "number", "minimum": 0, "maximum": 86400, "nullable": True,
                                                 "description": "Seconds every ended assignment rests; 0, null or absent: none"},
                                    "maxFailures": {"type": "integer", "minimum": 1, "maximum": 1000, "nullable": True,
                                                    "description": "Failure reports in a row that disable a token; null or absent: never"},
                                    "quarantine": {"type": "number", "minimum": 0.001, "maximum": 31536000, "nullable": True,
                                                   "description": "Seconds a token disabled by failures stays so; null or absent: "
                                                                  "until enabled by hand"},
                                    "rateLimit": {"allOf": [{"$ref": "#/components/schemas/RateLimit"}], "nullable": True,
                                                  "description": "Each token's rate budget; null or absent: none"},
                                    "maxPerHolder": {"type": "integer", "minimum": 1, "maximum": 100000, "nullable": True,
                                                     "description": "At most so many of the pool's tokens held by one named holder "
                                                                    "(assigns that name no holder are not capped); null or absent: no cap"}}},
                "Waiter": {"type": "object", "additionalProperties": False,
                           "required": ["holder", "count", "priority", "since", "waitUntil"],
                           "properties": {"holder": {"type": "string", "nullable": True, "description": "As its assign named it"},
                                          "count": {"type": "integer", "minimum": 1, "maximum": 100},
                                          "priority": {"type": "integer", "minimum": -100, "maximum": 100},
                                          "since": {"type": "string", "format": "date-time", "description": "When it joined"},
                                          "waitUntil": {"type": "string", "format": "date-time", "description": "When its wait ends"}}},
                "WaiterPage": {"type": "object", "additionalProperties": False, "required": ["waiters", "setAside", "next"],
                               "properties": {"waiters": {"type": "array", "items": {"$ref": "#/components/schemas/Waiter"}},
                                              "setAside": {"type": "array", "items": {"$ref": "#/components/schemas/Token"},
                                                           "description": "The tokens set aside for the head (first page only)"},
                                              "next": {"type": "string", "nullable": True}}},
                "TokenList": {"type": "object", "additionalProperties": False, "required": ["tokens"],
                              "properties": {"tokens": {"type": "array", "items": {"$ref": "#/components/schemas/TokenInfo"}}}},
                "BatchRequest": {"oneOf": [
                    {"type": "object", "additionalProperties": False, "required": ["count"],
                     "properties": {"count": {"type": "integer", "minimum": 1, "maximum": 10000},
                                    "metadata": {"allOf": [{"$ref": "#/components/schemas/Metadata"}], "nullable": True}}},
                    {"type": "object", "additionalProperties": False, "required": ["metadata"],
                     "properties": {"metadata": {"type": "array", "minItems": 1, "maxItems": 10000,
                                                 "items": {"allOf": [{"$ref": "#/components/schemas/Metadata"}], "nullable": True}}}},
                ]},
                "Stats": {"type": "object", "additionalProperties": False,
                          "required": ["pool", "total", "free", "assigned", "waiting", "cooling", "disabled", "reserved"],
                          "properties": {"pool": {"type": "string"}, "total": {"type": "integer", "minimum": 0},
                                         "free": {"type": "integer", "minimum": 0, "description": "Tokens an assign may take now"},
                                         "cooling": {"type": "integer", "minimum": 0, "description": "Tokens resting after a cooldown"},
                                         "disabled": {"type": "integer", "minimum": 0, "description": "Tokens out of service"},
                                         "reserved": {"type": "integer", "minimum": 0,
                                                      "description": "Tokens set aside for the queue's head, which waits for several"},
                                         "assigned": {"type": "integer", "minimum": 0},
                                         "waiting": {"type": "integer", "minimum": 0,
                                                     "description": "Waiting assigns in the pool's queue"}}},
                "AuditEntry": {"type": "object", "required": ["id", "time", "key", "method", "route", "status", "result", "client"],
                               "properties": {"id": {"type": "string", "example": "1796514952098-0"},
                                              "time": {"type": "string", "format": "date-time"},
                                              "key": {"type": "string", "description": "The key's name; - for an unknown key"},
                                              "method": {"type": "string"}, "route": {"type": "string", "example": "/pools/{pool}/tokens/batch"},
                                              "pool": {"type": "string"}, "token": {"type": "string"},
                                              "status": {"type": "integer"},
                                              "result": {"type": "string", "description": "ok, or the problem's slug"},
                                              "client": {"type": "string", "example": "10.0.0.7:50670"}}},
                "AuditPage": {"type": "object", "required": ["entries", "next"],
                              "properties": {"entries": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
                                             "next": {"type": "string", "nullable": True}}},
                "Problem": {"type": "object", "required": ["type", "title", "status", "detail"],
                            "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                                           "status": {"type": "integer"}, "detail": {"type": "string"},
                                           "instance": {"type": "string"}}},
            },
            "responses": {
                "BadRequest": problem(400, "bad-request", "Bad Request", "a token is 24 characters of [A-Za-z0-9_-]"),
                "Unauthorized": dict(problem(401, "unauthorized", "Unauthorized", "a key is needed: Authorization: Bearer KEY"),
                                     headers={"WWW-Authenticate": {"schema": {"type": "string"}, "example": "Bearer"}}),
                "Forbidden": dict(problem(403, "forbidden", "Forbidden", "this key may not generate tokens"),
                                  description="A client key on an admin route (forbidden), a key limited to some pools on "
                                              "another pool's route (forbidden-pool), or a key limited to some pools on "
                                              "/audit or /metrics"),
                "TokenNotFound": problem(404, "token-not-found", "Not Found", f"token {TOKEN} is not in the pool"),
                "PoolNotFound": problem(404, "pool-not-found", "Not Found", "there is no pool 'proxies' (never generated into, or deleted)"),
                "LeaseConflict": problem(409, "lease-conflict", "Conflict", f"lease 6 is not the current lease of token {TOKEN}"),
                "IdempotencyKeyInUse": problem(409, "idempotency-key-in-use", "Conflict",
                                               "a request with Idempotency-Key 'job-42-attempt' is still in progress"),
                "TooLarge": dict(problem(413, "content-too-large", "Content Too Large", "the body is over 65536 bytes"),
                                 description="The body is over --max-body-size (content-too-large), or metadata is over "
                                             f"{METADATA_LIMIT} bytes as compact JSON (metadata-too-large)"),
                "Unavailable": dict(problem(503, "redis-unavailable", "Service Unavailable", "no connection to Redis"),
                                    description="Transient trouble, worth a retry after Retry-After seconds: no connection "
                                                "to Redis or no answer in time (redis-unavailable), or Redis cannot serve "
                                                "for now: LOADING, BUSY, READONLY, MASTERDOWN, CLUSTERDOWN, TRYAGAIN, "
                                                "NOREPLICAS (redis-busy); or, with --redis-wait-replicas, a change that fewer replicas than asked "
                                                "acknowledged in time (not-replicated: it may not survive a failover; retry with "
                                                "the same Idempotency-Key); or a waiting assign that lost its place in the "
                                                "queue (wait-interrupted: a retry with its Idempotency-Key took the place, or "
                                                "the server is shutting down)",
                                    headers={"Retry-After": {"schema": {"type": "integer"}, "example": D["retryAfterSeconds"]}}),
                "NotReady": problem(503, "not-ready", "Service Unavailable", "Redis does not answer"),
                "RateLimited": dict(problem(429, "rate-limited", "Too Many Requests", "this key is over its rate; retry in 1 s"),
                                    description="The key is over the rate its keys-file entry gives, counted across every replica",
                                    headers={"Retry-After": {"schema": {"type": "integer"}, "example": 1}}),
                "Internal": problem(500, "internal", "Internal Server Error", "an unexpected error; it was logged"),
            },
        },
    }


def yaml(value, indent=0):
    """Block-style YAML in the document's own key order; scalars as JSON, which YAML reads as they are."""
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = json.dumps(key)
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{name}:")
                lines.append(yaml(item, indent + 1))
            else:
                lines.append(f"{pad}{name}: {json.dumps(item)}")
    else:
        for item in value:
            if isinstance(item, (dict, list)) and item:
                inner = yaml(item, indent + 1)
                lines.append(f"{pad}- " + inner.lstrip())
            else:
                lines.append(f"{pad}- {json.dumps(item)}")
    return "\n".join(lines)


def main():
    doc = document()
    # Any operation may meet a fault of the service or corrupt data.
    for item in doc["paths"].values():
        for method, op in item.items():
            if method != "parameters":
                op["responses"].setdefault("500", R["500"])
    outputs = {OUT: json.dumps(doc, indent=2) + "\n", OUT_YAML: yaml(doc) + "\n"}
    # The server writes its own --max-wait over the wait parameter's maximum: it must be the only one.
    for text in outputs.values():
        assert text.count(f'"maximum": {D["maxWait"]}\n') == 1, "the wait's maximum is not the only one of its value"
    if "--check" in sys.argv:
        for path, text in outputs.items():
            if not path.exists() or path.read_text() != text:
                print(f"{path} is stale: run python3 openapi/build_openapi.py", file=sys.stderr)
                sys.exit(1)
        return
    for path, text in outputs.items():
        path.write_text(text)


if __name__ == "__main__":
    main()
