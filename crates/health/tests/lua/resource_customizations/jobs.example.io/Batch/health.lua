-- Written for these tests in Argo CD's style: goto to skip conditions, as Lua 5.1 scripts
-- for gopher-lua do.
local hs = { status = "Progressing", message = "Waiting for the batch to start" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
for _, condition in ipairs(obj.status.conditions) do
  if condition.status ~= "True" then
    goto continue
  end
  if condition.type == "Failed" then
    hs.status = "Degraded"
    hs.message = string.format("%s: %s", condition.reason, condition.message)
    return hs
  elseif condition.type == "Complete" then
    hs.status = "Healthy"
    hs.message = string.format("Completed %d items", obj.status.items)
  end
  ::continue::
end
return hs
