-- drop_pool.lua: remove a pool: every token, lease, waiter and setting, in one step. The keys
-- go with UNLINK, so Redis frees a big pool's memory in the background; from this instant
-- every operation finds the pool empty. Needs prelude.lua (KEYS 1-12).
--
-- Returns how many of its keys existed (0: there was no such pool). The Idempotency-Keys'
-- records stay until they expire; they name tokens that are gone. So do the tokens' rate logs
-- (PREFIX:{pool}:rate:TOKEN, with a rate limit: gone ratePer after their last assignment).
-- Complexity: O(r + b) here for r replicas with waiters and b buckets of their waiters (UNLINK of
-- 19 keys: the 12 passed and cooling, disabled, health, wants, aside, held, replicas; and each
-- replica's waiting:CHANNEL and its buckets waiting:CHANNEL:B, a bucket per 256 waiters, for up
-- to 1,000 replicas and 1,000 buckets each);
-- the memory is freed off Redis's main thread.
--
--   redis-cli --eval <(cat prelude.lua drop_pool.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events'
expandKeys()
local base = string.sub(KEYS[1], 1, -5)
local keys = {base .. 'cooling', base .. 'disabled', base .. 'health', base .. 'wants', base .. 'aside', base .. 'held', base .. 'replicas', unpack(KEYS, 1, 12)}
-- Replicas with waiters in one pool are a handful; LIMIT keeps the call bounded all the same.
for _, channel in ipairs(redis.call('ZRANGE', base .. 'replicas', '-inf', '+inf', 'BYSCORE', 'LIMIT', 0, 1000)) do
    local index = base .. 'waiting:' .. channel
    keys[#keys + 1] = index
    for _, bucket in ipairs(redis.call('SRANDMEMBER', index, 1000)) do
        keys[#keys + 1] = index .. ':' .. bucket
    end
end
return redis.call('UNLINK', unpack(keys))
