-- delete.lua: remove a token from the pool for good. Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] token
-- ARGV[2] (optional) the name of the API key that asked, for the event's `by`, or ''
--
-- Returns {'ok'} | {'not_found'} (unknown, or already past its life). Complexity: O(log n).
--
--   redis-cli --eval <(cat prelude.lua delete.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , TOKEN ''
begin()
changedBy(ARGV[2])
local tok = ARGV[1]

local life = lifeOf(tok)
if not life then
    return {'not_found'}
end
purge(tok, life > now and 'deleted' or 'expired')
if life <= now then
    return {'not_found'}
end
return {'ok'}
