-- wrk: keep-alive on random existing tokens, read from the file TOKENS (one a line). Set POOL.
local pool = os.getenv("POOL") or "default"
-- KEY (optional): the API key every request presents.
if (os.getenv("KEY") or "") ~= "" then wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY") end
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
    tokens[#tokens + 1] = line
end

request = function()
    return wrk.format("POST", "/pools/" .. pool .. "/tokens/" .. tokens[math.random(#tokens)] .. "/keep-alive")
end
