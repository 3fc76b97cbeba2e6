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
-- Every script takes a pool's keys in this order (all share the {pool} hash tag), or only the
-- first, KEYS[1], then on Redis Cluster the pool's `absent` key, then (where a script takes one)
-- the Idempotency-Key's record: begin() names the others after KEYS[1] and moves the record to
-- KEYS[13] (see expandKeys).
-- KEYS[1] free    set     tokens that may be assigned
-- KEYS[2] leases  zset    assigned token -> lease deadline (ms since epoch, Redis clock)
-- KEYS[3] alive   zset    every token -> life deadline (ms)
-- KEYS[4] lease   hash    assigned token -> lease number (fencing token)
-- KEYS[5] seq     string  the pool's counter (INCR): lease numbers and queue tickets
-- KEYS[6] queue   zset    waiting assign: waiter id -> its place, (100 - priority) * 2^44 + ticket
--                         (higher priority first, then arrival order as Redis saw it); 0 for
--                         the head that tokens are set aside for (see 'aside' below)
-- KEYS[7] waiters zset    waiter id -> until (ms): its wait's end while queued (it stands only
--                         while its replica vouches for it too: 'replicas' below), its
--                         pickup's end once handed a token
-- KEYS[8] handed  hash    waiter id -> 'TOKEN LEASE[ TOKEN LEASE...]': handed over, not yet picked up
-- KEYS[9] meta    hash    token -> its metadata, a JSON object's text (only tokens that have some)
-- KEYS[10] holder hash    assigned token -> who holds it (only when assign named a holder)
-- KEYS[11] settings hash  'leaseTTL', 'keepAliveTTL' (ms): the pool's own, over the replicas' flags;
--                         'events' = 'off' stops the events below; 'cooldown' (ms) rests every
--                         token whose assignment ends; 'maxFailures' and 'quarantine' (ms);
--                         'rateAssigns' and 'ratePer' (ms): at most so many assignments of one
--                         token begin in any window of so long; and two marks the scripts keep:
--                         'resting' = 1 while cooling or disabled (below) may hold a token,
--                         'health' = 1 while health may (set when they are written, cleared by
--                         reap.lua when they are empty), so a pool that uses neither pays nothing;
--                         'maxPerHolder': at most so many tokens held by one named holder; and two
--                         more marks: 'held' = 1 while 'held' (below) may count a holder (and
--                         KEYS[10] name one), 'aside' = 1 while tokens may be set aside for the
--                         queue's head; and 'meta' = 1 while KEYS[9] may hold metadata, 'queued'
--                         = 1 while KEYS[6] may hold a waiter (set when written; reap.lua clears
--                         them when empty, and sets one it finds missing), so a pool that uses
--                         none of them does not read them: a mark costs a call that has it some
--                         3,900 instructions in begin(), a read it saves some 4,000
-- KEYS[12] events  stream  what happened in the pool, oldest first, capped near EVENTS_KEPT entries:
--                         one field, e = 'TYPE AT WHAT' (see emit; GET /pools/{pool}/events)
--
-- More keys of the pool, named after KEYS[1] (so in its slot) and never passed: a key passed
-- costs Redis about a twentieth of a call, and these are touched only while the pool uses them
-- (see the marks of KEYS[11]; 'wants' only while assigns wait):
-- PREFIX:{pool}:cooling  zset  resting token -> availableAt (ms): not free, not assignable, until then
-- PREFIX:{pool}:disabled zset  disabled token -> when its quarantine ends (ms), '+inf' until enabled
-- PREFIX:{pool}:health   hash  token -> 'FAILURES[ REASON]': consecutive failure reports (tokens
--                              with some), and, while it is disabled, why (when a reason was given)
-- PREFIX:{pool}:wants    hash  waiter id -> 'COUNT PRIORITY SINCE WAITUNTIL[ HOLDER]' (ms, Redis clock)
-- PREFIX:{pool}:aside    set   tokens set aside for the queue's head, which waits for several:
--                              not free, not assignable, until it has them all or leaves
-- PREFIX:{pool}:held     hash  holder -> how many of the pool's tokens it holds (named holders only)
-- PREFIX:{pool}:replicas zset  CHANNEL -> until (ms): the replicas with waiters here, each vouching
--                              for all of its waiters at once (renew.lua), so a waiter's presence
--                              costs its replica one ZADD a renewal, not one write per waiter
-- PREFIX:{pool}:waiting:CHANNEL[:B] sets  that replica's waiters in buckets (see waitingKey), so
--                              reap finds a gone replica's waiters
-- PREFIX:{pool}:absent   none  never written: declared on Redis Cluster so that no call on the pool
--                              runs while its slot migrates (see expandKeys)
-- A waiter id is 'CHANNEL#N': a hand-over is published on CHANNEL, the replica's own.

-- Redis's clock in ms since the epoch: the only clock a script reads. `nowText` is the same in
-- digits, made from TIME's own text (the seconds, then the first three of six microsecond
-- digits): Redis turns a Lua number it is handed into text, and so does Lua a number it
-- concatenates, with a printf of a double, some 3,000 instructions each. So what goes back to
-- Redis stays text where it already is, else string.format('%d') (an integer's printf, cheaper).
local now, nowText
-- The pool's own settings, read once a call: leaseTTL, keepAliveTTL, events, cooldown,
-- maxFailures, quarantine, rateAssigns, ratePer, the marks resting and health, maxPerHolder,
-- and the marks held and aside.
local settings
-- Whether this pool keeps events (settings.events = off stops them).
local eventsOn
-- The name of the API key that asked for this change, or nil (see changedBy).
local by
-- This call's reads of PREFIX:{pool}:replicas: CHANNEL -> until (ms), made on first use (see vouchedUntil).
local vouched

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

local function wantsKey()
    return poolKey('wants')
end

local function asideKey()
    return poolKey('aside')
end

local function heldKey()
    return poolKey('held')
end

local function replicasKey()
    return poolKey('replicas')
end

-- The buckets of replica `channel`'s waiters here: a set of bucket numbers B, and, per bucket,
-- a set of the N of each waiter 'CHANNEL#N' with N // 256 = B. Sets of at most 512 small
-- integers are arrays of 4 or 8 bytes a member in Redis, so the index costs a waiter little.
local function waitingKey(channel)
    return poolKey('waiting:' .. channel)
end

local function bucketKey(channel, bucket)
    return poolKey('waiting:' .. channel .. ':' .. bucket)
end

-- The channel of waiter `id` ('CHANNEL#N'): its replica's; and its N and bucket.
local function channelOf(id)
    return string.match(id, '^(.*)#')
end

local function numberOf(id)
    local number = string.match(id, '#(%d+)$')
    return number, string.format('%d', math.floor(tonumber(number) / 256))
end

-- Waiter `id` joins its replica's index (see waitingKey). O(1).
local function enlist(id)
    local channel = channelOf(id)
    local number, bucket = numberOf(id)
    redis.call('SADD', waitingKey(channel), bucket)
    redis.call('SADD', bucketKey(channel, bucket), number)
end

-- Waiter `id` leaves its replica's index; an empty bucket leaves the list of buckets. O(1).
local function delist(id)
    local channel = channelOf(id)
    local number, bucket = numberOf(id)
    local key = bucketKey(channel, bucket)
    if redis.call('SREM', key, number) == 1 and redis.call('SCARD', key) == 0 then
        redis.call('SREM', waitingKey(channel), bucket)
    end
end

-- The marks of KEYS[11] and their places in `settings`.
local MARKS = {[9] = 'resting', [10] = 'health', [12] = 'held', [13] = 'aside', [14] = 'meta', [15] = 'queued'}

-- Forgets the previous call's clock and settings. The library runs it before every function
-- (PoolScript.swift), so a script that reads `now` without begin() fails at once instead of
-- reading the last call's time. (Each EVAL makes these anew.)
local function reset()
    now, nowText, settings, eventsOn, by, vouched = nil, nil, nil, nil, nil, nil
end

-- The names of KEYS[1...12] after the pool's prefix, in order.
local POOL_KEYS = {'free', 'leases', 'alive', 'lease', 'seq', 'queue', 'waiters', 'handed', 'meta', 'holder', 'settings', 'events'}

-- Each pool's twelve key names, made by expandKeys, for the next call on the pool; at most
-- KEYRINGS_KEPT pools' (then they are made anew). Names only, derived from KEYS[1]: what a call
-- does never depends on them being here. Under EVAL the cache lasts one call.
local KEYRINGS, keyrings, KEYRINGS_KEPT = {}, 0, 1000

-- A call given only KEYS[1] (and the Idempotency-Key's record): KEYS becomes the twelve, named
-- after KEYS[1], and the record KEYS[13]. Every key passed costs Redis some 1,300 instructions of
-- the call (reading the argument, a Lua string, the slot check: docs/profile.md), and making the
-- names here costs as much again, so they are made once a pool (KEYRINGS). TokenPool passes one
-- key on one Redis or Sentinel. On Redis Cluster it passes two, KEYS[1] and the pool's `absent`
-- key, which no script writes (then the record): while a slot migrates, Redis runs a call only
-- if every key it declares is on the node, so with a key that is never anywhere it runs none
-- on that pool, and none can stop half-way at a key that has moved (TRYAGAIN, which the caller
-- retries, until the migration ends). A call with all twelve is left as it is. (Under EVAL,
-- the script declares its own `local KEYS = KEYS` ahead of this: Redis 7 makes the global one
-- read-only.) O(1).
local function expandKeys()
    if #KEYS <= 3 then
        local first, record = KEYS[1], KEYS[2]
        local ring = KEYRINGS[first]
        if not ring then
            if keyrings >= KEYRINGS_KEPT then
                KEYRINGS, keyrings = {}, 0
            end
            ring = {first}
            for i = 2, 12 do
                ring[i] = poolKey(POOL_KEYS[i])
            end
            ring.absent = poolKey('absent')
            KEYRINGS[first], keyrings = ring, keyrings + 1
        end
        -- Lua keeps one copy of each string, so this compares two pointers.
        if record == ring.absent then
            record = KEYS[3]
        end
        -- This call's record, or none: calls run one at a time.
        ring[13] = record
        KEYS = ring
    end
end

-- Each field of the settings hash (KEYS[11]) and its place in `settings`.
local SETTINGS = {leaseTTL = 1, keepAliveTTL = 2, events = 3, cooldown = 4, maxFailures = 5, quarantine = 6,
    rateAssigns = 7, ratePer = 8, resting = 9, health = 10, maxPerHolder = 11, held = 12, aside = 13, meta = 14, queued = 15}

-- Reads Redis's clock and the pool's settings for this call: `settings[i]` is the field of
-- place i (SETTINGS), false where the pool has none. O(1): the hash has at most 15 fields.
-- By HGETALL, not an HMGET of the thirteen names: a pool sets few of them, and Redis turning
-- fifteen Lua strings into arguments and thirteen replies back cost a call some 21,000
-- instructions, against some 7,000 (docs/profile.md).
local function begin()
    expandKeys()
    local t = redis.call('TIME')
    nowText = t[1] .. string.sub('00000' .. t[2], -6, -4)
    now = tonumber(nowText)
    settings = {false, false, false, false, false, false, false, false, false, false, false, false, false, false, false}
    local fields = redis.call('HGETALL', KEYS[11])
    for i = 1, #fields, 2 do
        local at = SETTINGS[fields[i]]
        if at then
            settings[at] = fields[i + 1]
        end
    end
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
-- entry. An admin change's events carry a second field, b = the name of the key that asked
-- (see changedBy). O(1).
local function emit(kind, what)
    if eventsOn then
        if by then
            redis.call('XADD', KEYS[12], 'MAXLEN', '~', EVENTS_KEPT, '*', 'e', kind .. ' ' .. nowText .. ' ' .. what, 'b', by)
        else
            redis.call('XADD', KEYS[12], 'MAXLEN', '~', EVENTS_KEPT, '*', 'e', kind .. ' ' .. nowText .. ' ' .. what)
        end
    end
end

-- The events of this call name `name` as their author: an API key's name, or '' for none.
local function changedBy(name)
    if name and name ~= '' then
        by = name
    end
end

-- Sets a mark of the settings hash (see MARKS and KEYS[11]) once a call. O(1).
local function mark(index)
    if not settings[index] then
        redis.call('HSET', KEYS[11], MARKS[index], '1')
        settings[index] = '1'
    end
end

-- The token's holder is no longer: out of the holder hash, and one fewer in its holder's count.
-- Without the `held` mark nobody is named in the pool (grant sets it with the first holder), so
-- there is nothing to drop. O(1).
local function dropHolder(tok)
    if settings[12] then
        local holder = redis.call('HGET', KEYS[10], tok)
        if holder then
            redis.call('HDEL', KEYS[10], tok)
            if redis.call('HINCRBY', heldKey(), holder, -1) <= 0 then
                redis.call('HDEL', heldKey(), holder)
            end
        end
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
    if settings[14] then
        redis.call('HDEL', KEYS[9], tok)
    end
    dropHolder(tok)
    if settings[13] then
        redis.call('SREM', asideKey(), tok)
    end
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
--  state, availableAt|false, failures, reason|false}, or its first six alone when the rest say
-- what they mostly do: no holder, no metadata, 'assigned' with a lease and 'free' without, no
-- availableAt, no failures (Redis turns each element of a reply into RESP, some 470
-- instructions; appendRecord fills a short one in where records are listed).
-- `now` lets a client count durations (leaseExpiresAt - now) without comparing its clock with
-- Redis's. The holder (false: none) is read, unless the caller passes it, only for a standing
-- lease. `state` is 'assigned' with a lease, else 'disabled', 'cooling' (until availableAt),
-- 'reserved' (set aside for the queue's head) or 'free'; availableAt is a cooling token's end
-- of rest or a quarantine's end. O(1) past the caller's lookups.
local function record(tok, life, leaseUntil, lease, holder)
    local state, availableAt = 'free', false
    if lease then
        state = 'assigned'
        if holder == nil then
            holder = settings[12] and redis.call('HGET', KEYS[10], tok)
        end
    elseif settings[13] and redis.call('SISMEMBER', asideKey(), tok) == 1 then
        state = 'reserved'
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
    local metadata = settings[14] and redis.call('HGET', KEYS[9], tok)
    if not holder and not metadata and not availableAt and failures == 0 and (state == 'assigned' or state == 'free') then
        return {'ok', tok, life, leaseUntil or false, lease or false, now}
    end
    return {'ok', tok, life, leaseUntil or false, lease or false, now, holder or false, metadata, state, availableAt, failures,
        state == 'disabled' and reason}
end

-- A record's state (see record), short or whole.
local function stateOf(rec)
    return rec[9] or (rec[5] and 'assigned' or 'free')
end

-- Appends the 11 fields of record(...) after its status to `into`, a short one's filled in. O(1).
local function appendRecord(into, rec)
    for i = 2, 6 do
        into[#into + 1] = rec[i]
    end
    if rec[7] == nil then
        local n = #into
        into[n + 1], into[n + 2], into[n + 3], into[n + 4], into[n + 5], into[n + 6] = false, false, stateOf(rec), false, 0, false
    else
        for i = 7, 12 do
            into[#into + 1] = rec[i]
        end
    end
end

-- record(...) of a living token as it is now: with its lease's deadline and number if a lease
-- stands. O(log n).
local function recordNow(tok, life)
    local leaseUntil, lease = currentLease(tok)
    return record(tok, life, lease and leaseUntil, lease)
end

-- The pool's counts, read at one instant, and its own settings (false where it has none):
-- {total, free, assigned, waiting, leaseTTL|false, keepAliveTTL|false, cooling, disabled,
--  cooldown|false, maxFailures|false, quarantine|false, rateAssigns|false, ratePer|false,
--  maxPerHolder|false, reserved}; TTLs, cooldown, quarantine and ratePer in ms. `reserved`
-- counts the tokens set aside for the queue's head.
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
        tonumber(settings[11]) or false,
        settings[13] and redis.call('SCARD', asideKey()) or 0,
    }
end

-- The most tokens set aside at once: the most one assign asks for (TokenPool.maxAssignCount).
local MAX_ASIDE = 100

-- The queue's head: its id and its place, or nil. O(log w).
local function queueHead()
    local head = redis.call('ZRANGE', KEYS[6], '-inf', '+inf', 'BYSCORE', 'LIMIT', 0, 1, 'WITHSCORES')
    return head[1], head[2]
end

-- Until when (ms) waiter `id`'s replica vouches for it: 0 once the replica stopped renewing
-- (stopped, stalled or cut off from Redis). A waiter stands while both this and its own `until`
-- lie ahead. O(log r) for r replicas, once a replica a call.
local function vouchedUntil(id)
    local channel = channelOf(id)
    vouched = vouched or {}
    local untilMs = vouched[channel]
    if not untilMs then
        untilMs = tonumber(redis.call('ZSCORE', replicasKey(), channel)) or 0
        vouched[channel] = untilMs
    end
    return untilMs
end

-- Replica `channel` vouches for all its waiters in this pool until `untilMs` (ms). O(log r).
local function vouch(channel, untilMs)
    redis.call('ZADD', replicasKey(), string.format('%d', untilMs), channel)
    vouched = vouched or {}
    vouched[channel] = untilMs
end

-- A waiter leaves the queue, whatever it was doing. The tokens set aside for it, when it was
-- the head that waited for several, go back to the free set: the caller serves the queue from
-- there (serve), so they go to the next in line at once. O(log w), O(N) with N set aside.
local function forget(id)
    if settings[13] and redis.call('ZSCORE', KEYS[6], id) == '0' then
        local aside = redis.call('SPOP', asideKey(), MAX_ASIDE)
        if #aside > 0 then
            redis.call('SADD', KEYS[1], unpack(aside))
        end
    end
    redis.call('ZREM', KEYS[6], id)
    redis.call('ZREM', KEYS[7], id)
    redis.call('HDEL', KEYS[8], id)
    redis.call('HDEL', wantsKey(), id)
    delist(id)
end

-- A waiter has at least this long to pick up what it is handed, even in its wait's last instant:
-- a pickup lease that ran out at once would let the next assign reclaim the token first.
local PICKUP_MS = 500

-- Hands living tokens `toks` to waiter `id`, each under a new lease that lasts until that
-- waiter's `untilMs` or PICKUP_MS, whichever is later (its pickup: `untilMs` is the earlier of
-- its wait's end and its replica's vouching, so at most 0.75 s if the replica is gone); leave.lua turns them into whole
-- leases. The waiter leaves the queue; its replica hears of it on its channel. O(N log n).
local function deliver(id, toks, untilMs)
    local pickup = math.max(untilMs, now + PICKUP_MS)
    local handed = {}
    for _, tok in ipairs(toks) do
        local lease = redis.call('INCR', KEYS[5])
        redis.call('ZADD', KEYS[2], pickup, tok)
        redis.call('HSET', KEYS[4], tok, lease)
        handed[#handed + 1] = tok .. ' ' .. lease
    end
    local text = table.concat(handed, ' ')
    redis.call('ZREM', KEYS[6], id)
    -- The waiter (and so what it was handed) stays as long as its pickup may take.
    redis.call('ZADD', KEYS[7], pickup, id)
    redis.call('HSET', KEYS[8], id, text)
    -- Sharded (to the pool's shard only) when the channel carries the pool's hash tag, as the
    -- replicas' on Redis Cluster do; else PUBLISH, which a Redis before 7 has too.
    local channel = channelOf(id)
    redis.call(string.find(channel, '{', 1, true) and 'SPUBLISH' or 'PUBLISH', channel, id .. ' ' .. text)
end

-- Pops a living token of the free set (dropping dead ones, at most 16), or nil. O(log n).
local function popLiving()
    for _ = 1, 16 do
        local tok = redis.call('SPOP', KEYS[1])
        if not tok then
            return nil
        end
        if (lifeOf(tok) or 0) > now then
            return tok
        end
        purge(tok, 'expired')
    end
    return nil
end

-- The head `id`, waiting for `want` tokens until `untilMs`, takes free tokens into the set
-- aside for it (pinned first in the queue, score 0: no later waiter of any priority passes it)
-- until it has them all, then is handed them all at once. Returns whether it was handed them.
-- O(N (log n)) for N = want.
local function collect(id, want, untilMs, pinned)
    local have = redis.call('SCARD', asideKey())
    while have < want do
        local tok = popLiving()
        if not tok then
            break
        end
        mark(13)
        redis.call('SADD', asideKey(), tok)
        have = have + 1
    end
    if have > 0 and not pinned then
        mark(13)
        redis.call('ZADD', KEYS[6], 0, id)
    end
    if have < want then
        return false
    end
    -- Tokens whose life ran out while set aside are gone; the rest are handed over together,
    -- or, one short, set aside again.
    local toks = {}
    for _, tok in ipairs(redis.call('SPOP', asideKey(), MAX_ASIDE)) do
        if (lifeOf(tok) or 0) > now then
            toks[#toks + 1] = tok
        else
            purge(tok, 'expired')
        end
    end
    if #toks < want then
        if #toks > 0 then
            redis.call('SADD', asideKey(), unpack(toks))
        end
        return false
    end
    deliver(id, toks, untilMs)
    return true
end

-- Serves the queue from the free set, first in line first: a head that wants one token is
-- handed one; a head that wants N collects them (collect) and holds what it has set aside
-- until it has N or leaves. Stops when the free set or the queue runs dry, or the head still
-- collects. Waiters past their `until` are dropped on the way (at most 16 a call), with what
-- was set aside for them. O(log n + log w) a hand-over; free tokens and waiters meet only
-- here, so a call hands out what one change freed (at most 100 set aside by a head that left;
-- at most 128 hand-overs a call, the rest at the next change).
local function serve()
    local dropped = 0
    for _ = 1, 128 do
        local id, place = queueHead()
        if not id then
            return
        end
        local untilMs = tonumber(redis.call('ZSCORE', KEYS[7], id))
        if untilMs then
            untilMs = math.min(untilMs, vouchedUntil(id))
        end
        if untilMs and untilMs > now then
            local wants = redis.call('HGET', wantsKey(), id)
            local want = tonumber(wants and string.match(wants, '^(%d+)')) or 1
            if want <= 1 then
                local tok = popLiving()
                if not tok then
                    return
                end
                deliver(id, {tok}, untilMs)
            elseif not collect(id, want, untilMs, place == '0') then
                return
            end
        else
            if dropped == 16 then
                return
            end
            dropped = dropped + 1
            forget(id)
        end
    end
end

-- A token rests until `availableAt` (ms): cooling, in no free set and no queue's hands.
local function rest(tok, availableAt)
    local at = string.format('%d', availableAt)
    mark(9)
    redis.call('ZADD', coolingKey(), at, tok)
    emit('cooling', tok .. ' 0 ' .. at)
end

-- A token becomes free while it lives: to the free set, and from there to the queue's head if
-- anyone waits (serve); or, at its rate limit's budget, it rests until the budget allows its
-- next assignment. `checked`: the caller has asked budgetEnd already.
local function free(tok, checked)
    local at = not checked and budgetEnd(tok)
    if at then
        rest(tok, at)
    else
        redis.call('SADD', KEYS[1], tok)
        -- Nobody waits, mostly: without the `queued` mark nobody has since the last reap, else
        -- ZCARD is Redis's cheapest look at the queue.
        if settings[15] and redis.call('ZCARD', KEYS[6]) > 0 then
            serve()
        end
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
        dropHolder(tok)
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
        dropHolder(tok)
    end
    redis.call('SREM', KEYS[1], tok)
    redis.call('ZREM', coolingKey(), tok)
    if settings[13] then
        redis.call('SREM', asideKey(), tok)
    end
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
        mark(12)
        redis.call('HINCRBY', heldKey(), holder, 1)
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

-- Waiter `id` leaves the queue. Returns the tokens handed to it and their leases' numbers
-- while the hand-over stands (all of them), else nil: nothing handed, its place taken by a
-- retry ('taken'), or the hand-over ran out, or one of its tokens went on (deleted, or its
-- pickup lapsed): then the others go on too (all or nothing). O(N (log n + log w)).
local function leaveWith(id)
    local handed = redis.call('HGET', KEYS[8], id)
    forget(id)
    local toks, numbers, standing = {}, {}, {}
    for tok, number in string.gmatch(handed or '', '(%S+) (%d+)') do
        toks[#toks + 1], numbers[#numbers + 1] = tok, tonumber(number)
        standing[#standing + 1] = tonumber(redis.call('HGET', KEYS[4], tok)) == tonumber(number)
    end
    if #toks == 0 then
        -- What was set aside for it, if it was collecting, goes to the next in line.
        if settings[13] then
            serve()
        end
        return nil
    end
    for i = 1, #toks do
        if not standing[i] then
            -- Handed over but never used: no rest, to the next in line.
            for j = 1, #toks do
                if standing[j] then
                    release(toks[j], lifeOf(toks[j]), 'unblocked', nil, 0)
                end
            end
            serve()
            return nil
        end
    end
    return toks, numbers
end

-- The idempotency record's text of several assignments: 'TOKEN LEASE TOKEN LEASE...'.
local function leasesText(records)
    local parts = {}
    for _, rec in ipairs(records) do
        parts[#parts + 1] = rec[2] .. ' ' .. string.format('%d', rec[5])
    end
    return table.concat(parts, ' ')
end

-- The reply of several assignments at once: {'many', then the 11 fields of each record(...)
-- after its status}.
local function many(records)
    local reply = {'many'}
    for _, rec in ipairs(records) do
        appendRecord(reply, rec)
    end
    return reply
end

-- Picks up the tokens handed to waiter `id`, if any: whole leases from now for `holder`, and
-- the waiter leaves. Returns record(...) of one token, many(...) of several, or nil (see
-- leaveWith; a token whose life ran out meanwhile: the others go on, nil). With `idem`, the
-- assignments are remembered there. O(N (log n + log w)).
local function pickUp(id, leaseTTL, holder, idem, idemTTL)
    local toks, numbers = leaveWith(id)
    if not toks then
        return nil
    end
    local lives = {}
    for i, tok in ipairs(toks) do
        lives[i] = lifeOf(tok)
        if not lives[i] or lives[i] <= now then
            for j, other in ipairs(toks) do
                if j ~= i and (lifeOf(other) or 0) > now then
                    release(other, lifeOf(other), 'unblocked', nil, 0)
                end
            end
            if lives[i] then
                purge(tok, 'expired')
            end
            serve()
            return nil
        end
    end
    if #toks == 1 then
        return grant(toks[1], lives[1], leaseTTL, numbers[1], holder, idem, idemTTL)
    end
    local records = {}
    for i, tok in ipairs(toks) do
        records[i] = grant(tok, lives[i], leaseTTL, numbers[i], holder)
    end
    if idem then
        redis.call('HSET', idem, 'tokens', leasesText(records), 'count', #records)
        redis.call('PEXPIRE', idem, idemTTL)
    end
    return many(records)
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
