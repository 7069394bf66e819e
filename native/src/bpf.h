// bpf(2) for BPF_CGROUP_DEVICE programs on cgroup v2 directories. See native.d.ts.
#pragma once

#include <napi.h>

Napi::Value BpfProgQuery(const Napi::CallbackInfo& info);
Napi::Value BpfProgGetFdById(const Napi::CallbackInfo& info);
Napi::Value BpfProgInfo(const Napi::CallbackInfo& info);
Napi::Value BpfProgLoad(const Napi::CallbackInfo& info);
Napi::Value BpfProgAttach(const Napi::CallbackInfo& info);
Napi::Value BpfProgDetach(const Napi::CallbackInfo& info);
Napi::Value Close(const Napi::CallbackInfo& info);
