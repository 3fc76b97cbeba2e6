-- leave.lua: a waiting assign ends: the waiter leaves the queue, taking the tokens handed to it
-- (whole leases from now) or giving them on to the next waiter or the free set; so do the
-- tokens set aside for it, if it was the head collecting several.
-- Needs prelude.lua (KEYS 1-12).
--
-- KEYS[13] (optional) the Idempotency-Key's record of the waiting assign
-- ARGV[1] the waiter id
-- ARGV[2] 'take' (its replica heard of a hand-over, or its wait ran out) or 'drop' (its client left)
-- ARGV[3] lease TTL in ms, the replica's default (the pool's own setting wins); also how long
--         the Idempotency-Key's record answers (with KEYS[13])
-- ARGV[4] who holds the token taken; '' or absent for nobody
--
-- Returns record(...) (see prelude.lua) for a token taken | many(...) for several | {'gone'}:
-- nothing handed to it, or the hand-over ran out before this and the tokens went on.
-- Complexity: O(N (log n + log w)) for N tokens.
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

local toks = leaveWith(id)
for _, tok in ipairs(toks or {}) do
    -- Handed over but never used: no rest.
    release(tok, lifeOf(tok), 'unblocked', nil, 0)
end
return {'gone'}
