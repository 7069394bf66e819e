// How a C++ function becomes an exported JavaScript function: every export
// goes through Guarded, which turns C++ failures into JavaScript errors.
#pragma once

#include <napi.h>

#include <exception>

#include "sys_error.h"

// The NativeError of native.d.ts: Node's errno error shape plus step/verifierLog.
Napi::Error ToNativeError(Napi::Env env, const SysError& error);

template <Napi::Value (*Function)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    return Function(info);
  } catch (const Napi::Error&) {
    throw;  // argument checks: already a TypeError/RangeError
  } catch (const SysError& error) {
    throw ToNativeError(info.Env(), error);
  } catch (const std::exception& error) {
    // E.g. std::bad_alloc, or std::system_error when no thread can be started.
    throw Napi::Error::New(info.Env(), error.what());
  }
}

template <Napi::Value (*Function)(const Napi::CallbackInfo&)>
void Export(Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(exports.Env(), Guarded<Function>, name));
}
