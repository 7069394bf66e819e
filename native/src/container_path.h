// Paths inside a container, resolved against the container's root directory
// with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): an absolute symlink
// or a run of ".." inside the container stays inside the container root, and
// /proc magic links are refused, so no planted link can reach the host.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "unique_fd.h"

struct ContainerPath {
  // As the caller wrote it; used in error messages.
  std::string text;
  // The directory components leading to the final name ("." and ".." kept:
  // RESOLVE_IN_ROOT clamps ".." at the container root).
  std::vector<std::string> parents;
  // The final component: never empty, "." or "..", never contains "/".
  std::string base;
};

// nullopt unless `text` is absolute and ends in a name.
std::optional<ContainerPath> ParseContainerPath(const std::string& text);

// The directory that holds path.base, as an O_PATH descriptor. With
// `create_mode`, missing directories are created (mkdir -p) with that mode.
// Throws SysError with step "resolve" (openat2) or "mkdir" (mkdirat) and the
// container path of the directory concerned.
UniqueFd OpenParentDirectory(int root_fd, const ContainerPath& path, std::optional<mode_t> create_mode);

// The final component itself (O_PATH | O_NOFOLLOW: a symlink is opened as
// the symlink, never followed). Throws SysError with step "resolve".
UniqueFd OpenFinalComponent(int parent_fd, const ContainerPath& path);
