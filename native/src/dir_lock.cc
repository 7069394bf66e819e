#include "dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <string>

#include "args.h"
#include "sys_error.h"
#include "unique_fd.h"

Napi::Value LockDirectory(const Napi::CallbackInfo& info) {
  Args args(info, "lockDirectory", {"path"});
  const std::string path = args.String(0);

  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.Get() < 0) ThrowErrno("open", path);
  // Never blocking: this runs on the JavaScript thread; waiting for the lock
  // (how long, how often to retry) is the caller's policy.
  if (::flock(fd.Get(), LOCK_EX | LOCK_NB) != 0) ThrowErrno("flock", path);
  return Napi::Number::New(info.Env(), fd.Release());
}
