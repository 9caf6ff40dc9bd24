-- A wildcard check (directory `_` for `*`), as Argo CD's `_.crossplane.io/_`: results Argo
-- CD reads as "no health" (nil) and as invalid (a status it does not know).
if obj.spec ~= nil and obj.spec.external == true then
  return nil
end
if obj.status == nil then
  return { status = "Pending" }
end
return { status = "Healthy", message = obj.kind .. " ready" }
