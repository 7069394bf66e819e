// Extended attributes of a host path (device-mounter keeps its records on the
// container's cgroup directory). See native.d.ts.
#pragma once

#include <napi.h>

Napi::Value GetXattr(const Napi::CallbackInfo& info);
Napi::Value SetXattr(const Napi::CallbackInfo& info);
Napi::Value RemoveXattr(const Napi::CallbackInfo& info);
