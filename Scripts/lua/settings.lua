-- settings.lua: set a pool's own settings, used by every replica from its next operation on.
-- Leases and lives already granted keep their deadlines; a keep-alive never moves one earlier
-- (see keep_alive.lua); rests and quarantines already begun keep their ends.
-- Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] lease TTL in ms, or '' for the replicas' default (--lease-ttl)
-- ARGV[2] keep-alive TTL in ms, or '' for the replicas' default (--keep-alive-ttl)
-- ARGV[3] cooldown in ms: every assignment that ends without its own rests this long; '' for none
-- ARGV[4] maxFailures: this many failure reports in a row disable a token; '' for never
-- ARGV[5] quarantine in ms: a token disabled by failures comes back after it; '' for never by itself
-- ARGV[6] rateAssigns and ARGV[7] ratePer (ms): at most so many assignments of one token begin in
--         any window of so long; '' for no limit (both or neither)
-- ARGV[8] maxPerHolder: at most so many tokens held by one named holder; '' for no cap
--
-- Returns what stats.lua returns, read after the change. Complexity: O(log n).
--
--   redis-cli --eval <(cat prelude.lua settings.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , 30000 '' 5000 3 60000 10 1000 5
begin()
-- Each argument's name, and its place in what the prelude's begin() read.
local names = {{'leaseTTL', 1}, {'keepAliveTTL', 2}, {'cooldown', 4}, {'maxFailures', 5}, {'quarantine', 6}, {'rateAssigns', 7}, {'ratePer', 8}, {'maxPerHolder', 11}}
for i, entry in ipairs(names) do
    local value = ARGV[i] or ''
    if value == '' then
        redis.call('HDEL', KEYS[11], entry[1])
    else
        redis.call('HSET', KEYS[11], entry[1], value)
    end
    -- What the prelude read before the change, now as it is (counts() reports it).
    settings[entry[2]] = value ~= '' and value
end
return counts()
