#include "bpf.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "sys_error.h"
#include "unique_fd.h"

namespace {

constexpr int64_t kMaxFd = INT32_MAX;
constexpr size_t kInsnSize = sizeof(bpf_insn);  // 8
constexpr size_t kMaxInsns = BPF_MAXINSNS;  // 4096; device programs are far smaller
// The kernel attaches at most 64 programs (BPF_CGROUP_MAX_PROGS) per cgroup
// and attach type, so one buffer of that size always answers a query.
constexpr uint32_t kMaxAttachedProgs = 64;
// Only requested after a failed load (see BpfProgLoad); on kernels with a
// rotating log (6.4+) a longer log keeps its end, where the error is.
constexpr size_t kVerifierLogSize = 256 * 1024;

uint64_t Pointer(const void* pointer) { return reinterpret_cast<uintptr_t>(pointer); }

// glibc has no bpf() wrapper. Unused attr bytes must be zero: callers start
// from a value-initialised bpf_attr.
int Bpf(bpf_cmd command, bpf_attr& attr) {
  return static_cast<int>(::syscall(SYS_bpf, command, &attr, sizeof attr));
}

UniqueFd OpenCgroup(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.Get() < 0) ThrowErrno("open", path);
  return fd;
}

int FdArg(const Args& args, size_t index) { return static_cast<int>(args.Integer(index, 0, kMaxFd)); }

bool IsValidProgName(const std::string& name) {
  if (name.size() >= BPF_OBJ_NAME_LEN) return false;
  for (char c : name) {
    const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                         c == '.';
    if (!allowed) return false;
  }
  return true;
}

std::string Hex(const unsigned char* bytes, size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string text;
  for (size_t i = 0; i < size; i++) {
    text += digits[bytes[i] >> 4];
    text += digits[bytes[i] & 0xf];
  }
  return text;
}

bpf_prog_info GetProgInfo(int prog_fd, bpf_prog_info info) {
  bpf_attr attr{};
  attr.info.bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.info.info_len = sizeof info;
  attr.info.info = Pointer(&info);
  if (Bpf(BPF_OBJ_GET_INFO_BY_FD, attr) != 0) ThrowErrno("bpf(BPF_OBJ_GET_INFO_BY_FD)");
  return info;
}

}  // namespace

Napi::Value BpfProgQuery(const Napi::CallbackInfo& info) {
  Args args(info, "bpfProgQuery", {"cgroupPath"});
  const std::string cgroup_path = args.String(0);

  UniqueFd cgroup = OpenCgroup(cgroup_path);
  std::vector<uint32_t> ids(kMaxAttachedProgs);
  bpf_attr attr{};
  attr.query.target_fd = static_cast<uint32_t>(cgroup.Get());
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  attr.query.prog_ids = Pointer(ids.data());
  attr.query.prog_cnt = kMaxAttachedProgs;
  if (Bpf(BPF_PROG_QUERY, attr) != 0) ThrowErrno("bpf(BPF_PROG_QUERY)", cgroup_path);

  Napi::Env env = info.Env();
  Napi::Array prog_ids = Napi::Array::New(env, attr.query.prog_cnt);
  for (uint32_t i = 0; i < attr.query.prog_cnt; i++) prog_ids.Set(i, static_cast<double>(ids[i]));
  Napi::Object result = Napi::Object::New(env);
  result.Set("attachFlags", static_cast<double>(attr.query.attach_flags));
  result.Set("progIds", prog_ids);
  return result;
}

Napi::Value BpfProgGetFdById(const Napi::CallbackInfo& info) {
  Args args(info, "bpfProgGetFdById", {"id"});
  const auto id = static_cast<uint32_t>(args.Integer(0, 1, UINT32_MAX));

  bpf_attr attr{};
  attr.prog_id = id;
  // bpf(2) descriptors are always close-on-exec.
  const int fd = Bpf(BPF_PROG_GET_FD_BY_ID, attr);
  if (fd < 0) ThrowErrno("bpf(BPF_PROG_GET_FD_BY_ID)");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value BpfProgInfo(const Napi::CallbackInfo& info) {
  Args args(info, "bpfProgInfo", {"progFd"});
  const int prog_fd = FdArg(args, 0);

  // First for the size of the instructions, then for the instructions.
  const bpf_prog_info sizes = GetProgInfo(prog_fd, bpf_prog_info{});
  std::vector<unsigned char> insns(sizes.xlated_prog_len);
  bpf_prog_info request{};
  request.xlated_prog_len = static_cast<uint32_t>(insns.size());
  request.xlated_prog_insns = Pointer(insns.data());
  const bpf_prog_info prog = GetProgInfo(prog_fd, request);
  // The kernel reports the full length even if it wrote less.
  insns.resize(std::min<size_t>(insns.size(), prog.xlated_prog_len));

  Napi::Env env = info.Env();
  Napi::Uint8Array insn_bytes = Napi::Uint8Array::New(env, insns.size());
  if (!insns.empty()) std::memcpy(insn_bytes.Data(), insns.data(), insns.size());
  Napi::Object result = Napi::Object::New(env);
  result.Set("id", static_cast<double>(prog.id));
  result.Set("type", static_cast<double>(prog.type));
  result.Set("name", std::string(prog.name, strnlen(prog.name, sizeof prog.name)));
  result.Set("tag", Hex(prog.tag, sizeof prog.tag));
  result.Set("insns", insn_bytes);
  return result;
}

Napi::Value BpfProgLoad(const Napi::CallbackInfo& info) {
  Args args(info, "bpfProgLoad", {"insns", "name", "license"});
  const Napi::Uint8Array insns = args.Bytes(0);
  if (insns.ByteLength() == 0 || insns.ByteLength() % kInsnSize != 0 || insns.ByteLength() > kMaxInsns * kInsnSize) {
    args.ThrowRangeError(0, "1 to " + std::to_string(kMaxInsns) + " instructions of " + std::to_string(kInsnSize) +
                                " bytes each");
  }
  // The kernel accepts an unnamed program.
  const std::string name = args.StringOrEmpty(1);
  if (!IsValidProgName(name)) {
    args.ThrowTypeError(1, "at most " + std::to_string(BPF_OBJ_NAME_LEN - 1) + " characters of [A-Za-z0-9_.]");
  }
  const std::string license = args.String(2);

  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = Pointer(insns.Data());
  attr.insn_cnt = static_cast<uint32_t>(insns.ByteLength() / kInsnSize);
  attr.license = Pointer(license.c_str());
  std::memcpy(attr.prog_name, name.data(), name.size());
  const int fd = Bpf(BPF_PROG_LOAD, attr);
  if (fd >= 0) return Napi::Number::New(info.Env(), fd);
  SysError failure(errno, "bpf(BPF_PROG_LOAD)");

  // The verifier log is asked for only now, to explain the failure: at level
  // 1 it lists the instructions of the path being verified, so a log buffer
  // on the first load could make a valid program fail with ENOSPC when its
  // log does not fit. The verifier is deterministic; this second load only
  // reads the log, and its outcome never replaces the first one's.
  std::vector<char> log(kVerifierLogSize, '\0');
  attr.log_level = 1;
  attr.log_size = static_cast<uint32_t>(log.size());
  attr.log_buf = Pointer(log.data());
  UniqueFd diagnostic_load(Bpf(BPF_PROG_LOAD, attr));  // closed should it succeed
  failure.set_verifier_log(std::string(log.data(), strnlen(log.data(), log.size())));
  throw failure;
}

Napi::Value BpfProgAttach(const Napi::CallbackInfo& info) {
  Args args(info, "bpfProgAttach", {"cgroupPath", "progFd", "flags", "replaceFd"});
  const std::string cgroup_path = args.String(0);
  const int prog_fd = FdArg(args, 1);
  const auto flags = static_cast<uint32_t>(args.Integer(2, 0, UINT32_MAX));
  const int replace_fd = static_cast<int>(args.Integer(3, -1, kMaxFd));
  const bool replacing = (flags & BPF_F_REPLACE) != 0;
  if (replacing && replace_fd < 0) args.ThrowRangeError(3, "a descriptor (>= 0) when flags has BPF_F_REPLACE (4)");
  if (!replacing && replace_fd != -1) args.ThrowRangeError(3, "-1 when flags lacks BPF_F_REPLACE (4)");

  UniqueFd cgroup = OpenCgroup(cgroup_path);
  bpf_attr attr{};
  attr.target_fd = static_cast<uint32_t>(cgroup.Get());
  attr.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = flags;
  if (replacing) attr.replace_bpf_fd = static_cast<uint32_t>(replace_fd);
  if (Bpf(BPF_PROG_ATTACH, attr) != 0) ThrowErrno("bpf(BPF_PROG_ATTACH)", cgroup_path);
  return info.Env().Undefined();
}

Napi::Value BpfProgDetach(const Napi::CallbackInfo& info) {
  Args args(info, "bpfProgDetach", {"cgroupPath", "progFd"});
  const std::string cgroup_path = args.String(0);
  const int prog_fd = FdArg(args, 1);

  UniqueFd cgroup = OpenCgroup(cgroup_path);
  bpf_attr attr{};
  attr.target_fd = static_cast<uint32_t>(cgroup.Get());
  attr.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  if (Bpf(BPF_PROG_DETACH, attr) != 0) ThrowErrno("bpf(BPF_PROG_DETACH)", cgroup_path);
  return info.Env().Undefined();
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Args args(info, "close", {"fd"});
  const int fd = FdArg(args, 0);
  if (::close(fd) != 0) ThrowErrno("close");
  return info.Env().Undefined();
}
