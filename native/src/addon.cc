// The device_mounter addon: every exported function, registered in one place.
#include <napi.h>

#include "binding.h"
#include "bpf.h"
#include "dir_lock.h"
#include "mntns.h"
#include "xattr.h"

namespace {

Napi::Object Init(Napi::Env /*env*/, Napi::Object exports) {
  Export<NsMknod>(exports, "nsMknod");
  Export<NsStat>(exports, "nsStat");
  Export<NsUnlink>(exports, "nsUnlink");
  Export<NsChmod>(exports, "nsChmod");
  Export<NsChown>(exports, "nsChown");
  Export<NsBatch>(exports, "nsBatch");

  Export<BpfProgQuery>(exports, "bpfProgQuery");
  Export<BpfProgGetFdById>(exports, "bpfProgGetFdById");
  Export<BpfProgInfo>(exports, "bpfProgInfo");
  Export<BpfProgLoad>(exports, "bpfProgLoad");
  Export<BpfProgAttach>(exports, "bpfProgAttach");
  Export<BpfProgDetach>(exports, "bpfProgDetach");
  Export<Close>(exports, "close");

  Export<GetXattr>(exports, "getxattr");
  Export<SetXattr>(exports, "setxattr");
  Export<RemoveXattr>(exports, "removexattr");

  Export<LockDirectory>(exports, "lockDirectory");
  return exports;
}

}  // namespace

NODE_API_MODULE(device_mounter, Init)
