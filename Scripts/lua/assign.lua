-- assign.lua: hand out one random free token under a new lease. Needs prelude.lua (KEYS 1-5).
--
-- KEYS[6] (optional) the Idempotency-Key's record, tokenpool:{pool}:idem:assign:KEY
-- ARGV[1] lease TTL in ms
-- ARGV[2] at most this many lapsed leases are returned to the free set first
-- ARGV[3] at most this many dead tokens are popped and dropped before giving up
-- ARGV[4] (with KEYS[6]) how long the record answers for the first call, in ms
--
-- Returns record(...) (see prelude.lua) | {'empty'} | {'retry'} ('retry': only dead tokens
-- were popped; calling again makes progress). With KEYS[6], the assignment made is recorded
-- there (token, lease); a later call with the same key gets that assignment back, with its
-- current deadlines, for as long as it stands (not unblocked, lapsed or deleted) and the
-- record lives. So one key holds at most one live assignment.
-- Complexity: O((k + p) log n), k <= ARGV[2] lapsed leases, p <= ARGV[3] pops.
--
--   redis-cli --eval <(cat prelude.lua assign.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' , 60000 16 32
local leaseTTL = tonumber(ARGV[1])

-- The same Idempotency-Key again: while the assignment it made stands, answer with it.
if KEYS[6] then
    local saved = redis.call('HMGET', KEYS[6], 'token', 'lease')
    local tok, lease = saved[1], tonumber(saved[2])
    if tok then
        local life = lifeOf(tok)
        local leaseUntil, current = currentLease(tok)
        if life and life > now and current and current == lease then
            return record(tok, life, leaseUntil, lease)
        end
    end
end

-- Lapsed leases go back to the free set first, so a lapsed token is reusable at once.
local lapsed = redis.call('ZRANGE', KEYS[2], '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
for _, tok in ipairs(lapsed) do
    release(tok, lifeOf(tok))
end

for _ = 1, tonumber(ARGV[3]) do
    local tok = redis.call('SPOP', KEYS[1])
    if not tok then
        return {'empty'}
    end
    local life = lifeOf(tok)
    if life and life > now then
        local lease = redis.call('INCR', KEYS[5])
        local leaseUntil = now + leaseTTL
        redis.call('ZADD', KEYS[2], leaseUntil, tok)
        redis.call('HSET', KEYS[4], tok, lease)
        if KEYS[6] then
            redis.call('HSET', KEYS[6], 'token', tok, 'lease', lease)
            redis.call('PEXPIRE', KEYS[6], ARGV[4])
        end
        return record(tok, life, leaseUntil, lease)
    end
    -- Its life ran out before the reaper got to it: it is never served again.
    purge(tok)
end
return {'retry'}
