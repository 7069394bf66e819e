#include "binding.h"

Napi::Error ToNativeError(Napi::Env env, const SysError& error) {
  Napi::Error result = Napi::Error::New(env, error.what());
  Napi::Object object = result.Value();
  object.Set("code", ErrnoName(error.err()));
  object.Set("errno", -error.err());
  object.Set("syscall", error.syscall());
  if (!error.path().empty()) object.Set("path", error.path());
  if (!error.step().empty()) object.Set("step", error.step());
  if (error.verifier_log()) object.Set("verifierLog", *error.verifier_log());
  return result;
}
