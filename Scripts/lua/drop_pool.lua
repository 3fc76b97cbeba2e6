-- drop_pool.lua: remove a pool: every token, lease, waiter and setting, in one step. The keys
-- go with UNLINK, so Redis frees a big pool's memory in the background; from this instant
-- every operation finds the pool empty. Needs prelude.lua (KEYS 1-12).
--
-- Returns how many of its keys existed (0: there was no such pool). The Idempotency-Keys'
-- records stay until they expire; they name tokens that are gone. So do the tokens' rate logs
-- (PREFIX:{pool}:rate:TOKEN, with a rate limit: gone ratePer after their last assignment).
-- Complexity: O(1) here (UNLINK of 18 keys: the 12 passed and cooling, disabled, health, wants, aside, held); the memory is freed off Redis's main thread.
--
--   redis-cli --eval <(cat prelude.lua drop_pool.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events'
local base = string.sub(KEYS[1], 1, -5)
return redis.call('UNLINK', base .. 'cooling', base .. 'disabled', base .. 'health', base .. 'wants', base .. 'aside', base .. 'held', unpack(KEYS, 1, 12))
