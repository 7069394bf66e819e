// nsMknod, nsStat, nsUnlink, nsChmod, nsChown, nsBatch: file work inside the mount
// namespace (and root) of another process. See native.d.ts.
#pragma once

#include <napi.h>

Napi::Value NsMknod(const Napi::CallbackInfo& info);
Napi::Value NsStat(const Napi::CallbackInfo& info);
Napi::Value NsUnlink(const Napi::CallbackInfo& info);
Napi::Value NsChmod(const Napi::CallbackInfo& info);
Napi::Value NsChown(const Napi::CallbackInfo& info);
Napi::Value NsBatch(const Napi::CallbackInfo& info);
