-- ping.lua -- GET /ping, built by request() like every other case.
--   wrk -s scripts/wrk/ping.lua URL
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" ..
	package.path
require "common"

local req

function init(args)
	req = wrk.format("GET", "/ping")
end

function request()
	return req
end

function done(summary, latency, requests)
	result_line(summary, latency)
end
