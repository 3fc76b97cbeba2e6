-- wrk: assign on a pool with no free token (the 404 path). Set POOL.
local pool = os.getenv("POOL") or "default"
-- KEY (optional): the API key every request presents.
if (os.getenv("KEY") or "") ~= "" then wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY") end
wrk.method = "POST"
wrk.path = "/pools/" .. pool .. "/tokens/assign"
