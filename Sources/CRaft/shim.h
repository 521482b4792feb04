#ifndef CRAFT_SHIM_H
#define CRAFT_SHIM_H
// libraft 0.15 (Debian libraft-dev) and the libuv it runs on. raft/uv.h includes <uv.h>, and raft.pc does not
// require libuv, hence `link "uv"` in the module map (TOOLCHAIN.md §1).
#include <uv.h>
#include <raft.h>
#include <raft/uv.h>
// The in-memory, stepped test cluster (exported by libraft.so); only tests drive it (RaftNode+Fixture.swift).
#include <raft/fixture.h>
#endif
