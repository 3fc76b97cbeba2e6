-- wrk: generate one token per request. Set POOL.
local pool = os.getenv("POOL") or "default"
wrk.method = "POST"
wrk.path = "/pools/" .. pool .. "/tokens"
