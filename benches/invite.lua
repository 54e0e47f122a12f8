-- wrk script: every request invites a new agent (a unique e-mail per thread
-- and request) into the organisation at $RDV_PATH with the token $RDV_TOKEN.
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  n = 0
end

function request()
  n = n + 1
  local body = string.format(
    '{"email":"w%d-%d@cms.fr","first_name":"A","last_name":"B","services":["service_social"],"role":"basic"}',
    tid, n)
  return wrk.format("POST", os.getenv("RDV_PATH"), {
    ["Authorization"] = "Bearer " .. os.getenv("RDV_TOKEN"),
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  if status ~= 201 then
    error("unexpected status " .. status .. ": " .. body)
  end
end
