-- drop_pool.lua: remove a pool: every token, lease, waiter and setting, in one step. The keys
-- go with UNLINK, so Redis frees a big pool's memory in the background; from this instant
-- every operation finds the pool empty. Needs prelude.lua (KEYS 1-12).
--
-- Returns {tokens, keys}: how many tokens the pool had, how many of its keys existed. The
-- Idempotency-Keys' records stay until they expire; they name tokens that are gone.
-- Complexity: O(1) here (UNLINK of 12 keys); the memory is freed off Redis's main thread.
--
--   redis-cli --eval <(cat prelude.lua drop_pool.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events'
local tokens = redis.call('ZCARD', KEYS[3])
return {tokens, redis.call('UNLINK', unpack(KEYS, 1, 12))}
