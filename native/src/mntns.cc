#include "mntns.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "args.h"
#include "container_path.h"
#include "ns_thread.h"
#include "sys_error.h"

namespace {

constexpr int64_t kMaxPid = INT32_MAX;
constexpr int64_t kMaxMajor = (1 << 12) - 1;  // the kernel's dev_t: 12-bit major,
constexpr int64_t kMaxMinor = (1 << 20) - 1;  // 20-bit minor
constexpr int64_t kMaxMode = 07777;
constexpr int64_t kMaxId = UINT32_MAX - 1;  // (uid_t)-1 means "unchanged" to chown

ContainerPath ContainerPathArg(const Args& args, size_t index) {
  std::optional<ContainerPath> path = ParseContainerPath(args.String(index));
  if (!path) args.ThrowTypeError(index, "an absolute path whose last component is a name (not \".\" or \"..\")");
  return *path;
}

int PidArg(const Args& args, size_t index) { return static_cast<int>(args.Integer(index, 1, kMaxPid)); }

void ChownNode(int node_fd, const ContainerPath& path, uid_t uid, gid_t gid) {
  // AT_EMPTY_PATH on the O_PATH descriptor: the node itself, no lookup.
  if (::fchownat(node_fd, "", uid, gid, AT_EMPTY_PATH) != 0) ThrowErrno("fchownat", path.text, "chown");
}

// There is no fchmod for O_PATH descriptors before fchmodat2 (Linux 6.6), and
// a chmod by name could follow a symlink swapped in after the check. Instead
// chmod goes through the host's /proc/thread-self/fd/<fd>: that magic link
// leads to exactly the inode the descriptor holds, whatever happens to the
// name meanwhile. The descriptor was opened O_NOFOLLOW, so it may be a
// symlink itself; Linux cannot chmod those, and says EOPNOTSUPP as
// fchmodat(AT_SYMLINK_NOFOLLOW) does.
void ChmodNode(const ContainerRoot& root, int node_fd, const ContainerPath& path, mode_t mode) {
  struct stat st {};
  if (::fstat(node_fd, &st) != 0) ThrowErrno("fstat", path.text, "chmod");
  if (S_ISLNK(st.st_mode)) throw SysError(EOPNOTSUPP, "fchmodat", path.text, "chmod");
  const std::string fd_name = std::to_string(node_fd);
  if (::fchmodat(root.own_fds_dir_fd, fd_name.c_str(), mode, 0) != 0) ThrowErrno("fchmodat", path.text, "chmod");
}

const char* TypeLetter(mode_t mode) {
  if (S_ISCHR(mode)) return "c";
  if (S_ISBLK(mode)) return "b";
  if (S_ISDIR(mode)) return "d";
  if (S_ISREG(mode)) return "f";
  if (S_ISLNK(mode)) return "l";
  return "o";
}

}  // namespace

Napi::Value NsMknod(const Napi::CallbackInfo& info) {
  Args args(info, "nsMknod", {"pid", "path", "kind", "major", "minor", "mode", "uid", "gid", "dirMode"});
  const int pid = PidArg(args, 0);
  const ContainerPath path = ContainerPathArg(args, 1);
  const std::string kind = args.String(2);
  if (kind != "c" && kind != "b") args.ThrowTypeError(2, "\"c\" or \"b\"");
  const mode_t type = kind == "c" ? S_IFCHR : S_IFBLK;
  const auto major = static_cast<unsigned>(args.Integer(3, 0, kMaxMajor));
  const auto minor = static_cast<unsigned>(args.Integer(4, 0, kMaxMinor));
  const auto mode = static_cast<mode_t>(args.Integer(5, 0, kMaxMode));
  const auto uid = static_cast<uid_t>(args.Integer(6, 0, kMaxId));
  const auto gid = static_cast<gid_t>(args.Integer(7, 0, kMaxId));
  const auto dir_mode = static_cast<mode_t>(args.Integer(8, 0, kMaxMode));

  RunInMountNamespace(pid, [&](const ContainerRoot& root) {
    UniqueFd parent = OpenParentDirectory(root.root_fd, path, dir_mode);
    if (::mknodat(parent.Get(), path.base.c_str(), type | mode, makedev(major, minor)) != 0) {
      ThrowErrno("mknodat", path.text, "mknod");
    }
    UniqueFd node = OpenFinalComponent(parent.Get(), path);
    ChownNode(node.Get(), path, uid, gid);
    // chown clears set-user/group-ID bits; setting the mode again after it
    // makes the final mode exactly `mode` whatever it holds.
    ChmodNode(root, node.Get(), path, mode);
  });
  return info.Env().Undefined();
}

Napi::Value NsStat(const Napi::CallbackInfo& info) {
  Args args(info, "nsStat", {"pid", "path"});
  const int pid = PidArg(args, 0);
  const ContainerPath path = ContainerPathArg(args, 1);

  struct stat st {};
  RunInMountNamespace(pid, [&](const ContainerRoot& root) {
    UniqueFd parent = OpenParentDirectory(root.root_fd, path, std::nullopt);
    if (::fstatat(parent.Get(), path.base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      ThrowErrno("fstatat", path.text, "stat");
    }
  });

  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("type", TypeLetter(st.st_mode));
  result.Set("mode", static_cast<double>(st.st_mode & 07777));
  result.Set("uid", static_cast<double>(st.st_uid));
  result.Set("gid", static_cast<double>(st.st_gid));
  result.Set("rdevMajor", static_cast<double>(major(st.st_rdev)));
  result.Set("rdevMinor", static_cast<double>(minor(st.st_rdev)));
  result.Set("devMajor", static_cast<double>(major(st.st_dev)));
  result.Set("devMinor", static_cast<double>(minor(st.st_dev)));
  result.Set("ino", static_cast<double>(st.st_ino));
  return result;
}

Napi::Value NsUnlink(const Napi::CallbackInfo& info) {
  Args args(info, "nsUnlink", {"pid", "path"});
  const int pid = PidArg(args, 0);
  const ContainerPath path = ContainerPathArg(args, 1);

  RunInMountNamespace(pid, [&](const ContainerRoot& root) {
    UniqueFd parent = OpenParentDirectory(root.root_fd, path, std::nullopt);
    if (::unlinkat(parent.Get(), path.base.c_str(), 0) != 0) ThrowErrno("unlinkat", path.text, "unlink");
  });
  return info.Env().Undefined();
}

Napi::Value NsChmod(const Napi::CallbackInfo& info) {
  Args args(info, "nsChmod", {"pid", "path", "mode"});
  const int pid = PidArg(args, 0);
  const ContainerPath path = ContainerPathArg(args, 1);
  const auto mode = static_cast<mode_t>(args.Integer(2, 0, kMaxMode));

  RunInMountNamespace(pid, [&](const ContainerRoot& root) {
    UniqueFd parent = OpenParentDirectory(root.root_fd, path, std::nullopt);
    UniqueFd node = OpenFinalComponent(parent.Get(), path);
    ChmodNode(root, node.Get(), path, mode);
  });
  return info.Env().Undefined();
}

Napi::Value NsChown(const Napi::CallbackInfo& info) {
  Args args(info, "nsChown", {"pid", "path", "uid", "gid"});
  const int pid = PidArg(args, 0);
  const ContainerPath path = ContainerPathArg(args, 1);
  const auto uid = static_cast<uid_t>(args.Integer(2, 0, kMaxId));
  const auto gid = static_cast<gid_t>(args.Integer(3, 0, kMaxId));

  RunInMountNamespace(pid, [&](const ContainerRoot& root) {
    UniqueFd parent = OpenParentDirectory(root.root_fd, path, std::nullopt);
    UniqueFd node = OpenFinalComponent(parent.Get(), path);
    ChownNode(node.Get(), path, uid, gid);
  });
  return info.Env().Undefined();
}
