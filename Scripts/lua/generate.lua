-- generate.lua: add new tokens to the pool as free (to the queue's waiters first), each living keep-alive TTL from now; with
-- an Idempotency-Key, claim, replay or record in the same step. Needs prelude.lua (KEYS 1-8).
--
-- KEYS[9] (optional) the Idempotency-Key's record, tokenpool:{pool}:idem:generate:KEY: a list,
--         its state ('pending' while a batch of several calls runs, then 'done') and the tokens made
-- ARGV[1] keep-alive TTL in ms
-- ARGV[2] (with KEYS[9]) how long the record answers, in ms
-- ARGV[3] (with KEYS[9]) 'first' for a batch's first call, 'next' for the others
-- ARGV[4] (with KEYS[9]) 'done' on a batch's last call, 'pending' before
-- ARGV[5..] the new tokens (the caller draws them from a CSPRNG)
--
-- Returns {'ok', expiresAt, now, collided...}: a token already in the pool is left as it is and
-- listed, for the caller to replace. With KEYS[9], on a first call: {'replay', now, token,
-- expiresAt, ...} with the earlier call's tokens still alive, or {'busy'} while that call is
-- still running. A record whose tokens are all gone is a new call.
-- Complexity: O(m (log n + log w)) for m tokens (m <= 1000 a call; a replay reads at most 10000).
--
--   redis-cli --eval <(cat prelude.lua generate.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' , 300000 0 - - TOKEN1 TOKEN2
local life = now + tonumber(ARGV[1])

if KEYS[9] and ARGV[3] == 'first' then
    local state = redis.call('LINDEX', KEYS[9], 0)
    if state == 'pending' then
        return {'busy'}
    end
    if state == 'done' then
        local result = {'replay', now}
        for _, tok in ipairs(redis.call('LRANGE', KEYS[9], 1, -1)) do
            local alive = lifeOf(tok)
            if alive and alive > now then
                result[#result + 1] = tok
                result[#result + 1] = alive
            end
        end
        if #result > 2 then
            return result
        end
        redis.call('UNLINK', KEYS[9])
    end
end

local result = {'ok', life, now}
local made = {}
for i = 5, #ARGV do
    local tok = ARGV[i]
    if redis.call('ZADD', KEYS[3], 'NX', life, tok) == 1 then
        free(tok)
        made[#made + 1] = tok
    else
        result[#result + 1] = tok
    end
end

if KEYS[9] then
    if redis.call('EXISTS', KEYS[9]) == 0 then
        redis.call('RPUSH', KEYS[9], ARGV[4])
    end
    if #made > 0 then
        redis.call('RPUSH', KEYS[9], unpack(made))
    end
    redis.call('LSET', KEYS[9], 0, ARGV[4])
    redis.call('PEXPIRE', KEYS[9], ARGV[2])
end
return result
