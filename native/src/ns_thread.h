// Runs work inside the mount namespace of another process, on a dedicated
// short-lived thread. setns(CLONE_NEWNS) changes the calling thread's root
// and working directory, so it must never happen on the JavaScript thread or
// on a libuv pool thread that later runs unrelated work.
#pragma once

#include <functional>

// What the work gets, valid while it runs.
struct ContainerRoot {
  // /proc/<pid>/root, opened before setns: the process's own root directory,
  // which is what container paths are resolved against (RESOLVE_IN_ROOT).
  int root_fd;
  // /proc/thread-self/fd of the host, opened before setns (see ChmodNode).
  int own_fds_dir_fd;
};

// Opens /proc/<pid>/root and /proc/<pid>/ns/mnt, unshares CLONE_FS, setns
// into the mount namespace, sets umask 0 (for this thread only, thanks to the
// unshare) and runs `work`. Blocks the caller until the thread is done and
// rethrows on the caller's thread whatever the work threw (a SysError with
// step "open-ns", "unshare" or "setns" when entering failed).
void RunInMountNamespace(int pid, const std::function<void(const ContainerRoot&)>& work);
