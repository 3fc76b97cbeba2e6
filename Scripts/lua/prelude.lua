-- prelude.lua: what every script of TokenPool shares, written once. TokenPool loads the
-- scripts as one Redis Functions library, this prelude first and each script the body of a
-- function (Redis 7; see PoolScript.swift), or, on an older Redis, each script with this in
-- front of it by EVALSHA; by hand, so does
--
--   redis-cli --eval <(cat prelude.lua SCRIPT.lua) KEYS... , ARGV...
--
-- So nothing here may call Redis when the library loads: what a call reads (the clock, the
-- pool's settings) is read by begin(), each script's first statement.
--
-- Every script takes a pool's keys in this order (all share the {pool} hash tag):
-- KEYS[1] free    set     tokens that may be assigned
-- KEYS[2] leases  zset    assigned token -> lease deadline (ms since epoch, Redis clock)
-- KEYS[3] alive   zset    every token -> life deadline (ms)
-- KEYS[4] lease   hash    assigned token -> lease number (fencing token)
-- KEYS[5] seq     string  the pool's counter (INCR): lease numbers and queue tickets
-- KEYS[6] queue   zset    waiting assign: waiter id -> ticket (arrival order, as Redis saw it)
-- KEYS[7] waiters zset    waiter id -> until (ms): its wait's end, or sooner unless its
--                         replica renews it (renew.lua); queued or handed a token
-- KEYS[8] handed  hash    waiter id -> 'TOKEN LEASE': handed over, not yet picked up
-- KEYS[9] meta    hash    token -> its metadata, a JSON object's text (only tokens that have some)
-- KEYS[10] holder hash    assigned token -> who holds it (only when assign named a holder)
-- KEYS[11] settings hash  'leaseTTL', 'keepAliveTTL' (ms): the pool's own, over the replicas' flags;
--                         'events' = 'off' stops the events below; 'cooldown' (ms) rests every
--                         token whose assignment ends; 'maxFailures' and 'quarantine' (ms);
--                         'rateAssigns' and 'ratePer' (ms): at most so many assignments of one
--                         token begin in any window of so long; and two marks the scripts keep:
--                         'resting' = 1 while cooling or disabled (below) may hold a token,
--                         'health' = 1 while health may (set when they are written, cleared by
--                         reap.lua when they are empty), so a pool that uses neither pays nothing
-- KEYS[12] events  stream  what happened in the pool, oldest first, capped near EVENTS_KEPT entries:
--                         one field, e = 'TYPE AT WHAT' (see emit; GET /pools/{pool}/events)
--
-- Three more keys of the pool, named after KEYS[1] (so in its slot) and never passed: a key
-- passed costs Redis about a twentieth of a call, and these are touched only while the pool
-- uses them (see the marks 'resting' and 'health' of KEYS[11]):
-- PREFIX:{pool}:cooling  zset  resting token -> availableAt (ms): not free, not assignable, until then
-- PREFIX:{pool}:disabled zset  disabled token -> when its quarantine ends (ms), '+inf' until enabled
-- PREFIX:{pool}:health   hash  token -> 'FAILURES[ REASON]': consecutive failure reports (tokens
--                              with some), and, while it is disabled, why (when a reason was given)
-- A waiter id is 'CHANNEL#N': a hand-over is published on CHANNEL, the replica's own.

-- Redis's clock in ms since the epoch: the only clock a script reads. `nowText` is the same in
-- digits, made from TIME's own text (the seconds, then the first three of six microsecond
-- digits): Redis turns a Lua number it is handed into text, and so does Lua a number it
-- concatenates, with a printf of a double, some 3,000 instructions each. So what goes back to
-- Redis stays text where it already is, else string.format('%d') (an integer's printf, cheaper).
local now, nowText
-- The pool's own settings, read once a call: leaseTTL, keepAliveTTL, events, cooldown,
-- maxFailures, quarantine, rateAssigns, ratePer, and the marks resting and health.
local settings
-- Whether this pool keeps events (settings.events = off stops them).
local eventsOn

-- The pool's key `name` beside KEYS[1] ('PREFIX:{pool}:free'): in the same slot.
local function poolKey(name)
    return string.sub(KEYS[1], 1, -5) .. name
end

local function coolingKey()
    return poolKey('cooling')
end

local function disabledKey()
    return poolKey('disabled')
end

local function healthKey()
    return poolKey('health')
end

-- Forgets the previous call's clock and settings. The library runs it before every function
-- (PoolScript.swift), so a script that reads `now` without begin() fails at once instead of
-- reading the last call's time. (Each EVAL makes these anew.)
local function reset()
    now, nowText, settings, eventsOn = nil, nil, nil, nil
end

-- Reads Redis's clock and the pool's settings for this call. O(1).
local function begin()
    local t = redis.call('TIME')
    nowText = t[1] .. string.sub('00000' .. t[2], -6, -4)
    now = tonumber(nowText)
    settings = redis.call('HMGET', KEYS[11], 'leaseTTL', 'keepAliveTTL', 'events', 'cooldown', 'maxFailures', 'quarantine', 'rateAssigns', 'ratePer', 'resting', 'health')
    eventsOn = settings[3] ~= 'off'
end

-- The pool's TTL `name` ('leaseTTL' or 'keepAliveTTL') in ms: its own setting (PUT /pools/{pool}),
-- else `default`, the replica's flag.
local function ttl(name, default)
    return tonumber(settings[name == 'leaseTTL' and 1 or 2]) or tonumber(default)
end

-- How many events the stream keeps, about (XADD MAXLEN ~: trimmed a node at a time, O(1) amortized).
local EVENTS_KEPT = '1000'

-- Appends an event: field e = 'KIND AT WHAT', KIND 'assigned', 'unblocked', 'lapsed', 'expired',
-- 'deleted', 'available', 'enabled' or 'generated', AT `now` (ms), WHAT 'TOKEN LEASE [HOLDER]'
-- (lease 0: none) or, for 'generated', the count; KIND 'cooling' or 'disabled': WHAT 'TOKEN 0
-- AVAILABLEAT|- [REASON]'. One field, not several: a third cheaper for Redis, the same for every
-- entry. O(1).
local function emit(kind, what)
    if eventsOn then
        redis.call('XADD', KEYS[12], 'MAXLEN', '~', EVENTS_KEPT, '*', 'e', kind .. ' ' .. nowText .. ' ' .. what)
    end
end

-- Sets a mark of the settings hash (9 'resting', 10 'health': see KEYS[11]) once a call. O(1).
local function mark(index)
    if not settings[index] then
        redis.call('HSET', KEYS[11], index == 9 and 'resting' or 'health', '1')
        settings[index] = '1'
    end
end

-- The token's life deadline, or nil for a token the pool does not know.
local function lifeOf(tok)
    return tonumber(redis.call('ZSCORE', KEYS[3], tok))
end

-- The list of when the token's last assignments began (see budgetEnd), in the pool's slot.
local function rateKey(tok)
    return poolKey('rate:' .. tok)
end

-- With the pool's rate limit (R assignments in any window of W ms, a sliding log): when the
-- token may next be assigned, if not now. Its last R assignments' starts are kept; the next may
-- begin once the oldest of them is W old. O(1) (the list holds at most R).
local function budgetEnd(tok)
    local limit, window = tonumber(settings[7]), tonumber(settings[8])
    if not limit or not window then
        return nil
    end
    local key = rateKey(tok)
    local kept = redis.call('LLEN', key)
    if kept < limit then
        return nil
    end
    local oldest = tonumber(redis.call('LINDEX', key, kept == limit and -1 or limit - 1))
    if oldest and oldest + window > now then
        return oldest + window
    end
    return nil
end

-- Removes a token from every key of the pool, because it `why` ('expired' or 'deleted'). O(log n).
local function purge(tok, why)
    emit(why, tok .. ' 0')
    redis.call('ZREM', KEYS[3], tok)
    redis.call('SREM', KEYS[1], tok)
    redis.call('ZREM', KEYS[2], tok)
    redis.call('HDEL', KEYS[4], tok)
    redis.call('HDEL', KEYS[9], tok)
    redis.call('HDEL', KEYS[10], tok)
    if settings[9] then
        redis.call('ZREM', coolingKey(), tok)
        redis.call('ZREM', disabledKey(), tok)
    end
    if settings[10] then
        redis.call('HDEL', healthKey(), tok)
    end
    if settings[7] then
        redis.call('UNLINK', rateKey(tok))
    end
end

-- The token's lease: its deadline (nil if it has none, even a lapsed one) and its number
-- (nil unless the lease still stands), as a number and as Redis keeps it. O(log n).
local function currentLease(tok)
    local leaseUntil = tonumber(redis.call('ZSCORE', KEYS[2], tok))
    if leaseUntil and leaseUntil > now then
        local text = redis.call('HGET', KEYS[4], tok)
        return leaseUntil, tonumber(text), text
    end
    return leaseUntil, nil
end

-- A token's consecutive failure reports and, while disabled, why: (number, text|false). O(1).
local function healthOf(tok)
    local text = settings[10] and redis.call('HGET', healthKey(), tok)
    if not text then
        return 0, false
    end
    local failures, reason = string.match(text, '^(%d+) ?(.*)$')
    return tonumber(failures), reason ~= '' and reason
end

-- The reply of every operation on one token:
-- {'ok', token, expiresAt, leaseExpiresAt|false, lease|false, now, holder|false, metadata|false,
--  state, availableAt|false, failures, reason|false}.
-- `now` lets a client count durations (leaseExpiresAt - now) without comparing its clock with
-- Redis's. The holder (false: none) is read, unless the caller passes it, only for a standing
-- lease. `state` is 'assigned' with a lease, else 'disabled', 'cooling' (until availableAt) or
-- 'free'; availableAt is a cooling token's end of rest or a quarantine's end. O(1) past the
-- caller's lookups.
local function record(tok, life, leaseUntil, lease, holder)
    local state, availableAt = 'free', false
    if lease then
        state = 'assigned'
        if holder == nil then
            holder = redis.call('HGET', KEYS[10], tok)
        end
    elseif settings[9] then
        local off = redis.call('ZSCORE', disabledKey(), tok)
        if off then
            state, availableAt = 'disabled', tonumber(off)
            if availableAt == math.huge then
                availableAt = false
            end
        else
            local rest = tonumber(redis.call('ZSCORE', coolingKey(), tok))
            if rest and rest > now then
                state, availableAt = 'cooling', rest
            end
        end
    end
    local failures, reason = healthOf(tok)
    return {'ok', tok, life, leaseUntil or false, lease or false, now, holder or false, redis.call('HGET', KEYS[9], tok),
        state, availableAt, failures, state == 'disabled' and reason}
end

-- record(...) of a living token as it is now: with its lease's deadline and number if a lease
-- stands. O(log n).
local function recordNow(tok, life)
    local leaseUntil, lease = currentLease(tok)
    return record(tok, life, lease and leaseUntil, lease)
end

-- The pool's counts, read at one instant, and its own settings (false where it has none):
-- {total, free, assigned, waiting, leaseTTL|false, keepAliveTTL|false, cooling, disabled,
--  cooldown|false, maxFailures|false, quarantine|false, rateAssigns|false, ratePer|false};
-- TTLs, cooldown, quarantine and ratePer in ms.
-- `free` counts the tokens an assign may take now: cooling ones whose rest is over (the next
-- assign, renew or reap moves them) are free, not cooling. O(log n).
local function counts()
    local cooling, resting, disabled = 0, 0, 0
    if settings[9] then
        cooling = redis.call('ZCOUNT', coolingKey(), '(' .. nowText, '+inf')
        resting = redis.call('ZCARD', coolingKey())
        disabled = redis.call('ZCARD', disabledKey())
    end
    return {
        redis.call('ZCARD', KEYS[3]),
        redis.call('SCARD', KEYS[1]) + resting - cooling,
        redis.call('ZCARD', KEYS[2]),
        redis.call('ZCARD', KEYS[6]),
        tonumber(settings[1]) or false,
        tonumber(settings[2]) or false,
        cooling,
        disabled,
        tonumber(settings[4]) or false,
        tonumber(settings[5]) or false,
        tonumber(settings[6]) or false,
        tonumber(settings[7]) or false,
        tonumber(settings[8]) or false,
    }
end

-- A waiter leaves the queue, whatever it was doing. O(log w).
local function forget(id)
    redis.call('ZREM', KEYS[6], id)
    redis.call('ZREM', KEYS[7], id)
    redis.call('HDEL', KEYS[8], id)
end

-- A waiter has at least this long to pick up what it is handed, even in its wait's last instant:
-- a pickup lease that ran out at once would let the next assign reclaim the token first.
local PICKUP_MS = 500

-- Hands a free token to the first waiter still there, under a new lease that lasts until that
-- waiter's `until` or PICKUP_MS, whichever is later (its pickup: the `until` is renewed by its
-- replica, so at most 0.75 s if the replica is gone); leave.lua turns it into a whole lease. The
-- waiter's replica hears of it on its channel.
-- Waiters past their `until` are dropped on the way (at most 16 per call). Returns whether it
-- handed the token over. O(log n + log w).
local function handOver(tok)
    for _ = 1, 16 do
        local head = redis.call('ZPOPMIN', KEYS[6])
        local id = head[1]
        if not id then
            return false
        end
        local untilMs = tonumber(redis.call('ZSCORE', KEYS[7], id))
        if untilMs and untilMs > now then
            local lease = redis.call('INCR', KEYS[5])
            local pickup = math.max(untilMs, now + PICKUP_MS)
            redis.call('ZADD', KEYS[2], pickup, tok)
            -- The waiter (and so what it was handed) stays as long as its pickup may take.
            redis.call('ZADD', KEYS[7], pickup, id)
            redis.call('HSET', KEYS[4], tok, lease)
            redis.call('HSET', KEYS[8], id, tok .. ' ' .. lease)
            redis.call('PUBLISH', string.match(id, '^(.*)#'), id .. ' ' .. tok .. ' ' .. lease)
            return true
        end
        forget(id)
    end
    return false
end

-- A token rests until `availableAt` (ms): cooling, in no free set and no queue's hands.
local function rest(tok, availableAt)
    local at = string.format('%d', availableAt)
    mark(9)
    redis.call('ZADD', coolingKey(), at, tok)
    emit('cooling', tok .. ' 0 ' .. at)
end

-- A token becomes free while it lives: to the head of the queue if anyone waits, else the free
-- set; or, at its rate limit's budget, it rests until the budget allows its next assignment.
-- `checked`: the caller has asked budgetEnd already.
local function free(tok, checked)
    local at = not checked and budgetEnd(tok)
    if at then
        rest(tok, at)
    elseif not handOver(tok) then
        redis.call('SADD', KEYS[1], tok)
    end
end

-- Ends a lease, `why` 'lapsed' or 'unblocked' (given back): the token is free again while it
-- lives (after `cooldown` ms of rest, or the pool's cooldown when nil, 0: none; or later, when
-- its rate limit's budget allows), gone after.
-- `lease`, the lease's number as Redis keeps it, is read when not given. O(log n + log w).
local function release(tok, life, why, lease, cooldown)
    if life and life > now then
        if eventsOn then
            emit(why, tok .. ' ' .. (lease or redis.call('HGET', KEYS[4], tok) or '0'))
        end
        redis.call('ZREM', KEYS[2], tok)
        redis.call('HDEL', KEYS[4], tok)
        redis.call('HDEL', KEYS[10], tok)
        cooldown = cooldown or tonumber(settings[4]) or 0
        local at = budgetEnd(tok)
        if cooldown > 0 then
            at = math.max(at or 0, now + cooldown)
        end
        if at then
            rest(tok, at)
        else
            free(tok, true)
        end
    else
        purge(tok, 'expired')
    end
end

-- At most `limit` members of the sorted set `key` whose deadline has come, soonest first. O(log n + limit).
local function due(key, limit)
    return redis.call('ZRANGE', key, '-inf', nowText, 'BYSCORE', 'LIMIT', '0', limit)
end

-- Ends at most `limit` lapsed leases, oldest deadline first: each token to the queue's head,
-- or the free set, while it lives (after the pool's cooldown). Returns how many.
-- O(k (log n + log w)) for k <= limit.
local function endLapsed(limit)
    local lapsed = due(KEYS[2], limit)
    for _, tok in ipairs(lapsed) do
        release(tok, lifeOf(tok), 'lapsed')
    end
    return #lapsed
end

-- A token comes back from rest or quarantine: to the queue's head or the free set, while it lives.
local function comeBack(tok, kind)
    if (lifeOf(tok) or 0) > now then
        emit(kind, tok .. ' 0')
        free(tok)
    else
        purge(tok, 'expired')
    end
end

-- Ends at most `limit` rests and at most `limit` quarantines that are over, soonest first. A
-- token back from quarantine is on probation: its failures stand at maxFailures - 1, so its
-- next failure report disables it again and its next success clears them. Returns how many.
-- O(k (log n + log w)) for k <= 2 * limit.
local function endResting(limit)
    if not settings[9] then
        return 0
    end
    local rested = due(coolingKey(), limit)
    for _, tok in ipairs(rested) do
        redis.call('ZREM', coolingKey(), tok)
        comeBack(tok, 'available')
    end
    local back = due(disabledKey(), limit)
    local maxFailures = tonumber(settings[5])
    for _, tok in ipairs(back) do
        redis.call('ZREM', disabledKey(), tok)
        if maxFailures and maxFailures > 1 then
            redis.call('HSET', healthKey(), tok, string.format('%d', maxFailures - 1))
        else
            redis.call('HDEL', healthKey(), tok)
        end
        comeBack(tok, 'enabled')
    end
    return #rested + #back
end

-- Takes a token out of service (its lease, if any, ends; it leaves the free set and any rest):
-- disabled until `untilMs` (nil: until enabled by hand), `reason` ('' or nil: none) kept beside
-- its failures. O(log n).
local function disable(tok, untilMs, reason, failures)
    local lease = redis.call('HGET', KEYS[4], tok)
    if lease then
        redis.call('ZREM', KEYS[2], tok)
        redis.call('HDEL', KEYS[4], tok)
        redis.call('HDEL', KEYS[10], tok)
    end
    redis.call('SREM', KEYS[1], tok)
    redis.call('ZREM', coolingKey(), tok)
    local at = untilMs and string.format('%d', untilMs)
    mark(9)
    mark(10)
    redis.call('ZADD', disabledKey(), at or '+inf', tok)
    local health = string.format('%d', failures)
    if reason and reason ~= '' then
        health = health .. ' ' .. reason
    end
    redis.call('HSET', healthKey(), tok, health)
    emit('disabled', tok .. ' ' .. (lease or '0') .. ' ' .. (at or '-') .. ((reason and reason ~= '') and (' ' .. reason) or ''))
end

-- An assignment ends with a report: 'success' clears the token's failures, 'failure' counts
-- one more; the pool's maxFailures-th in a row disables it, for the pool's quarantine (or until
-- enabled by hand) with reason 'failures'. Anything else ('') counts nothing. Returns whether
-- the token was disabled. O(log n).
local function report(tok, outcome)
    if outcome == 'success' then
        if settings[10] then
            redis.call('HDEL', healthKey(), tok)
        end
    elseif outcome == 'failure' then
        local failures = healthOf(tok) + 1
        local maxFailures = tonumber(settings[5])
        if maxFailures and failures >= maxFailures then
            local quarantine = tonumber(settings[6])
            disable(tok, quarantine and now + quarantine, 'failures', failures)
            return true
        end
        mark(10)
        redis.call('HSET', healthKey(), tok, string.format('%d', failures))
    end
    return false
end

-- Opens a lease for `leaseTTL` ms on `tok` (popped or handed over), held by `holder` ('' or nil:
-- nobody named); `idem` (optional) is the Idempotency-Key's record that remembers it for
-- `idemTTL` ms. Returns record(...).
local function grant(tok, life, leaseTTL, number, holder, idem, idemTTL)
    local leaseUntil = now + leaseTTL
    local numberText = string.format('%d', number)
    redis.call('ZADD', KEYS[2], string.format('%d', leaseUntil), tok)
    redis.call('HSET', KEYS[4], tok, numberText)
    -- A token is only granted free (release and purge clear its holder), so nobody to clear here.
    if holder and holder ~= '' then
        redis.call('HSET', KEYS[10], tok, holder)
        emit('assigned', tok .. ' ' .. numberText .. ' ' .. holder)
    else
        holder = false
        emit('assigned', tok .. ' ' .. numberText)
    end
    if idem then
        redis.call('HSET', idem, 'token', tok, 'lease', numberText)
        redis.call('PEXPIRE', idem, idemTTL)
    end
    -- The rate limit's log: this assignment's start, the last R kept, gone W after the last.
    if settings[7] and settings[8] then
        local key = rateKey(tok)
        redis.call('LPUSH', key, nowText)
        redis.call('LTRIM', key, 0, tonumber(settings[7]) - 1)
        redis.call('PEXPIRE', key, settings[8])
    end
    return record(tok, life, leaseUntil, number, holder)
end

-- Waiter `id` leaves the queue. Returns the token handed to it and that lease's number while
-- the hand-over still stands, else nil: nothing handed, its place taken by a retry ('taken'),
-- or the hand-over ran out and the token went on (its lease is no longer the one handed).
local function leaveWith(id)
    local handed = redis.call('HGET', KEYS[8], id)
    forget(id)
    local tok, number = string.match(handed or '', '^(%S+) (%d+)$')
    if tok and tonumber(redis.call('HGET', KEYS[4], tok)) == tonumber(number) then
        return tok, tonumber(number)
    end
    return nil
end

-- Picks up the token handed to waiter `id`, if any: a whole lease from now for `holder`, and the
-- waiter leaves. Returns record(...) or nil (see leaveWith). O(log n + log w).
local function pickUp(id, leaseTTL, holder, idem, idemTTL)
    local tok, number = leaveWith(id)
    if not tok then
        return nil
    end
    local life = lifeOf(tok)
    if not life then
        return nil
    end
    if life <= now then
        purge(tok, 'expired')
        return nil
    end
    return grant(tok, life, leaseTTL, number, holder, idem, idemTTL)
end

-- Opens a token for a keep-alive or an unblock: its life, lease deadline and current lease
-- number, or, as the fourth value, the refusal to answer with: {'not_found'} for a token the
-- pool does not know or one past its life (purged on the spot), {'conflict'} when `expected`
-- (a lease number, or '' for any) is not the current lease. A refusal changes nothing else.
-- The fifth value is the current lease's number as Redis keeps it (for release).
local function openToken(tok, expected)
    local life = lifeOf(tok)
    if not life then
        return nil, nil, nil, {'not_found'}
    end
    if life <= now then
        purge(tok, 'expired')
        return nil, nil, nil, {'not_found'}
    end
    local leaseUntil, current, currentText = currentLease(tok)
    if expected ~= '' and tonumber(expected) ~= current then
        return nil, nil, nil, {'conflict'}
    end
    return life, leaseUntil, current, nil, currentText
end
