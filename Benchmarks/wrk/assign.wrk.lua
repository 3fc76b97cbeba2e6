-- wrk: assign on a pool with no free token (the 404 path). Set POOL.
local pool = os.getenv("POOL") or "default"
wrk.method = "POST"
wrk.path = "/pools/" .. pool .. "/tokens/assign"
