-- prelude.lua: what every script of TokenPool shares, written once. The EmbedTextFiles plugin
-- puts it in front of each script when it embeds them; by hand, so does
--
--   redis-cli --eval <(cat prelude.lua SCRIPT.lua) KEYS... , ARGV...
--
-- Every script takes a pool's keys in this order (all share the {pool} hash tag):
-- KEYS[1] free    set     tokens that may be assigned
-- KEYS[2] leases  zset    assigned token -> lease deadline (ms since epoch, Redis clock)
-- KEYS[3] alive   zset    every token -> life deadline (ms)
-- KEYS[4] lease   hash    assigned token -> lease number (fencing token)
-- KEYS[5] seq     string  the pool's lease counter (INCR)

-- Redis's clock in ms since the epoch: the only clock a script reads.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- The token's life deadline, or nil for a token the pool does not know.
local function lifeOf(tok)
    return tonumber(redis.call('ZSCORE', KEYS[3], tok))
end

-- Removes a token from every key of the pool. O(log n).
local function purge(tok)
    redis.call('ZREM', KEYS[3], tok)
    redis.call('SREM', KEYS[1], tok)
    redis.call('ZREM', KEYS[2], tok)
    redis.call('HDEL', KEYS[4], tok)
end

-- The token's lease: its deadline (nil if it has none, even a lapsed one) and its number
-- (nil unless the lease still stands). O(log n).
local function currentLease(tok)
    local leaseUntil = tonumber(redis.call('ZSCORE', KEYS[2], tok))
    if leaseUntil and leaseUntil > now then
        return leaseUntil, tonumber(redis.call('HGET', KEYS[4], tok))
    end
    return leaseUntil, nil
end

-- Ends a lease, lapsed or given back: the token is free again while it lives, gone after. O(log n).
local function release(tok, life)
    redis.call('ZREM', KEYS[2], tok)
    redis.call('HDEL', KEYS[4], tok)
    if life and life > now then
        redis.call('SADD', KEYS[1], tok)
    else
        redis.call('ZREM', KEYS[3], tok)
    end
end

-- Opens a token for a keep-alive or an unblock: its life, lease deadline and current lease
-- number, or, as the fourth value, the refusal to answer with: {'not_found'} for a token the
-- pool does not know or one past its life (purged on the spot), {'conflict'} when `expected`
-- (a lease number, or '' for any) is not the current lease. A refusal changes nothing else.
local function openToken(tok, expected)
    local life = lifeOf(tok)
    if not life then
        return nil, nil, nil, {'not_found'}
    end
    if life <= now then
        purge(tok)
        return nil, nil, nil, {'not_found'}
    end
    local leaseUntil, current = currentLease(tok)
    if expected ~= '' and tonumber(expected) ~= current then
        return nil, nil, nil, {'conflict'}
    end
    return life, leaseUntil, current, nil
end

-- The reply of every operation on one token:
-- {'ok', token, expiresAt, leaseExpiresAt|false, lease|false, now}. `now` lets a client
-- count durations (leaseExpiresAt - now) without comparing its clock with Redis's.
local function record(tok, life, leaseUntil, lease)
    return {'ok', tok, life, leaseUntil or false, lease or false, now}
end

