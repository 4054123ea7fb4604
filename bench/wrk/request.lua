-- One wrk request shape for every benchmark, so the load generator's own cost is the same in
-- every configuration. Set by the harness through the environment:
--   BENCH_METHOD, BENCH_PATH      the request line
--   BENCH_HEADERS                 a file of "Name: value" lines sent on every request
--   BENCH_CREDENTIALS             a file of lines; request i sends line i (cycling) as
--   BENCH_CREDENTIAL_HEADER       this header, prefixed by BENCH_CREDENTIAL_PREFIX
--   BENCH_BODY                    a file whose bytes are the body
-- done() prints one JSON line the harness parses.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local headers = {}
local credentials = {}
local credential_header = os.getenv("BENCH_CREDENTIAL_HEADER")
local credential_prefix = os.getenv("BENCH_CREDENTIAL_PREFIX") or ""
local body = nil
local next_credential = 0

local function lines(file)
  local out = {}
  if file and file ~= "" then
    for line in io.lines(file) do
      if line ~= "" then out[#out + 1] = line end
    end
  end
  return out
end

for _, line in ipairs(lines(os.getenv("BENCH_HEADERS"))) do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  headers[name] = value
end
credentials = lines(os.getenv("BENCH_CREDENTIALS"))
local body_file = os.getenv("BENCH_BODY")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  body = f:read("*a")
  f:close()
end

request = function()
  if #credentials > 0 then
    next_credential = next_credential % #credentials + 1
    headers[credential_header] = credential_prefix .. credentials[next_credential]
  end
  return wrk.format(method, path, headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
