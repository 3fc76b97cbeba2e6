-- leave.lua: a waiting assign ends: the waiter leaves the queue, taking the token handed to it
-- (a whole lease from now) or giving it on to the next waiter or the free set.
-- Needs prelude.lua (KEYS 1-12).
--
-- KEYS[13] (optional) the Idempotency-Key's record of the waiting assign
-- ARGV[1] the waiter id
-- ARGV[2] 'take' (its replica heard of a hand-over, or its wait ran out) or 'drop' (its client left)
-- ARGV[3] lease TTL in ms, the replica's default (the pool's own setting wins); also how long
--         the Idempotency-Key's record answers (with KEYS[13])
-- ARGV[4] who holds the token taken; '' or absent for nobody
--
-- Returns record(...) (see prelude.lua) for a token taken | {'gone'}: nothing handed to it, or
-- the hand-over ran out before this and the token went on. Complexity: O(log n + log w).
--
--   redis-cli --eval <(cat prelude.lua leave.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , 'tokenpool:handover:R#1' drop 60000
begin()
local id = ARGV[1]
if ARGV[2] == 'take' then
    return pickUp(id, ttl('leaseTTL', ARGV[3]), ARGV[4], KEYS[13], tonumber(ARGV[3])) or {'gone'}
end

local tok = leaveWith(id)
if tok then
    -- Handed over but never used: no rest.
    release(tok, lifeOf(tok), 'unblocked', nil, 0)
end
return {'gone'}
