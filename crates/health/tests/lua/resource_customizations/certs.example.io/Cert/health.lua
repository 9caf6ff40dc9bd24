-- Written for these tests in Argo CD's style: require("os") and os.time to judge expiry,
-- as scripts for Argo CD's safe os module do.
local os = require("os")
local function parse(ts)
  local y, mo, d, h, mi, s = string.match(ts, "(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z")
  if y == nil then return nil end
  return os.time({ year = tonumber(y), month = tonumber(mo), day = tonumber(d),
    hour = tonumber(h), min = tonumber(mi), sec = tonumber(s) })
end
hs = {}
if obj.status == nil or obj.status.notAfter == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for issuance"
  return hs
end
local expiry = parse(obj.status.notAfter)
if expiry == nil then
  hs.status = "Unknown"
  hs.message = "unreadable notAfter " .. obj.status.notAfter
elseif expiry < os.time() then
  hs.status = "Degraded"
  hs.message = "Certificate expired on " .. os.date("%Y-%m-%d", expiry)
else
  hs.status = "Healthy"
  hs.message = "Valid until " .. os.date("%Y-%m-%d", expiry)
end
return hs
