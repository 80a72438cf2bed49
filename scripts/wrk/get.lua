-- get.lua -- GET /kv/{key}, each request a key drawn uniformly at random
-- from the preloaded key space PREFIX000000000000 .. PREFIX(N-1)
-- (written by put.lua with the same PREFIX and N). QUERY, if given, is
-- appended to every path (e.g. "?replica=local" to read this node's copy
-- without the coordinator, a diagnostic of the coordinator's cost).
--   wrk -s scripts/wrk/get.lua URL -- N [PREFIX] [QUERY]
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" ..
	package.path
require "common"

local nsetup = 0
local reqs = {}
local n

function setup(thread)
	thread:set("tid", nsetup)
	nsetup = nsetup + 1
end

function init(args)
	n = tonumber(args[1]) or 10000
	local prefix = args[2] or "get:"
	local query = args[3] or ""
	-- Requests are formatted once, here, so request() costs what
	-- ping.lua's does.
	for i = 0, n - 1 do
		reqs[i + 1] = wrk.format("GET", "/kv/" .. key_of(prefix, i) .. query)
	end
	math.randomseed(os.time() * 16 + (tid or 0))
end

function request()
	return reqs[math.random(n)]
end

function done(summary, latency, requests)
	result_line(summary, latency)
end
