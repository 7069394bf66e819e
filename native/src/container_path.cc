#include "container_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "sys_error.h"

namespace {

// glibc 2.36 has no openat2() wrapper.
int OpenDirectoryInRoot(int root_fd, const std::string& path) {
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how));
}

}  // namespace

std::optional<ContainerPath> ParseContainerPath(const std::string& text) {
  if (text.empty() || text[0] != '/' || text.find('\0') != std::string::npos) return std::nullopt;
  std::vector<std::string> components;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('/', start);
    if (end == std::string::npos) end = text.size();
    components.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  // A trailing "/" leaves an empty last component, as does "/" itself.
  const std::string base = components.back();
  if (base.empty() || base == "." || base == "..") return std::nullopt;
  components.pop_back();
  ContainerPath path{text, {}, base};
  for (const std::string& component : components) {
    if (!component.empty()) path.parents.push_back(component);  // "//" is "/"
  }
  return path;
}

UniqueFd OpenParentDirectory(int root_fd, const ContainerPath& path, std::optional<mode_t> create_mode) {
  // Each prefix is resolved from the root again rather than component by
  // component: RESOLVE_IN_ROOT treats its dirfd as "/", so only the real
  // root gives absolute symlinks inside the container their meaning there.
  std::string prefix = "/";
  UniqueFd directory(OpenDirectoryInRoot(root_fd, prefix));
  if (directory.Get() < 0) ThrowErrno("openat2", prefix, "resolve");
  for (const std::string& name : path.parents) {
    if (prefix.size() > 1) prefix += '/';
    prefix += name;
    int fd = OpenDirectoryInRoot(root_fd, prefix);
    if (fd < 0 && errno == ENOENT && create_mode) {
      // Created in the directory already resolved, by name (no "/"), so the
      // new directory cannot land anywhere else. EEXIST means someone else
      // created it (or a dangling symlink is there): open it again and let
      // that decide.
      if (::mkdirat(directory.Get(), name.c_str(), *create_mode) != 0 && errno != EEXIST) {
        ThrowErrno("mkdirat", prefix, "mkdir");
      }
      fd = OpenDirectoryInRoot(root_fd, prefix);
    }
    if (fd < 0) ThrowErrno("openat2", prefix, "resolve");
    directory = UniqueFd(fd);
  }
  return directory;
}

UniqueFd OpenFinalComponent(int parent_fd, const ContainerPath& path) {
  // path.base is a single name, so plain openat cannot leave parent_fd.
  UniqueFd fd(::openat(parent_fd, path.base.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (fd.Get() < 0) ThrowErrno("openat", path.text, "resolve");
  return fd;
}
