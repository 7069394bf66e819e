// A failed system call, described the way Node describes fs errors. Plain C++
// (no N-API) so that it can be thrown on any thread; binding.cc turns it into
// the JavaScript NativeError at the boundary.
#pragma once

#include <exception>
#include <optional>
#include <string>

class SysError : public std::exception {
 public:
  // `err` is the positive errno value as the failing call left it.
  SysError(int err, std::string syscall, std::string path = {}, std::string step = {});

  const char* what() const noexcept override { return message_.c_str(); }

  int err() const { return err_; }
  const std::string& syscall() const { return syscall_; }
  const std::string& path() const { return path_; }
  const std::string& step() const { return step_; }
  // Present only for BPF_PROG_LOAD failures (possibly empty).
  const std::optional<std::string>& verifier_log() const { return verifier_log_; }
  void set_verifier_log(std::string log) { verifier_log_ = std::move(log); }

 private:
  int err_;
  std::string syscall_;
  std::string path_;
  std::string step_;
  std::optional<std::string> verifier_log_;
  std::string message_;
};

// "EPERM" for EPERM; "UNKNOWN" (as Node says) for a value glibc has no name for.
std::string ErrnoName(int err);

// Throws SysError for the current errno: call it right after the failing call.
// The parameters are plain pointers/references so that nothing allocates (and
// possibly touches errno) between the failing call and the read of errno.
[[noreturn]] void ThrowErrno(const char* syscall, const std::string& path = {}, const char* step = "");
