-- renew.lua: a replica vouches for its waiters in one pool, every quarter second or so, and
-- learns which were handed a token (a published hand-over it may have missed) or dropped. The
-- vouching is one ZADD for all of the replica's waiters (PREFIX:{pool}:replicas), and the news
-- one HMGET and one ZMSCORE a call: Redis runs no command per waiter.
-- Lapsed leases, rests and quarantines end here too, so a token whose holder went quiet reaches the queue within a
-- renewal, not at the reaper's next pass. Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] the replica vouches for its waiters until this many ms from now
-- ARGV[2] at most this many lapsed leases end in this call
-- ARGV[3..] waiter ids, all of one replica (CHANNEL#N, one CHANNEL)
--
-- Returns pairs {id, 'TOKEN LEASE'} for waiters with a token handed to them, {id, 'taken'} for
-- waiters whose place a retry with the same Idempotency-Key took, {id, 'lost'} for waiters no
-- longer in the queue (their `until` passed, their replica's vouching lapsed and reap dropped
-- them, or Redis lost them). Others say nothing.
-- Complexity: O(k (log n + log w) + m log w) for k <= ARGV[2] lapsed leases and m waiters.
--
--   redis-cli --eval <(cat prelude.lua renew.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , 750 16
begin()
local ids = {unpack(ARGV, 3)}
if #ids > 0 then
    vouch(channelOf(ids[1]), now + tonumber(ARGV[1]))
end

endLapsed(ARGV[2])
endResting(ARGV[2])
if settings[13] then
    serve()
end

local reports = {}
if #ids > 0 then
    local handed = redis.call('HMGET', KEYS[8], unpack(ids))
    local standing = redis.call('ZMSCORE', KEYS[7], unpack(ids))
    for i, id in ipairs(ids) do
        if handed[i] then
            reports[#reports + 1] = id
            reports[#reports + 1] = handed[i]
        elseif not standing[i] then
            reports[#reports + 1] = id
            reports[#reports + 1] = 'lost'
        end
    end
end
return reports
