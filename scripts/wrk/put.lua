-- put.lua -- PUT /kv/{key} with a value of VALUE_BYTES bytes (default 100),
-- every key written once (a blind write: no X-Context, and no key is
-- written twice, so no siblings pile up). Keys are PREFIX followed by a
-- 12-digit sequence number; the THREADS threads (pass wrk's -t) interleave
-- the numbers: thread t writes t, t+THREADS, t+2*THREADS, ...
--
-- With TOTAL > 0 the threads write exactly keys 0 .. TOTAL-1 and then send
-- GET /ping (which writes nothing) until wrk is stopped: bench-node.sh
-- watches the node's key count and stops wrk with SIGINT once every key
-- is in. TOTAL 0 writes new keys for as long as wrk runs.
--
-- ORDER "scattered" writes the same keys with their numbers permuted
-- (i * 7777777777 mod 10^12, a bijection), so each partition receives its
-- keys in no particular order rather than ascending.
--   wrk -t THREADS -s scripts/wrk/put.lua URL -- PREFIX THREADS [TOTAL] [VALUE_BYTES] [ORDER]
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" ..
	package.path
require "common"

local nsetup = 0
local prefix, total, step, nexti, head_tail, body, ping, scattered
-- wrk calls request() once on thread 0 before the run, only to count the
-- requests it returns (script_verify_request); that call must not use up
-- a key.
local verifying

-- wrk starts each thread (and runs its init) right after its setup(), so
-- the thread count cannot be learnt here: it comes as an argument.
function setup(thread)
	thread:set("tid", nsetup)
	nsetup = nsetup + 1
end

function init(args)
	prefix = args[1] or string.format("p%03d", os.time() % 1000)
	step = tonumber(args[2])
	total = tonumber(args[3]) or 0
	local vlen = tonumber(args[4]) or 100
	scattered = args[5] == "scattered"
	if step == nil or step < 1 or (tid or 0) >= step then
		error("put.lua: pass wrk's thread count: -- PREFIX THREADS ...")
	end
	nexti = tid or 0
	verifying = nexti == 0
	-- Value bytes: printable, differing per request is not needed (the
	-- store does not compress).
	body = string.rep("x", vlen)
	head_tail = " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
		"\r\nContent-Type: application/octet-stream" ..
		"\r\nContent-Length: " .. vlen .. "\r\n\r\n" .. body
	ping = wrk.format("GET", "/ping")
end

function request()
	if verifying or (total > 0 and nexti >= total) then
		verifying = false
		return ping
	end
	local k = key_of(prefix, scattered and (nexti * 7777777777) % 1e12
		or nexti)
	nexti = nexti + step
	return "PUT /kv/" .. k .. head_tail
end

function done(summary, latency, requests)
	result_line(summary, latency)
end
