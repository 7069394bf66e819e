#include "node_ops.h"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>

#include "sys_error.h"
#include "unique_fd.h"

namespace {

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

void MknodInRoot(const ContainerRoot& root, const MknodSpec& spec) {
  UniqueFd parent = OpenParentDirectory(root.root_fd, spec.path, spec.dir_mode);
  if (::mknodat(parent.Get(), spec.path.base.c_str(), spec.type | spec.mode, makedev(spec.major, spec.minor)) != 0) {
    ThrowErrno("mknodat", spec.path.text, "mknod");
  }
  UniqueFd node = OpenFinalComponent(parent.Get(), spec.path);
  ChownNode(node.Get(), spec.path, spec.uid, spec.gid);
  // chown clears set-user/group-ID bits; setting the mode again after it
  // makes the final mode exactly `mode` whatever it holds.
  ChmodNode(root, node.Get(), spec.path, spec.mode);
}

struct stat StatInRoot(const ContainerRoot& root, const ContainerPath& path) {
  struct stat st {};
  UniqueFd parent = OpenParentDirectory(root.root_fd, path, std::nullopt);
  if (::fstatat(parent.Get(), path.base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) ThrowErrno("fstatat", path.text, "stat");
  return st;
}

void UnlinkInRoot(const ContainerRoot& root, const ContainerPath& path) {
  UniqueFd parent = OpenParentDirectory(root.root_fd, path, std::nullopt);
  if (::unlinkat(parent.Get(), path.base.c_str(), 0) != 0) ThrowErrno("unlinkat", path.text, "unlink");
}

void ChmodInRoot(const ContainerRoot& root, const ContainerPath& path, mode_t mode) {
  UniqueFd parent = OpenParentDirectory(root.root_fd, path, std::nullopt);
  UniqueFd node = OpenFinalComponent(parent.Get(), path);
  ChmodNode(root, node.Get(), path, mode);
}

void ChownInRoot(const ContainerRoot& root, const ContainerPath& path, uid_t uid, gid_t gid) {
  UniqueFd parent = OpenParentDirectory(root.root_fd, path, std::nullopt);
  UniqueFd node = OpenFinalComponent(parent.Get(), path);
  ChownNode(node.Get(), path, uid, gid);
}

Napi::Object StatToObject(Napi::Env env, const struct stat& st) {
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
