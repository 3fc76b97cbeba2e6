-- reap.lua: one bounded batch of reclaiming. Lapsed leases go back to the free set; tokens
-- past their life leave every key. Operations already treat both as lapsed the instant
-- their deadline passes: this only returns memory and keeps the free set honest.
-- Needs prelude.lua (KEYS 1-5).
--
-- ARGV[1] at most this many lapsed leases, and at most this many dead tokens, per call
--
-- Returns {leasesEnded, tokensExpired}; a count equal to ARGV[1] means more may be waiting.
-- Complexity: O(k log n) for the k <= 2 * ARGV[1] tokens reclaimed; never a scan.
--
--   redis-cli --eval <(cat prelude.lua reap.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' , 1000
local batch = tonumber(ARGV[1])

local lapsed = redis.call('ZRANGE', KEYS[2], '-inf', now, 'BYSCORE', 'LIMIT', 0, batch)
for _, tok in ipairs(lapsed) do
    release(tok, lifeOf(tok))
end

local dead = redis.call('ZRANGE', KEYS[3], '-inf', now, 'BYSCORE', 'LIMIT', 0, batch)
for _, tok in ipairs(dead) do
    purge(tok)
end
return {#lapsed, #dead}
