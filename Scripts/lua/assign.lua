-- assign.lua: hand out one random free token under a new lease, or, for a waiting assign with
-- none free, join the pool's queue. Needs prelude.lua (KEYS 1-12).
--
-- KEYS[13] (optional) the Idempotency-Key's record, tokenpool:{pool}:idem:assign:KEY
-- ARGV[1] lease TTL in ms, the replica's default: the pool's own setting wins (see ttl in prelude.lua);
--         also how long an Idempotency-Key's record answers (with KEYS[13])
-- ARGV[2] at most this many lapsed leases are returned to the free set first
-- ARGV[3] at most this many dead tokens are popped and dropped before giving up
-- ARGV[4] a waiter id, 'CHANNEL#N', or '' or absent for none: with none free, join the queue under it...
-- ARGV[5] ...for this many ms...
-- ARGV[6] ...and at most this many ms before its replica renews it (renew.lua)
-- ARGV[7] who holds the token assigned (kept while the lease stands); '' or absent for nobody
--
-- TokenPool builds ARGV from AssignCall (ScriptCalls.swift), one named field a position.
--
-- Returns record(...) (see prelude.lua) | {'empty'} | {'retry'} ('retry': only dead tokens
-- were popped; calling again makes progress) | {'queued', waitUntil, now}: the waiter is in the
-- queue; the token freed for it is published on its channel (see handOver in prelude.lua).
-- With KEYS[13], the assignment made is recorded there (token, lease); a later call with the
-- same key gets that assignment back, with its current deadlines, for as long as it stands
-- (not unblocked, lapsed or deleted) and the record lives. So one key holds at most one live
-- assignment. A waiting call with a key is recorded too: a retry picks up the token handed to
-- the earlier call, or takes its place in the queue; never two places, never two tokens.
-- Complexity: O((k + p) log n + log w), k <= ARGV[2] lapsed leases, p <= ARGV[3] pops.
--
--   redis-cli --eval <(cat prelude.lua assign.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , 60000 16 32
begin()
local leaseTTL = ttl('leaseTTL', ARGV[1])
local holder = ARGV[7]
local idem = KEYS[13]
local idemTTL = idem and tonumber(ARGV[1])
local waiter = ARGV[4]
if waiter == '' then
    waiter = nil
end

-- Queues `id` under `ticket` until ARGV[5] ms from now (renewed every ARGV[6] ms at least).
local function enqueue(id, ticket)
    local waitUntil = now + tonumber(ARGV[5])
    redis.call('ZADD', KEYS[6], ticket, id)
    redis.call('ZADD', KEYS[7], math.min(waitUntil, now + tonumber(ARGV[6])), id)
    if idem then
        redis.call('HSET', idem, 'waiter', id)
        redis.call('PEXPIRE', idem, idemTTL + tonumber(ARGV[5]))
    end
    return {'queued', waitUntil, now}
end

-- The same Idempotency-Key again.
if idem then
    local saved = redis.call('HMGET', idem, 'token', 'lease', 'waiter')
    local tok, lease, earlier = saved[1], tonumber(saved[2]), saved[3]
    -- While the assignment it made stands, answer with it.
    if tok then
        local life = lifeOf(tok)
        local leaseUntil, current = currentLease(tok)
        if life and life > now and current and current == lease then
            return record(tok, life, leaseUntil, lease)
        end
    end
    -- An earlier call waited: the token handed to it is this call's; else its place in the queue is.
    if earlier and earlier ~= waiter then
        local ticket = redis.call('ZSCORE', KEYS[6], earlier)
        local untilMs = redis.call('ZSCORE', KEYS[7], earlier)
        local picked = pickUp(earlier, leaseTTL, holder, idem, idemTTL)
        if picked then
            return picked
        end
        if ticket and waiter then
            -- The earlier call, if its replica still waits on it, hears 'taken' (renew.lua) and
            -- stops; the mark goes with the waiter's `until` (reap.lua).
            if untilMs then
                redis.call('ZADD', KEYS[7], untilMs, earlier)
                redis.call('HSET', KEYS[8], earlier, 'taken')
            end
            return enqueue(waiter, ticket)
        end
    end
end

-- Lapsed leases end first (to the queue's head, or the free set), so a lapsed token is reusable at once.
endLapsed(ARGV[2])
-- So do rests and quarantines that are over: a token whose rest ended is assignable now.
endResting(ARGV[2])

for _ = 1, tonumber(ARGV[3]) do
    local tok = redis.call('SPOP', KEYS[1])
    if not tok then
        if waiter then
            return enqueue(waiter, redis.call('INCR', KEYS[5]))
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
