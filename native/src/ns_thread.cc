#include "ns_thread.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include <exception>
#include <string>
#include <thread>

#include "sys_error.h"
#include "unique_fd.h"

namespace {

UniqueFd OpenForNamespace(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (fd.Get() < 0) ThrowErrno("open", path, "open-ns");
  return fd;
}

void EnterAndRun(int pid, const std::function<void(const ContainerRoot&)>& work) {
  const std::string proc = "/proc/" + std::to_string(pid);
  const std::string root_path = proc + "/root";
  const std::string ns_path = proc + "/ns/mnt";
  // All opened before setns: afterwards /proc may be the container's (another
  // PID namespace, or none at all).
  UniqueFd root = OpenForNamespace(root_path, O_PATH | O_DIRECTORY);
  UniqueFd ns = OpenForNamespace(ns_path, O_RDONLY);
  UniqueFd own_fds_dir = OpenForNamespace("/proc/thread-self/fd", O_PATH | O_DIRECTORY);

  // The kernel refuses setns(CLONE_NEWNS) to a thread that shares its
  // fs_struct (root, cwd, umask) with other threads.
  if (::unshare(CLONE_FS) != 0) ThrowErrno("unshare(CLONE_FS)", {}, "unshare");
  if (::setns(ns.Get(), CLONE_NEWNS) != 0) ThrowErrno("setns(CLONE_NEWNS)", ns_path, "setns");
  // Modes passed to mknodat/mkdirat are then exactly the modes created.
  ::umask(0);

  work(ContainerRoot{root.Get(), own_fds_dir.Get()});
}

}  // namespace

void RunInMountNamespace(int pid, const std::function<void(const ContainerRoot&)>& work) {
  std::exception_ptr failure;
  std::thread worker([&] {
    try {
      EnterAndRun(pid, work);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  worker.join();
  if (failure) std::rethrow_exception(failure);
}
