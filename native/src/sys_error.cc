#include "sys_error.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <utility>

namespace {

// Node's wording: lower-case description, e.g. "operation not permitted".
// strerrordesc_np is thread-safe and not localised, unlike strerror.
std::string ErrnoDescription(int err) {
  const char* desc = strerrordesc_np(err);
  std::string text = desc != nullptr ? desc : "unknown error " + std::to_string(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

}  // namespace

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "UNKNOWN";
}

SysError::SysError(int err, std::string syscall, std::string path, std::string step)
    : err_(err), syscall_(std::move(syscall)), path_(std::move(path)), step_(std::move(step)) {
  message_ = ErrnoName(err_) + ": " + ErrnoDescription(err_) + ", " + syscall_;
  if (!path_.empty()) message_ += " '" + path_ + "'";
}

void ThrowErrno(const char* syscall, const std::string& path, const char* step) {
  int err = errno;
  throw SysError(err, syscall, path, step);
}
