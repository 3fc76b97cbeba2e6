-- keep_alive.lua: push a token's life to now + keep-alive TTL, and an assigned token's
-- lease to now + lease TTL; never earlier than they were (a pool's TTL may have been cut since
-- its holder was told a deadline). Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] token
-- ARGV[2] expected lease number, or '' for any (see unblock.lua)
-- ARGV[3] lease TTL in ms, the replica's default (the pool's own setting wins)
-- ARGV[4] keep-alive TTL in ms, the replica's default (the pool's own setting wins)
--
-- Returns record(...) (see prelude.lua) | {'not_found'} | {'conflict'}. A conflict changes
-- nothing. Complexity: O(log n).
--
--   redis-cli --eval <(cat prelude.lua keep_alive.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , TOKEN '' 60000 300000
begin()
local tok = ARGV[1]
local life, leaseUntil, current, refusal = openToken(tok, ARGV[2])
if refusal then
    return refusal
end

local newLife = math.max(life, now + ttl('keepAliveTTL', ARGV[4]))
redis.call('ZADD', KEYS[3], 'XX', string.format('%d', newLife), tok)
if current then
    local newLease = math.max(leaseUntil, now + ttl('leaseTTL', ARGV[3]))
    redis.call('ZADD', KEYS[2], 'XX', string.format('%d', newLease), tok)
    return record(tok, newLife, newLease, current)
end
if leaseUntil then
    -- The lease lapsed before this keep-alive: the token is free again.
    release(tok, newLife, 'lapsed')
end
return record(tok, newLife)
