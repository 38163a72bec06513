// Internals shared by sandbox.cc and patterns.cc. Not a public header.
#pragma once

struct lua_State;

namespace updraft::lua::internal {

// Raises "script exceeded its deadline of <n> ms" (as the count hook does, re-arming it) when the
// running call is past its deadline. For host C functions that may run long without executing VM
// instructions (the pattern matcher).
void checkDeadline(lua_State* L);

// Raises "C stack overflow" when the running call has used more than its share of the thread's C
// stack. Called on entry of every host C function that calls back into Lua (gsub, format, sort,
// resume, wrap), so recursion through them fails with an error instead of crashing the process.
void checkCStack(lua_State* L);

// Sets find, match, gmatch and gsub (patterns.cc) into the table at `index`: Lua 5.1's pattern
// matching with the deadline checked while matching (LuaJIT's matcher cannot be interrupted, and
// patterns such as ("a"):rep(40):find(("a-"):rep(9) .. "b") run for hours), a plain find that is
// linear in the worst case, and a C-stack check on entry.
void openPatternFunctions(lua_State* L, int index);

}  // namespace updraft::lua::internal
