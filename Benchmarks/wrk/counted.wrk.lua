-- wrk: another script of this folder (SCRIPT, a path; none: wrk's own GET of the URL) that stops
-- after a fixed number of responses: each of wrk's threads stops once it has LIMIT. So a run is
-- a number of requests, not a duration (Benchmarks/server_cpu.py: the server's CPU per request).
if (os.getenv("SCRIPT") or "") ~= "" then
    dofile(os.getenv("SCRIPT"))
end
local limit = tonumber(os.getenv("LIMIT"))
local inner = response
local seen = 0

response = function(status, headers, body)
    if inner then
        inner(status, headers, body)
    end
    seen = seen + 1
    if seen == limit then
        wrk.thread:stop()
    end
end
