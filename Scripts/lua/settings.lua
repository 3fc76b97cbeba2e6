-- settings.lua: set a pool's own TTLs, used by every replica from its next operation on.
-- Leases and lives already granted keep their deadlines; a keep-alive never moves one earlier
-- (see keep_alive.lua). Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] lease TTL in ms, or '' for the replicas' default (--lease-ttl)
-- ARGV[2] keep-alive TTL in ms, or '' for the replicas' default (--keep-alive-ttl)
--
-- Returns what stats.lua returns, read after the change. Complexity: O(1).
--
--   redis-cli --eval <(cat prelude.lua settings.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , 30000 ''
begin()
for i, name in ipairs({'leaseTTL', 'keepAliveTTL'}) do
    if ARGV[i] == '' then
        redis.call('HDEL', KEYS[11], name)
    else
        redis.call('HSET', KEYS[11], name, ARGV[i])
    end
    -- What the prelude read before the change, now as it is (counts() reports it).
    settings[i] = ARGV[i] ~= '' and ARGV[i]
end
return counts()
