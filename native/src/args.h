// Exact argument checks for the exported functions. A wrong argument count or
// type throws TypeError, a number outside its range (or not an integer)
// throws RangeError, as Node's own validators do. Messages name the function
// and the parameter, e.g. `nsMknod: major must be an integer in [0, 4095], got 4096`.
#pragma once

#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

class Args {
 public:
  // Throws TypeError unless exactly names.size() arguments were passed.
  Args(const Napi::CallbackInfo& info, const char* function, std::initializer_list<const char*> names);

  int64_t Integer(size_t index, int64_t min, int64_t max) const;
  // A string that is not empty and has no NUL character (it becomes a C string).
  std::string String(size_t index) const;
  // The same, but "" is accepted.
  std::string StringOrEmpty(size_t index) const;
  // A Uint8Array (a Buffer is one); the view stays valid for the call.
  Napi::Uint8Array Bytes(size_t index) const;

  // For checks on a value that has the right type but an unusable content.
  [[noreturn]] void ThrowTypeError(size_t index, const std::string& requirement) const;
  [[noreturn]] void ThrowRangeError(size_t index, const std::string& requirement) const;

 private:
  std::string Problem(size_t index, const std::string& requirement) const;

  const Napi::CallbackInfo& info_;
  const char* function_;
  std::vector<const char*> names_;
};
