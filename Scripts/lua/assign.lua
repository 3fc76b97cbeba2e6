-- assign.lua: hand out COUNT random free tokens (one, unless asked for more), each under a new
-- lease, all or none; or, for a waiting assign with too few free, join the pool's queue.
-- Needs prelude.lua (KEYS 1-12).
--
-- KEYS[13] (optional) the Idempotency-Key's record, tokenpool:{pool}:idem:assign:KEY
-- ARGV[1] lease TTL in ms, the replica's default: the pool's own setting wins (see ttl in prelude.lua);
--         also how long an Idempotency-Key's record answers (with KEYS[13])
-- ARGV[2] at most this many lapsed leases are returned to the free set first
-- ARGV[3] at most this many dead tokens are popped and dropped before giving up
-- ARGV[4] a waiter id, 'CHANNEL#N', or '' or absent for none: with too few free, join the queue under it...
-- ARGV[5] ...for this many ms...
-- ARGV[6] ...standing this many ms unless its replica vouches for it again (renew.lua)
-- ARGV[7] who holds the tokens assigned (kept while the lease stands); '' or absent for nobody
-- ARGV[8] how many tokens (1..100; '' or absent: 1)
-- ARGV[9] the waiter's priority (-100..100; '' or absent: 0): higher is served first
--
-- TokenPool builds ARGV from AssignCall (PoolScript.swift), one named field a position.
--
-- Returns record(...) (see prelude.lua) for one token | many(...) for several | {'empty'} |
-- {'retry'} ('retry': only dead tokens were popped; calling again makes progress) |
-- {'key_reused', count}: KEYS[13] records a call that asked for `count` tokens, not COUNT |
-- {'holder_limit', held, maxPerHolder}: the holder holds `held` tokens, and COUNT more would
-- pass the pool's maxPerHolder (never queued) | {'queued', waitUntil, now}: the waiter is in the queue; the
-- tokens freed for it are published on its channel (see serve in prelude.lua).
-- With KEYS[13], the assignments made are recorded there; a later call with the same key gets
-- them back, with their current deadlines, for as long as they stand (those of several that
-- still stand; not unblocked, lapsed or deleted) and the record lives. So one key holds at most
-- one live assignment. A waiting call with a key is recorded too: a retry picks up the tokens
-- handed to the earlier call, or takes its place in the queue (and what was set aside for it);
-- never two places, never two hand-overs.
-- Complexity: O((k + p + N) log n + log w), k <= ARGV[2] lapsed leases, p <= ARGV[3] pops, N = COUNT.
--
--   redis-cli --eval <(cat prelude.lua assign.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , 60000 16 32
begin()
local leaseTTL = ttl('leaseTTL', ARGV[1])
local holder = ARGV[7] or ''
local idem = KEYS[13]
local idemTTL = idem and tonumber(ARGV[1])
local waiter = ARGV[4]
if waiter == '' then
    waiter = nil
end
local count = tonumber(ARGV[8] or '') or 1
local priority = tonumber(ARGV[9] or '') or 0

-- A place in the queue: higher priority first, then the order Redis saw them join.
local PRIORITY_STEP = 17592186044416 -- 2^44: room for 2^44 tickets, and 201 priorities below 2^53

-- Queues `id` at `place` until ARGV[5] ms from now, its replica vouching for it (and all its
-- waiters here) for ARGV[6] ms; `since`: when it first joined (ms). If it is the head and wants
-- several, what is free is set aside for it.
local function enqueue(id, place, since)
    local waitUntil = now + tonumber(ARGV[5])
    local channel = channelOf(id)
    mark(15)
    redis.call('ZADD', KEYS[6], place, id)
    redis.call('ZADD', KEYS[7], waitUntil, id)
    enlist(id)
    vouch(channel, now + tonumber(ARGV[6]))
    local wants = string.format('%d %d %s %d', count, priority, since, waitUntil)
    redis.call('HSET', wantsKey(), id, holder ~= '' and (wants .. ' ' .. holder) or wants)
    if idem then
        redis.call('HSET', idem, 'waiter', id, 'count', count)
        redis.call('PEXPIRE', idem, idemTTL + tonumber(ARGV[5]))
    end
    if count > 1 then
        serve()
    end
    return {'queued', waitUntil, now}
end

-- A new place at the back of its priority.
local function newPlace()
    return string.format('%d', (100 - priority) * PRIORITY_STEP + redis.call('INCR', KEYS[5]))
end

-- The same Idempotency-Key again.
if idem then
    local saved = redis.call('HMGET', idem, 'token', 'lease', 'waiter', 'tokens', 'count')
    local tok, lease, earlier, several = saved[1], tonumber(saved[2]), saved[3], saved[4]
    -- The key names one request: a retry asking for another count is not a retry.
    local asked = tonumber(saved[5]) or 1
    if (tok or earlier or several) and asked ~= count then
        return {'key_reused', asked}
    end
    -- While the assignment it made stands, answer with it.
    if tok then
        local life = lifeOf(tok)
        local leaseUntil, current = currentLease(tok)
        if life and life > now and current and current == lease then
            return record(tok, life, leaseUntil, lease)
        end
    end
    -- Several: those that still stand.
    if several then
        local records = {}
        for t, number in string.gmatch(several, '(%S+) (%d+)') do
            local life = lifeOf(t)
            local leaseUntil, current = currentLease(t)
            if life and life > now and current and current == tonumber(number) then
                records[#records + 1] = record(t, life, leaseUntil, current)
            end
        end
        if #records > 0 then
            return many(records)
        end
    end
    if earlier and earlier ~= waiter then
        local place = redis.call('ZSCORE', KEYS[6], earlier)
        if place and waiter then
            -- Still queued: this call takes its place (and what was set aside for it). The earlier
            -- call, if its replica still waits on it, hears 'taken' (renew.lua) and stops; the
            -- mark goes with the waiter's `until` (reap.lua).
            local wants = redis.call('HGET', wantsKey(), earlier)
            local since = wants and string.match(wants, '^%S+ %S+ (%d+)') or nowText
            redis.call('ZREM', KEYS[6], earlier)
            redis.call('HDEL', wantsKey(), earlier)
            redis.call('HSET', KEYS[8], earlier, 'taken')
            return enqueue(waiter, place, since)
        end
        -- Handed over: the tokens handed to it are this call's.
        local picked = pickUp(earlier, leaseTTL, holder, idem, idemTTL)
        if picked then
            return picked
        end
    end
end

-- Lapsed leases end (to the queue's head, or the free set) at each reap pass, and here, so that a
-- lapsed token is reusable at once: before taking several, and, for one, when nothing else is
-- free (the ZRANGE would cost each assign of a pool with free tokens a command for nothing).
if count > 1 then
    endLapsed(ARGV[2])
end
-- So do rests and quarantines that are over: a token whose rest ended is assignable now.
endResting(ARGV[2])
-- And what was set aside for a head that has left goes on.
if settings[13] then
    serve()
end

-- A cap per holder: never more than the pool's maxPerHolder held by one named holder (leases
-- that lapsed count no more: they ended above).
if holder ~= '' and settings[11] then
    local held = tonumber(redis.call('HGET', heldKey(), holder)) or 0
    if held + count > tonumber(settings[11]) then
        return {'holder_limit', held, tonumber(settings[11])}
    end
end

if count == 1 then
    local lapsedEnded = false
    for _ = 1, tonumber(ARGV[3]) do
        local tok = redis.call('SPOP', KEYS[1])
        if not tok and not lapsedEnded then
            lapsedEnded = true
            if endLapsed(ARGV[2]) > 0 then
                tok = redis.call('SPOP', KEYS[1])
            end
        end
        if not tok then
            if waiter then
                return enqueue(waiter, newPlace(), nowText)
            end
            return {'empty'}
        end
        local life = lifeOf(tok)
        if life and life > now then
            return grant(tok, life, leaseTTL, redis.call('INCR', KEYS[5]), holder, idem, idemTTL)
        end
        -- Its life ran out before the reaper got to it: it is never served again.
        purge(tok, 'expired')
    end
    return {'retry'}
end

-- Several: all or none. Popped tokens that live are kept aside here until there are COUNT.
local taken, lives = {}, {}
local function putBack()
    if #taken > 0 then
        redis.call('SADD', KEYS[1], unpack(taken))
    end
end
for _ = 1, tonumber(ARGV[3]) do
    local need = count - #taken
    -- The queue goes first: with anyone waiting, nothing free is for a newcomer.
    if redis.call('SCARD', KEYS[1]) < need or redis.call('ZCARD', KEYS[6]) > 0 then
        putBack()
        if waiter then
            return enqueue(waiter, newPlace(), nowText)
        end
        return {'empty'}
    end
    for _, tok in ipairs(redis.call('SPOP', KEYS[1], need)) do
        local life = lifeOf(tok)
        if life and life > now then
            lives[#taken + 1] = life
            taken[#taken + 1] = tok
        else
            purge(tok, 'expired')
        end
    end
    if #taken == count then
        local records = {}
        for i, tok in ipairs(taken) do
            records[i] = grant(tok, lives[i], leaseTTL, redis.call('INCR', KEYS[5]), holder)
        end
        if idem then
            redis.call('HSET', idem, 'tokens', leasesText(records), 'count', count)
            redis.call('PEXPIRE', idem, idemTTL)
        end
        return many(records)
    end
end
putBack()
return {'retry'}
