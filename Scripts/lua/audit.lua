-- audit.lua: appends one entry to the audit trail and trims what is past its keeping. Not a
-- pool's script: prelude.lua is loaded with it but unused.
--
-- KEYS[1] the audit stream; each entry's id is Redis's clock (ms) when it was written
-- ARGV[1] the most entries kept, about (MAXLEN ~: whole nodes of about 100 entries at a time)
-- ARGV[2] how long an entry is kept, ms (MINID ~ of the oldest id to keep)
-- ARGV[3..] the entry: field, value, field, value...
--
-- Returns the new entry's id. O(1) amortized: trimming frees whole nodes.
--
--   redis-cli --eval audit.lua 'tokenpool:audit' , 100000 2592000000 key ops method DELETE route /pools/{pool} status 204
local fields = {}
for i = 3, #ARGV do
    fields[#fields + 1] = ARGV[i]
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
local ms = tonumber(string.match(id, '^(%d+)'))
redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%d', ms - tonumber(ARGV[2])))
return id
