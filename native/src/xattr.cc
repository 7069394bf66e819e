#include "xattr.h"

#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "sys_error.h"

Napi::Value GetXattr(const Napi::CallbackInfo& info) {
  Args args(info, "getxattr", {"path", "name"});
  const std::string path = args.String(0);
  const std::string name = args.String(1);
  Napi::Env env = info.Env();

  // First the size, then the value. ENODATA at either call means there is no
  // such attribute (the second one: it was removed in between).
  ssize_t size = ::getxattr(path.c_str(), name.c_str(), nullptr, 0);
  std::vector<unsigned char> value(size > 0 ? static_cast<size_t>(size) : 0);
  if (size > 0) size = ::getxattr(path.c_str(), name.c_str(), value.data(), value.size());
  if (size < 0) {
    if (errno == ENODATA) return env.Null();
    ThrowErrno("getxattr", path);
  }

  Napi::Uint8Array result = Napi::Uint8Array::New(env, static_cast<size_t>(size));
  if (size > 0) std::memcpy(result.Data(), value.data(), static_cast<size_t>(size));
  return result;
}

Napi::Value SetXattr(const Napi::CallbackInfo& info) {
  Args args(info, "setxattr", {"path", "name", "value"});
  const std::string path = args.String(0);
  const std::string name = args.String(1);
  const Napi::Uint8Array value = args.Bytes(2);

  if (::setxattr(path.c_str(), name.c_str(), value.Data(), value.ByteLength(), 0) != 0) ThrowErrno("setxattr", path);
  return info.Env().Undefined();
}

Napi::Value RemoveXattr(const Napi::CallbackInfo& info) {
  Args args(info, "removexattr", {"path", "name"});
  const std::string path = args.String(0);
  const std::string name = args.String(1);

  if (::removexattr(path.c_str(), name.c_str()) != 0 && errno != ENODATA) ThrowErrno("removexattr", path);
  return info.Env().Undefined();
}
