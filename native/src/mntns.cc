#include "mntns.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "args.h"
#include "binding.h"
#include "container_path.h"
#include "node_ops.h"
#include "ns_thread.h"
#include "sys_error.h"

namespace {

constexpr int64_t kMaxPid = INT32_MAX;
constexpr int64_t kMaxMajor = (1 << 12) - 1;  // the kernel's dev_t: 12-bit major,
constexpr int64_t kMaxMinor = (1 << 20) - 1;  // 20-bit minor
constexpr int64_t kMaxMode = 07777;
constexpr int64_t kMaxId = UINT32_MAX - 1;  // (uid_t)-1 means "unchanged" to chown

ContainerPath ContainerPathArg(const Args& args, size_t index) {
  std::optional<ContainerPath> path = ParseContainerPath(args.String(index));
  if (!path) args.ThrowTypeError(index, "an absolute path whose last component is a name (not \".\" or \"..\")");
  return *path;
}

int PidArg(const Args& args, size_t index) { return static_cast<int>(args.Integer(index, 1, kMaxPid)); }

}  // namespace

Napi::Value NsMknod(const Napi::CallbackInfo& info) {
  Args args(info, "nsMknod", {"pid", "path", "kind", "major", "minor", "mode", "uid", "gid", "dirMode"});
  const int pid = PidArg(args, 0);
  const ContainerPath path = ContainerPathArg(args, 1);
  const std::string kind = args.String(2);
  if (kind != "c" && kind != "b") args.ThrowTypeError(2, "\"c\" or \"b\"");
  const mode_t type = kind == "c" ? S_IFCHR : S_IFBLK;
  const auto major = static_cast<unsigned>(args.Integer(3, 0, kMaxMajor));
  const auto minor = static_cast<unsigned>(args.Integer(4, 0, kMaxMinor));
  const auto mode = static_cast<mode_t>(args.Integer(5, 0, kMaxMode));
  const auto uid = static_cast<uid_t>(args.Integer(6, 0, kMaxId));
  const auto gid = static_cast<gid_t>(args.Integer(7, 0, kMaxId));
  const auto dir_mode = static_cast<mode_t>(args.Integer(8, 0, kMaxMode));

  const MknodSpec spec{path, type, major, minor, mode, uid, gid, dir_mode};
  RunInMountNamespace(pid, [&](const ContainerRoot& root) { MknodInRoot(root, spec); });
  return info.Env().Undefined();
}

Napi::Value NsStat(const Napi::CallbackInfo& info) {
  Args args(info, "nsStat", {"pid", "path"});
  const int pid = PidArg(args, 0);
  const ContainerPath path = ContainerPathArg(args, 1);

  struct stat st {};
  RunInMountNamespace(pid, [&](const ContainerRoot& root) { st = StatInRoot(root, path); });
  return StatToObject(info.Env(), st);
}

Napi::Value NsUnlink(const Napi::CallbackInfo& info) {
  Args args(info, "nsUnlink", {"pid", "path"});
  const int pid = PidArg(args, 0);
  const ContainerPath path = ContainerPathArg(args, 1);

  RunInMountNamespace(pid, [&](const ContainerRoot& root) { UnlinkInRoot(root, path); });
  return info.Env().Undefined();
}

Napi::Value NsChmod(const Napi::CallbackInfo& info) {
  Args args(info, "nsChmod", {"pid", "path", "mode"});
  const int pid = PidArg(args, 0);
  const ContainerPath path = ContainerPathArg(args, 1);
  const auto mode = static_cast<mode_t>(args.Integer(2, 0, kMaxMode));

  RunInMountNamespace(pid, [&](const ContainerRoot& root) { ChmodInRoot(root, path, mode); });
  return info.Env().Undefined();
}

Napi::Value NsChown(const Napi::CallbackInfo& info) {
  Args args(info, "nsChown", {"pid", "path", "uid", "gid"});
  const int pid = PidArg(args, 0);
  const ContainerPath path = ContainerPathArg(args, 1);
  const auto uid = static_cast<uid_t>(args.Integer(2, 0, kMaxId));
  const auto gid = static_cast<gid_t>(args.Integer(3, 0, kMaxId));

  RunInMountNamespace(pid, [&](const ContainerRoot& root) { ChownInRoot(root, path, uid, gid); });
  return info.Env().Undefined();
}

namespace {

// Reads one element of nsBatch's ops array with the same exactness as Args.
class OpFields {
 public:
  OpFields(Napi::Env env, Napi::Value value, size_t index) : env_(env), where_("nsBatch: ops[" + std::to_string(index) + "]") {
    if (!value.IsObject() || value.IsArray()) throw Napi::TypeError::New(env_, where_ + " must be an object");
    object_ = value.As<Napi::Object>();
  }

  std::string String(const char* key) const {
    Napi::Value v = object_.Get(key);
    if (!v.IsString()) throw Napi::TypeError::New(env_, Name(key) + " must be a string");
    std::string text = v.As<Napi::String>().Utf8Value();
    if (text.empty() || text.find('\0') != std::string::npos) throw Napi::TypeError::New(env_, Name(key) + " must be a non-empty string without NUL");
    return text;
  }

  int64_t Integer(const char* key, int64_t min, int64_t max) const {
    Napi::Value v = object_.Get(key);
    if (!v.IsNumber()) throw Napi::TypeError::New(env_, Name(key) + " must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || d != static_cast<double>(static_cast<int64_t>(d))) {
      throw Napi::RangeError::New(env_, Name(key) + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return static_cast<int64_t>(d);
  }

  bool Has(const char* key) const { return !object_.Get(key).IsUndefined(); }

  ContainerPath Path() const {
    std::optional<ContainerPath> path = ParseContainerPath(String("path"));
    if (!path) throw Napi::TypeError::New(env_, Name("path") + " must be an absolute path whose last component is a name");
    return *path;
  }

 private:
  std::string Name(const char* key) const { return where_ + "." + key; }

  Napi::Env env_;
  std::string where_;
  Napi::Object object_;
};

// "Only if it is this device": lets an unlink never remove something the
// container put at the path instead, with no window between check and act
// on our side.
struct DeviceMatch {
  mode_t type;
  unsigned major;
  unsigned minor;
};

struct BatchOp {
  enum class Kind { kStat, kMknod, kUnlink } kind;
  ContainerPath path;
  MknodSpec mknod;                      // only for kMknod
  std::optional<DeviceMatch> if_device;  // only for kUnlink
};

struct BatchResult {
  std::optional<SysError> error;
  std::optional<struct stat> st;
  std::optional<bool> removed;
};

mode_t NodeType(Napi::Env env, const std::string& kind, size_t index) {
  if (kind != "c" && kind != "b") throw Napi::TypeError::New(env, "nsBatch: ops[" + std::to_string(index) + "].kind must be \"c\" or \"b\"");
  return kind == "c" ? S_IFCHR : S_IFBLK;
}

BatchOp ParseOp(Napi::Env env, Napi::Value value, size_t index) {
  const OpFields fields(env, value, index);
  const std::string op = fields.String("op");
  if (op == "stat") return {BatchOp::Kind::kStat, fields.Path(), {}, std::nullopt};
  if (op == "unlink") {
    const ContainerPath path = fields.Path();
    if (!fields.Has("kind")) return {BatchOp::Kind::kUnlink, path, {}, std::nullopt};
    const DeviceMatch match{NodeType(env, fields.String("kind"), index),
                            static_cast<unsigned>(fields.Integer("major", 0, kMaxMajor)),
                            static_cast<unsigned>(fields.Integer("minor", 0, kMaxMinor))};
    return {BatchOp::Kind::kUnlink, path, {}, match};
  }
  if (op != "mknod") throw Napi::TypeError::New(env, "nsBatch: ops[" + std::to_string(index) + "].op must be \"stat\", \"mknod\" or \"unlink\"");
  const mode_t type = NodeType(env, fields.String("kind"), index);
  const ContainerPath path = fields.Path();
  MknodSpec spec{path,
                 type,
                 static_cast<unsigned>(fields.Integer("major", 0, kMaxMajor)),
                 static_cast<unsigned>(fields.Integer("minor", 0, kMaxMinor)),
                 static_cast<mode_t>(fields.Integer("mode", 0, kMaxMode)),
                 static_cast<uid_t>(fields.Integer("uid", 0, kMaxId)),
                 static_cast<gid_t>(fields.Integer("gid", 0, kMaxId)),
                 static_cast<mode_t>(fields.Integer("dirMode", 0, kMaxMode))};
  return {BatchOp::Kind::kMknod, path, spec, std::nullopt};
}

bool IsDevice(const struct stat& st, const DeviceMatch& match) {
  return (st.st_mode & S_IFMT) == match.type && major(st.st_rdev) == match.major && minor(st.st_rdev) == match.minor;
}

void RunOp(const ContainerRoot& root, const BatchOp& op, BatchResult& result) {
  switch (op.kind) {
    case BatchOp::Kind::kStat:
      result.st = StatInRoot(root, op.path);
      return;
    case BatchOp::Kind::kMknod:
      try {
        MknodInRoot(root, op.mknod);
      } catch (const SysError& error) {
        // Say what is in the way, so the caller can tell "already there" from a conflict.
        if (error.err() == EEXIST) result.st = StatInRoot(root, op.path);
        throw;
      }
      result.st = StatInRoot(root, op.path);
      return;
    case BatchOp::Kind::kUnlink:
      if (op.if_device) {
        result.st = StatInRoot(root, op.path);
        result.removed = IsDevice(*result.st, *op.if_device);
        if (!*result.removed) return;
      }
      UnlinkInRoot(root, op.path);
      return;
  }
}

constexpr size_t kMaxBatch = 4096;

}  // namespace

// One thread, one setns, many independent operations: a grant of N devices
// costs one namespace entry instead of N. Every operation is attempted and
// reports its own outcome; what to do about a failure is decided in TS.
Napi::Value NsBatch(const Napi::CallbackInfo& info) {
  Args args(info, "nsBatch", {"pid", "ops"});
  const int pid = PidArg(args, 0);
  if (!info[1].IsArray()) args.ThrowTypeError(1, "an array of operations");
  const Napi::Array array = info[1].As<Napi::Array>();
  if (array.Length() > kMaxBatch) args.ThrowRangeError(1, "at most " + std::to_string(kMaxBatch) + " operations");
  std::vector<BatchOp> ops;
  ops.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) ops.push_back(ParseOp(info.Env(), array.Get(i), i));

  std::vector<BatchResult> results(ops.size());
  RunInMountNamespace(pid, [&](const ContainerRoot& root) {
    for (size_t i = 0; i < ops.size(); i++) {
      try {
        RunOp(root, ops[i], results[i]);
      } catch (const SysError& error) {
        results[i].error = error;
      }
    }
  });

  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, ops.size());
  for (size_t i = 0; i < ops.size(); i++) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("ok", !results[i].error.has_value());
    if (results[i].error) entry.Set("error", ToNativeError(env, *results[i].error).Value());
    if (results[i].st) entry.Set("stat", StatToObject(env, *results[i].st));
    if (results[i].removed) entry.Set("removed", *results[i].removed);
    out.Set(static_cast<uint32_t>(i), entry);
  }
  return out;
}
