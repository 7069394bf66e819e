// The file operations device-mounter performs inside a container's root, run
// on the namespace thread (ns_thread.h). Shared by the single-call exports
// (mntns.cc) and the batch export (ns_batch.cc).
#pragma once

#include <napi.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "container_path.h"
#include "ns_thread.h"

struct MknodSpec {
  ContainerPath path;
  mode_t type;  // S_IFCHR or S_IFBLK
  unsigned major;
  unsigned minor;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  mode_t dir_mode;
};

void MknodInRoot(const ContainerRoot& root, const MknodSpec& spec);
struct stat StatInRoot(const ContainerRoot& root, const ContainerPath& path);
void UnlinkInRoot(const ContainerRoot& root, const ContainerPath& path);
void ChmodInRoot(const ContainerRoot& root, const ContainerPath& path, mode_t mode);
void ChownInRoot(const ContainerRoot& root, const ContainerPath& path, uid_t uid, gid_t gid);

// The NsStat object of native.d.ts.
Napi::Object StatToObject(Napi::Env env, const struct stat& st);
