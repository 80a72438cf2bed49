-- common.lua -- shared by the wrk scripts of scripts/bench-node.sh.
--
-- Every script builds its requests with request() (wrk's dynamic path),
-- /ping included, so that wrk spends about the same CPU per request in
-- every case: wrk and the node share the machine's cores, and a cheaper
-- client for one case would skew the ratios between cases.
--
-- done() prints one machine-readable line that bench-node.sh parses:
--   RESULT requests=N duration_us=D rps=R p50_us=A p90_us=B p99_us=C
--          max_us=M errors=E status_errors=S

function result_line(summary, latency)
	local e = summary.errors
	local errors = e.connect + e.read + e.write + e.timeout
	io.write(string.format(
		"RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d " ..
		"p99_us=%d max_us=%d errors=%d status_errors=%d\n",
		summary.requests, summary.duration,
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(90),
		latency:percentile(99), latency.max, errors, e.status))
end

-- The i-th key of a key space: PREFIX followed by i on 12 digits.
function key_of(prefix, i)
	return string.format("%s%012d", prefix, i)
end
