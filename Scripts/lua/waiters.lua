-- waiters.lua: one page of a pool's queue, in the order it will be served, never the whole
-- queue. Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] how many waiters at most (1..1000)
-- ARGV[2] '' for the first page, else the `next` of the page before: the place (see KEYS[6] in
--         prelude.lua) after which the queue goes on
--
-- Returns {next|false, now, aside, then per waiter 5 fields: holder|false, count, priority,
-- since, waitUntil (ms, Redis's clock)}: `aside` the tokens set aside for the head (an empty
-- array when none), which the first page's first waiter is. Waiters past their `until`, or whose
-- replica stopped vouching for them, are left out. Complexity: O(L + log w + N) for a page of L
-- waiters and N tokens set aside.
--
--   redis-cli --eval <(cat prelude.lua waiters.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , 100 ''
begin()
local limit, cursor = tonumber(ARGV[1]), ARGV[2]
local aside = {}
if cursor == '' and settings[13] then
    aside = redis.call('SRANDMEMBER', asideKey(), MAX_ASIDE)
    table.sort(aside)
end
local page = {false, now, aside}
local places = redis.call('ZRANGE', KEYS[6], cursor == '' and '-inf' or ('(' .. cursor), '+inf', 'BYSCORE', 'LIMIT', 0, limit, 'WITHSCORES')
for i = 1, #places, 2 do
    local id = places[i]
    local untilMs = tonumber(redis.call('ZSCORE', KEYS[7], id))
    local wants = redis.call('HGET', wantsKey(), id)
    if untilMs and math.min(untilMs, vouchedUntil(id)) > now and wants then
        local count, priority, since, waitUntil, holder = string.match(wants, '^(%d+) (%-?%d+) (%d+) (%d+) ?(.*)$')
        if count then
            page[#page + 1] = holder ~= '' and holder or false
            page[#page + 1] = tonumber(count)
            page[#page + 1] = tonumber(priority)
            page[#page + 1] = tonumber(since)
            page[#page + 1] = tonumber(waitUntil)
        end
    end
end
if #places == 2 * limit then
    page[1] = places[#places]
end
return page
