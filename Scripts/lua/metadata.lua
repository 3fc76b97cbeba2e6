-- metadata.lua: replace a token's metadata, or remove it. Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] token
-- ARGV[2] the new metadata, a JSON object's text (the caller checked it), or '' to remove it
--
-- Returns record(...) (see prelude.lua) | {'not_found'}. Its lease and life stay as they are.
-- Complexity: O(log n).
--
--   redis-cli --eval <(cat prelude.lua metadata.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , TOKEN '{"proxy":"10.0.0.7:3128"}'
begin()
local tok = ARGV[1]
local life, leaseUntil, current, refusal = openToken(tok, '')
if refusal then
    return refusal
end
if ARGV[2] == '' then
    redis.call('HDEL', KEYS[9], tok)
else
    mark(14)
    redis.call('HSET', KEYS[9], tok, ARGV[2])
end
return record(tok, life, current and leaseUntil, current)
