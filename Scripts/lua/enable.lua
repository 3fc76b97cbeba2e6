-- enable.lua: put a disabled token back in service: free (the queue's first waiter gets it
-- first), its failures and reason cleared. A token that is not disabled is left as it is.
-- Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] token
-- ARGV[2] (optional) the name of the API key that asked, for the event's `by`, or ''
--
-- Returns record(...) (see prelude.lua) | {'not_found'}. Complexity: O(log n + log w).
--
--   redis-cli --eval <(cat prelude.lua enable.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , TOKEN
begin()
changedBy(ARGV[2])
local tok = ARGV[1]
local life, _, _, refusal = openToken(tok, '')
if refusal then
    return refusal
end
if redis.call('ZREM', disabledKey(), tok) == 1 then
    redis.call('HDEL', healthKey(), tok)
    comeBack(tok, 'enabled')
end
return recordNow(tok, life)
