#include "args.h"

#include <cmath>

namespace {

const char* TypedArrayName(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "typed array";
  }
}

// What the caller passed, for the error message.
std::string Describe(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return value.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: return value.ToString().Utf8Value();
    case napi_string: {
      std::string text = value.As<Napi::String>().Utf8Value();
      std::string shown;
      for (char c : text.substr(0, 64)) shown += c == '\0' ? std::string("\\0") : std::string(1, c);
      return "\"" + shown + (text.size() > 64 ? "...\"" : "\"");
    }
    case napi_symbol: return "a symbol";
    case napi_bigint: return "a bigint";
    case napi_function: return "a function";
    case napi_object:
      if (value.IsArray()) return "an array";
      if (value.IsTypedArray()) {
        const auto array = value.As<Napi::TypedArray>();
        return std::string("a ") + TypedArrayName(array.TypedArrayType()) + " of " +
               std::to_string(array.ByteLength()) + " bytes";
      }
      return "an object";
    default: return "an unknown value";
  }
}

}  // namespace

Args::Args(const Napi::CallbackInfo& info, const char* function, std::initializer_list<const char*> names)
    : info_(info), function_(function), names_(names) {
  if (info.Length() == names_.size()) return;
  std::string signature;
  for (const char* name : names_) signature += (signature.empty() ? "" : ", ") + std::string(name);
  throw Napi::TypeError::New(info.Env(), std::string(function_) + "(" + signature + ") takes " +
                                             std::to_string(names_.size()) + " arguments, got " +
                                             std::to_string(info.Length()));
}

std::string Args::Problem(size_t index, const std::string& requirement) const {
  return std::string(function_) + ": " + names_.at(index) + " must be " + requirement + ", got " +
         Describe(info_[index]);
}

void Args::ThrowTypeError(size_t index, const std::string& requirement) const {
  throw Napi::TypeError::New(info_.Env(), Problem(index, requirement));
}

void Args::ThrowRangeError(size_t index, const std::string& requirement) const {
  throw Napi::RangeError::New(info_.Env(), Problem(index, requirement));
}

int64_t Args::Integer(size_t index, int64_t min, int64_t max) const {
  const std::string requirement = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (!info_[index].IsNumber()) ThrowTypeError(index, requirement);
  double value = info_[index].As<Napi::Number>().DoubleValue();
  // Compared as doubles first so that no out-of-range double is ever cast.
  if (!std::isfinite(value) || std::trunc(value) != value || value < static_cast<double>(min) ||
      value > static_cast<double>(max)) {
    ThrowRangeError(index, requirement);
  }
  return static_cast<int64_t>(value);
}

std::string Args::String(size_t index) const {
  const char* requirement = "a non-empty string without NUL characters";
  if (!info_[index].IsString()) ThrowTypeError(index, requirement);
  std::string value = info_[index].As<Napi::String>().Utf8Value();
  if (value.empty() || value.find('\0') != std::string::npos) ThrowTypeError(index, requirement);
  return value;
}

std::string Args::StringOrEmpty(size_t index) const {
  const char* requirement = "a string without NUL characters";
  if (!info_[index].IsString()) ThrowTypeError(index, requirement);
  std::string value = info_[index].As<Napi::String>().Utf8Value();
  if (value.find('\0') != std::string::npos) ThrowTypeError(index, requirement);
  return value;
}

Napi::Uint8Array Args::Bytes(size_t index) const {
  const Napi::Value value = info_[index];
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTypeError(index, "a Uint8Array");
  }
  return value.As<Napi::Uint8Array>();
}
