// Status and Result<T>: the error currency across every library boundary in Updraft.
//
// No exception escapes the engine's public API. A fallible function returns Status (no value) or
// Result<T> (a value or a Status). A Status that is not ok() carries a code and a message that
// names what failed, where, and why; messages never contain secrets.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace updraft {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad input: YAML, metadata, flags, script source
  kNotFound,            // a named thing does not exist (trigger type, target, file)
  kAlreadyExists,       // duplicate registration or object
  kUnavailable,         // a source could not be reached or answered with an error
  kTimeout,             // a deadline passed
  kFailedPrecondition,  // the call is not valid in the current state
  kScriptError,         // a Lua script failed
  kInternal,            // a bug or an unexpected environment failure
};

std::string_view statusCodeName(StatusCode code);

class Status {
 public:
  Status() = default;  // ok

  static Status ok() { return Status(); }
  static Status invalidArgument(std::string message) {
    return {StatusCode::kInvalidArgument, std::move(message)};
  }
  static Status notFound(std::string message) {
    return {StatusCode::kNotFound, std::move(message)};
  }
  static Status alreadyExists(std::string message) {
    return {StatusCode::kAlreadyExists, std::move(message)};
  }
  static Status unavailable(std::string message) {
    return {StatusCode::kUnavailable, std::move(message)};
  }
  static Status timeout(std::string message) { return {StatusCode::kTimeout, std::move(message)}; }
  static Status failedPrecondition(std::string message) {
    return {StatusCode::kFailedPrecondition, std::move(message)};
  }
  static Status scriptError(std::string message) {
    return {StatusCode::kScriptError, std::move(message)};
  }
  static Status internal(std::string message) {
    return {StatusCode::kInternal, std::move(message)};
  }

  bool isOk() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return isOk(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "InvalidArgument: <message>" (or "OK").
  std::string toString() const;

  // Returns a copy whose message is "<context>: <message>"; the code is kept.
  Status withContext(std::string_view context) const;

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value of T, or a non-ok Status. Access value() only after checking isOk().
template <typename T>
class Result {
 public:
  Result(T value) : data_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(data_).isOk() && "Result built from an ok Status has no value");
  }

  bool isOk() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return isOk(); }

  const Status& status() const {
    static const Status kOk;
    return isOk() ? kOk : std::get<Status>(data_);
  }

  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace updraft

// Returns early from a function returning Status or Result<U> when `expr` (a Status) failed.
#define UPDRAFT_RETURN_IF_ERROR(expr)                    \
  do {                                                   \
    ::updraft::Status updraft_status_ = (expr);          \
    if (!updraft_status_.isOk()) return updraft_status_; \
  } while (0)
