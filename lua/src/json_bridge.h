// Lua <-> JSON conversion shared by the json module and the engine side (ctx.state carried across
// a script reload). Private to lua/.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

struct lua_State;

namespace updraft::lua {

// The Lua value at `idx` as JSON, without running metamethods. False with `err` set for values
// JSON cannot hold (functions, cycles, mixed tables, NaN).
bool luaToJson(lua_State* L, int idx, nlohmann::json& out, std::string& err);
// Pushes `j` as Lua values (null -> nil). May raise a Lua error (memory, nesting).
void pushJsonValue(lua_State* L, const nlohmann::json& j);

}  // namespace updraft::lua
