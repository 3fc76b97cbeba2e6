-- disable.lua: take a token out of service, by hand: its assignment ends and it is never
-- assigned until enabled; its metadata and life stay (it still dies without keep-alive).
-- Disabling a disabled token again replaces its reason and ends any quarantine (by hand wins).
-- Needs prelude.lua (KEYS 1-12).
--
-- KEYS[13] (optional) the Idempotency-Key's record: a retry of a call that went through answers
--         the token as it is now, without checking the lease (which that call ended) again
-- ARGV[1] token
-- ARGV[2] expected lease number, or '' for any (see unblock.lua)
-- ARGV[3] why, 1..256 characters, or '' for no reason given
-- ARGV[4] (with KEYS[13]) how long the record answers, in ms
-- ARGV[5] (optional) the name of the API key that asked, for the event's `by`, or ''
--
-- Returns record(...) (see prelude.lua) | {'not_found'} | {'conflict'}. A conflict changes
-- nothing. Complexity: O(log n).
--
--   redis-cli --eval <(cat prelude.lua disable.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , TOKEN '' 'proxy refuses connections'
begin()
changedBy(ARGV[5])
local tok = ARGV[1]
local idem = KEYS[13]
if idem and redis.call('GET', idem) == tok then
    local life = lifeOf(tok)
    if life and life > now then
        return recordNow(tok, life)
    end
end
local life, _, _, refusal = openToken(tok, ARGV[2])
if refusal then
    return refusal
end
disable(tok, nil, ARGV[3], (healthOf(tok)))
if idem then
    redis.call('SET', idem, tok, 'PX', ARGV[4])
end
return record(tok, life)
