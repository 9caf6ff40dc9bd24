-- string.format as Argo CD's gopher-lua does it (Go's fmt.Sprintf under the hood), so scripts
-- written and tested against Argo CD print the same: `%s` takes any value (nil prints "nil"),
-- integer verbs truncate fractions, a missing operand prints Go's "%!s(MISSING)" and a
-- wrong-typed one Go's "%!d(type=value)" instead of failing the whole check.
local function go_format(raw_format)
  local floor, ceil, concat = math.floor, math.ceil, table.concat
  local go_types = {
    ["nil"] = "*lua.LNilType", boolean = "lua.LBool", table = "*lua.LTable",
    ["function"] = "*lua.LFunction", userdata = "*lua.LUserData", thread = "*lua.LState",
  }
  local function bad(verb, v)
    return "%!" .. verb .. "(" .. (go_types[type(v)] or type(v)) .. "=" .. tostring(v) .. ")"
  end
  local integer = { d = true, i = true, x = true, X = true, o = true, c = true }
  local float = { e = true, E = true, f = true, g = true, G = true }
  return function(fmt, ...)
    if type(fmt) ~= "string" and type(fmt) ~= "number" then
      return raw_format(fmt, ...)
    end
    fmt = tostring(fmt)
    local args, n = { ... }, select("#", ...)
    local out, used, pos, len = {}, 0, 1, #fmt
    while pos <= len do
      local pct = fmt:find("%", pos, true)
      if not pct then
        out[#out + 1] = fmt:sub(pos)
        break
      end
      out[#out + 1] = fmt:sub(pos, pct - 1)
      if fmt:sub(pct + 1, pct + 1) == "%" then
        out[#out + 1] = "%"
        pos = pct + 2
      else
        local _, e, flags, verb = fmt:find("^([-+ #0]*%d*%.?%d*)(%a)", pct + 1)
        if not e then
          return raw_format(fmt, ...) -- let Lua name the malformed directive
        end
        used = used + 1
        local v = args[used]
        if used > n then
          out[#out + 1] = "%!" .. verb .. "(MISSING)"
        elseif verb == "s" or verb == "q" then
          if type(v) ~= "string" and type(v) ~= "number" then v = tostring(v) end
          out[#out + 1] = raw_format("%" .. flags .. verb, v)
        elseif integer[verb] or float[verb] then
          local num = tonumber(v)
          if num == nil then
            out[#out + 1] = bad(verb, v)
          else
            if integer[verb] then
              if num >= 0 then num = floor(num) else num = ceil(num) end
              if verb == "i" then verb = "d" end
            end
            out[#out + 1] = raw_format("%" .. flags .. verb, num)
          end
        else
          out[#out + 1] = raw_format("%" .. flags .. verb, v)
        end
        pos = e + 1
      end
    end
    return concat(out)
  end
end
