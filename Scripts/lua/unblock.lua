-- unblock.lua: end a token's assignment, with a report of how it went; the token rests first
-- when asked to or when its pool says so. Unblocking a token with no lease is a no-op.
-- Needs prelude.lua (KEYS 1-12).
--
-- ARGV[1] token
-- ARGV[2] expected lease number, or '' for any. When given it must be the current lease:
--         a free token (or one whose lease lapsed) has none, so that is a conflict too.
-- ARGV[3] cooldown in ms (> 0): the token is cooling that long; '' or absent: the pool's cooldown
-- ARGV[4] outcome: 'success' (clears the token's failures), 'failure' (counts one: the pool's
--         maxFailures-th in a row disables it), or '' or absent: no report. Only a standing
--         lease's end reports; a lapsed one is neither.
--
-- Returns record(...) of the token after (see prelude.lua) | {'not_found'} | {'conflict'}.
-- A conflict changes nothing. Complexity: O(log n).
--
--   redis-cli --eval <(cat prelude.lua unblock.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' \
--     'tokenpool:{default}:meta' 'tokenpool:{default}:holder' 'tokenpool:{default}:settings' 'tokenpool:{default}:events' , TOKEN '' 30000 failure
begin()
local tok = ARGV[1]
-- Past its life a token is gone for good, whatever the reaper has done so far.
local life, leaseUntil, current, refusal, currentText = openToken(tok, ARGV[2])
if refusal then
    return refusal
end
if leaseUntil then
    if current and report(tok, ARGV[4] or '') then
        -- Its failures disabled it: no rest, no free set.
        return record(tok, life)
    end
    release(tok, life, 'unblocked', currentText, tonumber(ARGV[3] or ''))
end
return record(tok, life)
