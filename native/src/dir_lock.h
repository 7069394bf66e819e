// An exclusive flock(2) on a directory: changes to one container's grants are
// serialised across processes (agent, CLI) by a lock on its cgroup directory.
// See native.d.ts.
#pragma once

#include <napi.h>

Napi::Value LockDirectory(const Napi::CallbackInfo& info);
