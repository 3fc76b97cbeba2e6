-- stats.lua: count a pool's tokens, all read at one instant. Needs prelude.lua (KEYS 1-12).
--
-- Returns counts() (see prelude.lua): {total, free, assigned, waiting, leaseTTL|false,
-- keepAliveTTL|false, cooling, disabled, cooldown|false, maxFailures|false, quarantine|false,
-- rateAssigns|false, ratePer|false};
-- the settings are the pool's own, false where it has none (the replicas' flags apply). Lapsed leases and dead tokens count until the reaper
-- gets to them (about a second); waiting counts the queue, a waiter whose replica stopped for
-- at most a second more. Complexity: O(log n) (SCARD, ZCARD, one ZCOUNT).
--
--   redis-cli --eval <(cat prelude.lua stats.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events'
begin()
return counts()
