-- inspect.lua: read one token's state without changing anything. Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] token
--
-- Returns record(...) (see prelude.lua) | {'not_found'}. A token past its life is not found;
-- one whose lease lapsed is free. Complexity: O(log n).
--
--   redis-cli --eval <(cat prelude.lua inspect.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , TOKEN
begin()
local tok = ARGV[1]

local life = lifeOf(tok)
if not life or life <= now then
    return {'not_found'}
end
return recordNow(tok, life)
