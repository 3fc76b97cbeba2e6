-- generate.lua: add new tokens to the pool as free (to the queue's waiters first), each living keep-alive TTL from now; with
-- an Idempotency-Key, claim, replay or record in the same step. Needs prelude.lua (KEYS 1-12).
--
-- KEYS[13] (optional) the Idempotency-Key's record, tokenpool:{pool}:idem:generate:KEY: a list,
--         its state ('pending' while a batch of several calls runs, then 'done') and the tokens made
-- ARGV[1] keep-alive TTL in ms, the replica's default (the pool's own setting wins)
-- ARGV[2] (with KEYS[13]) how long the record answers, in ms
-- ARGV[3] (with KEYS[13]) 'first' for a batch's first call, 'next' for the others
-- ARGV[4] (with KEYS[13]) 'done' on a batch's last call, 'pending' before
-- ARGV[5] the name of the API key that asked, for the event's `by`, or ''
-- ARGV[6] metadata: 'none'; 'shared', ARGV[7] one JSON object's text for every token; or
--         'each', each token followed by its own JSON object's text
-- ARGV[7..] or ARGV[8..] the new tokens (the caller draws them from a CSPRNG), as ARGV[6] says
--
-- Returns {'ok', expiresAt, now, wasEmpty, collided...}: wasEmpty is 1 when the pool had no
-- token before (the caller lists it among the pools again: it may have been deleted); a token
-- already in the pool is left as it is and listed, for the caller to replace. With KEYS[13], on
-- a first call: {'replay', now, token, expiresAt, metadata|false, ...} with the earlier call's
-- tokens still alive, or {'busy'} while that call is still running. A record whose tokens are
-- all gone is a new call.
-- Complexity: O(m (log n + log w)) for m tokens (m <= 1000 a call; a replay reads at most 10000).
--
--   redis-cli --eval <(cat prelude.lua generate.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , 300000 0 - - '' none TOKEN1 TOKEN2
begin()
changedBy(ARGV[5])
local life = now + ttl('keepAliveTTL', ARGV[1])

if KEYS[13] and ARGV[3] == 'first' then
    local state = redis.call('LINDEX', KEYS[13], 0)
    if state == 'pending' then
        return {'busy'}
    end
    if state == 'done' then
        local result = {'replay', now}
        for _, tok in ipairs(redis.call('LRANGE', KEYS[13], 1, -1)) do
            local alive = lifeOf(tok)
            if alive and alive > now then
                result[#result + 1] = tok
                result[#result + 1] = alive
                result[#result + 1] = settings[14] and redis.call('HGET', KEYS[9], tok)
            end
        end
        if #result > 2 then
            return result
        end
        redis.call('UNLINK', KEYS[13])
    end
end

local result = {'ok', life, now, redis.call('EXISTS', KEYS[3]) == 0 and 1 or 0}
local made = {}
local mode = ARGV[6]
local first, step = 7, 1
if mode == 'shared' then
    first = 8
elseif mode == 'each' then
    step = 2
end
if mode ~= 'none' then
    mark(14)
end
for i = first, #ARGV, step do
    local tok = ARGV[i]
    if redis.call('ZADD', KEYS[3], 'NX', life, tok) == 1 then
        if mode == 'shared' then
            redis.call('HSET', KEYS[9], tok, ARGV[7])
        elseif mode == 'each' and ARGV[i + 1] ~= '' then
            redis.call('HSET', KEYS[9], tok, ARGV[i + 1])
        end
        free(tok)
        made[#made + 1] = tok
    else
        result[#result + 1] = tok
    end
end

if #made > 0 then
    emit('generated', #made)
end

if KEYS[13] then
    if redis.call('EXISTS', KEYS[13]) == 0 then
        redis.call('RPUSH', KEYS[13], ARGV[4])
    end
    if #made > 0 then
        redis.call('RPUSH', KEYS[13], unpack(made))
    end
    redis.call('LSET', KEYS[13], 0, ARGV[4])
    redis.call('PEXPIRE', KEYS[13], ARGV[2])
end
return result
