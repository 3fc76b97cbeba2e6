-- generate.lua: add new tokens to the pool as free, each living keep-alive TTL from now.
--
-- KEYS[1] free  KEYS[2] leases  KEYS[3] alive  KEYS[4] lease  KEYS[5] seq   (as in assign.lua)
-- ARGV[1] keep-alive TTL in ms
-- ARGV[2..] the new tokens (the caller draws them from a CSPRNG)
--
-- Returns {'ok', expiresAt, collided...}: a token already in the pool is left as it is and
-- listed after expiresAt, for the caller to replace. Complexity: O(m log n) for m tokens.
--
--   redis-cli --eval generate.lua 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' , 300000 TOKEN1 TOKEN2
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local life = now + tonumber(ARGV[1])

local result = {'ok', life}
for i = 2, #ARGV do
    local tok = ARGV[i]
    if redis.call('ZADD', KEYS[3], 'NX', life, tok) == 1 then
        redis.call('SADD', KEYS[1], tok)
    else
        result[#result + 1] = tok
    end
end
return result
