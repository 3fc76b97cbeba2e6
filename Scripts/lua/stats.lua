-- stats.lua: count a pool's tokens, all read at one instant. Needs prelude.lua (KEYS 1-5).
--
-- Returns {total, free, assigned}. Lapsed leases and dead tokens count until the reaper
-- gets to them (about a second). Complexity: O(1) (SCARD, ZCARD).
--
--   redis-cli --eval <(cat prelude.lua stats.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq'
return {
    redis.call('ZCARD', KEYS[3]),
    redis.call('SCARD', KEYS[1]),
    redis.call('ZCARD', KEYS[2]),
}
