-- renew.lua: a replica vouches for its waiters in one pool, every quarter second or so, and
-- learns which were handed a token (a published hand-over it may have missed) or dropped.
-- Lapsed leases, rests and quarantines end here too, so a token whose holder went quiet reaches the queue within a
-- renewal, not at the reaper's next pass. Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] a waiter's `until` moves to at most this many ms from now (its wait's end caps it)
-- ARGV[2] at most this many lapsed leases end in this call
-- ARGV[3..] pairs: waiter id, its wait's end (ms, Redis clock, as assign.lua answered)
--
-- Returns pairs {id, 'TOKEN LEASE'} for waiters with a token handed to them, {id, 'taken'} for
-- waiters whose place a retry with the same Idempotency-Key took, {id, 'lost'} for waiters no
-- longer in the queue (their `until` passed, or Redis lost them). Others say nothing.
-- Complexity: O((k + m) (log n + log w)) for k <= ARGV[2] lapsed leases and m waiters.
--
--   redis-cli --eval <(cat prelude.lua renew.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , 750 16
begin()
local presence = tonumber(ARGV[1])

endLapsed(ARGV[2])
endResting(ARGV[2])
if settings[13] then
    serve()
end

local reports = {}
for i = 3, #ARGV - 1, 2 do
    local id = ARGV[i]
    local handed = redis.call('HGET', KEYS[8], id)
    local untilMs = redis.call('ZSCORE', KEYS[7], id)
    if untilMs then
        redis.call('ZADD', KEYS[7], 'XX', math.min(tonumber(ARGV[i + 1]), now + presence), id)
    end
    if handed then
        reports[#reports + 1] = id
        reports[#reports + 1] = handed
    elseif not untilMs then
        reports[#reports + 1] = id
        reports[#reports + 1] = 'lost'
    end
end
return reports
