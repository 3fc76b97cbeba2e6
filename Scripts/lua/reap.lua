-- reap.lua: one bounded batch of reclaiming. Waiters past their `until` leave the queue;
-- lapsed leases, rests and quarantines that are over go to the queue's head or back to the free set; tokens past their life leave
-- every key. Operations already treat all three as gone the instant their deadline passes:
-- this only returns memory and keeps the free set and the queue honest.
-- Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] at most this many of each: gone waiters, lapsed leases, dead tokens, per call
--
-- Returns {leasesEnded, tokensExpired, waitersGone, waiting, backFromRest} (waitersGone counts
-- both kinds: past their `until`, and up to ARGV[1] each of at most 4 replicas gone): backFromRest counts
-- rests and quarantines that ended (tokens free again); a count equal to ARGV[1] (2 * ARGV[1]
-- for backFromRest) means more may be left. Complexity: O(k (log n + log w)) for the k <= 3 * ARGV[1] handled; never a scan.
--
--   redis-cli --eval <(cat prelude.lua reap.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , 1000
begin()
local batch = tonumber(ARGV[1])

-- First the waiters that are gone, so no lapsed lease is handed to one of them: those past
-- their `until`, then those of replicas that stopped vouching for them (a few replicas a call).
local gone = redis.call('ZRANGE', KEYS[7], '-inf', now, 'BYSCORE', 'LIMIT', 0, batch)
for _, id in ipairs(gone) do
    forget(id)
end
local goneCount = #gone
for _, channel in ipairs(redis.call('ZRANGE', replicasKey(), '-inf', now, 'BYSCORE', 'LIMIT', 0, 4)) do
    local budget = batch
    while budget > 0 do
        local bucket = redis.call('SRANDMEMBER', waitingKey(channel))
        if not bucket then
            redis.call('ZREM', replicasKey(), channel)
            break
        end
        local numbers = redis.call('SPOP', bucketKey(channel, bucket), budget)
        for _, number in ipairs(numbers) do
            -- One handed a token keeps its pickup (its `until`, at least PICKUP_MS), as promised:
            -- it goes by the first loop when that ends.
            local id = channel .. '#' .. number
            if redis.call('HEXISTS', KEYS[8], id) == 0 then
                forget(id)
            end
        end
        -- Redis drops a set once it is empty.
        if redis.call('EXISTS', bucketKey(channel, bucket)) == 0 then
            redis.call('SREM', waitingKey(channel), bucket)
        end
        goneCount = goneCount + #numbers
        budget = budget - #numbers
    end
end
-- What was set aside for a head that left goes to the next in line.
if settings[13] then
    serve()
end

local leasesEnded = endLapsed(ARGV[1])
local rested = endResting(ARGV[1])

local dead = redis.call('ZRANGE', KEYS[3], '-inf', now, 'BYSCORE', 'LIMIT', 0, batch)
for _, tok in ipairs(dead) do
    purge(tok, 'expired')
end
-- The marks (see KEYS[11] in prelude.lua) go once what they mark is empty.
if settings[9] and redis.call('ZCARD', coolingKey()) + redis.call('ZCARD', disabledKey()) == 0 then
    redis.call('HDEL', KEYS[11], 'resting')
end
if settings[10] and redis.call('HLEN', healthKey()) == 0 then
    redis.call('HDEL', KEYS[11], 'health')
end
if settings[12] and redis.call('HLEN', heldKey()) == 0 then
    redis.call('HDEL', KEYS[11], 'held')
end
if settings[13] and redis.call('SCARD', asideKey()) == 0 and select(2, queueHead()) ~= '0' then
    redis.call('HDEL', KEYS[11], 'aside')
end
if settings[14] and redis.call('HLEN', KEYS[9]) == 0 then
    redis.call('HDEL', KEYS[11], 'meta')
end
local waiting = redis.call('ZCARD', KEYS[6])
if settings[15] and waiting == 0 then
    redis.call('HDEL', KEYS[11], 'queued')
end
-- A pool written before the marks `held`, `meta` and `queued` (or by an older replica beside
-- this one, for `meta` and `queued`) may hold holders, metadata or waiters without them: marked
-- here, so every call reads them again from this reap on.
if not settings[12] and redis.call('HLEN', KEYS[10]) > 0 then
    mark(12)
end
if not settings[14] and redis.call('HLEN', KEYS[9]) > 0 then
    mark(14)
end
if not settings[15] and waiting > 0 then
    -- And what was freed meanwhile, unseen by the queue, goes to it now.
    mark(15)
    serve()
    waiting = redis.call('ZCARD', KEYS[6])
end
return {leasesEnded, #dead, goneCount, waiting, rested}
