-- wrk: the assign/unblock cycle. Each response to an assign hands its token and lease to the
-- thread's queue; the next request of any of the thread's connections unblocks it with that
-- lease. Half the requests assign, half unblock. Set POOL in the environment.
local pool = os.getenv("POOL") or "default"
-- KEY (optional): the API key every request presents.
if (os.getenv("KEY") or "") ~= "" then wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY") end
local queue = {}
local counts = {assign = 0, unblock = 0, other = 0}

request = function()
    local item = table.remove(queue)
    if item then
        return wrk.format("POST", "/pools/" .. pool .. "/tokens/" .. item[1] .. "/unblock?lease=" .. item[2])
    end
    return wrk.format("POST", "/pools/" .. pool .. "/tokens/assign")
end

response = function(status, headers, body)
    if status == 200 and body:find('"state":"assigned"', 1, true) then
        local token = body:match('"token":"([^"]+)"')
        local lease = body:match('"lease":(%d+)')
        queue[#queue + 1] = {token, lease}
    elseif status ~= 200 then
        print("unexpected status " .. status .. ": " .. body)
    end
end
