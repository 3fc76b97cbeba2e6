-- unblock.lua: make an assigned token free again. Unblocking a free token is a no-op.
-- Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] token
-- ARGV[2] expected lease number, or '' for any. When given it must be the current lease:
--         a free token (or one whose lease lapsed) has none, so that is a conflict too.
--
-- Returns record(...) of the free token (see prelude.lua) | {'not_found'} | {'conflict'}.
-- A conflict changes nothing. Complexity: O(log n).
--
--   redis-cli --eval <(cat prelude.lua unblock.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , TOKEN ''
begin()
local tok = ARGV[1]
-- Past its life a token is gone for good, whatever the reaper has done so far.
local life, leaseUntil, current, refusal, currentText = openToken(tok, ARGV[2])
if refusal then
    return refusal
end
if leaseUntil then
    release(tok, life, 'unblocked', currentText)
end
return record(tok, life)
