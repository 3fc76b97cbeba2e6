-- stats.lua: count a pool's tokens, all read at one instant. Needs prelude.lua (KEYS 1-8).
--
-- Returns {total, free, assigned, waiting}. Lapsed leases and dead tokens count until the reaper
-- gets to them (about a second); waiting counts the queue, a waiter whose replica stopped for
-- at most a second more. Complexity: O(1) (SCARD, ZCARD).
--
--   redis-cli --eval <(cat prelude.lua stats.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed'
return {
    redis.call('ZCARD', KEYS[3]),
    redis.call('SCARD', KEYS[1]),
    redis.call('ZCARD', KEYS[2]),
    redis.call('ZCARD', KEYS[6]),
}
