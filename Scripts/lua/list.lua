-- list.lua: one page of a pool's tokens, never the whole pool. Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] 'assigned' (by lease deadline, soonest first), 'all' (by life deadline, soonest
--         first), 'cooling' (by availableAt, soonest first), 'disabled' (by quarantine's end,
--         soonest first, then those disabled until enabled) or 'free' (in the free set's own
--         order, SSCAN)
-- ARGV[2] how many tokens at most (1..1000); 'free' pages hold about as many (SSCAN's count)
-- ARGV[3] '' for the first page, else the `next` of the page before: 'SCORE:TOKEN' after which
--         the sorted listings go on ('SCORE' alone: after that deadline), or SSCAN's cursor for 'free'
--
-- Returns {next|false, now, then per token the 11 fields of record(...) after its status (see
-- prelude.lua)}. A token may move while a listing pages through
-- the pool: it shows where it was when its page was read (in two pages, or none, if it moved
-- meanwhile); lapsed leases and dead tokens are left out. Complexity: O(L (log n) + t) for a
-- page of L tokens, t tokens sharing the cursor's deadline to the millisecond; never a scan.
--
--   redis-cli --eval <(cat prelude.lua list.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , assigned 100 ''
begin()
local state, limit, cursor = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local page = {false, now}

-- Appends one token as it is now, unless its life is over or (but for `all`) it is no longer
-- in the state listed.
local function add(tok)
    local life = lifeOf(tok)
    if not life or life <= now then
        return
    end
    local r = recordNow(tok, life)
    if state ~= 'all' and stateOf(r) ~= state then
        return
    end
    appendRecord(page, r)
end

if state == 'free' then
    local scanned = {}
    local next = cursor == '' and '0' or cursor
    -- SSCAN may answer few members from a sparse table: a few rounds, never the whole set.
    for _ = 1, 8 do
        local reply = redis.call('SSCAN', KEYS[1], next, 'COUNT', limit - #scanned)
        next = reply[1]
        for _, tok in ipairs(reply[2]) do
            scanned[#scanned + 1] = tok
        end
        if next == '0' or #scanned >= limit then
            break
        end
    end
    for _, tok in ipairs(scanned) do
        add(tok)
    end
    page[1] = next ~= '0' and next
    return page
end

-- The sorted listings: members after (score, token), ties in Redis's order (bytewise).
local key = ({assigned = KEYS[2], cooling = coolingKey(), disabled = disabledKey()})[state] or KEYS[3]
-- Disabled tokens: every one, those whose quarantine ended too (until the next assign or reap
-- frees them); those disabled by hand (score +inf) page as if at this far deadline.
local FOREVER = 99999999999999
local afterScore, afterTok = state == 'disabled' and 0 or now, nil
if cursor ~= '' then
    local score, tok = string.match(cursor, '^(%d+):?(.*)$')
    afterScore = tonumber(score)
    if tok ~= '' then
        afterTok = tok
    end
end
local picked = {}
local offset = 0
-- One more than asked: whether there is a next page.
while #picked <= limit do
    local want = limit + 1 - #picked
    local reply = redis.call('ZRANGE', key, afterTok and afterScore or '(' .. afterScore, '+inf', 'BYSCORE', 'LIMIT', offset, want, 'WITHSCORES')
    for i = 1, #reply, 2 do
        local score = math.min(tonumber(reply[i + 1]), FOREVER)
        if not (afterTok and score == afterScore and reply[i] <= afterTok) then
            picked[#picked + 1] = {reply[i], score}
        end
    end
    if #reply < 2 * want then
        break
    end
    offset = offset + want
end
for i = 1, math.min(limit, #picked) do
    add(picked[i][1])
end
if #picked > limit then
    page[1] = string.format('%d', picked[limit][2]) .. ':' .. picked[limit][1]
end
return page
