#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace schedkit {

// Canonical error space; close to absl/gRPC codes so they map onto the agent's gRPC API 1:1.
enum class StatusCode {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
};

std::string_view statusCodeName(StatusCode code);

// An expected failure, as a value. Errors are never thrown across module boundaries.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool isOk() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes the message with where it happened: "reading policy: spec.priority: ...".
  Status withContext(std::string_view context) const;
  std::string toString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status invalidArgument(std::string message);
Status notFound(std::string message);
Status alreadyExists(std::string message);
Status permissionDenied(std::string message);
Status failedPrecondition(std::string message);
Status unavailable(std::string message);
Status internalError(std::string message);
Status resourceExhausted(std::string message);
Status deadlineExceeded(std::string message);
Status aborted(std::string message);
Status unimplemented(std::string message);
Status dataLoss(std::string message);
Status cancelled(std::string message);

// Converts an errno value (positive or libbpf-style negative) into a Status with context,
// e.g. fromErrno(-EBUSY, "attaching struct_ops") -> kUnavailable "attaching struct_ops: Device or
// resource busy (EBUSY)".
Status fromErrno(int err, std::string_view context);

// A value or the reason there is none.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> makes no sense");

 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).isOk() && "Result built from an OK status has no value");
  }

  bool isOk() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return isOk(); }

  const Status& status() const {
    static const Status kOkStatus;
    return isOk() ? kOkStatus : std::get<Status>(v_);
  }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T valueOr(T fallback) const& { return isOk() ? std::get<T>(v_) : std::move(fallback); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace schedkit

#define SK_CONCAT_INNER_(a, b) a##b
#define SK_CONCAT_(a, b) SK_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function when expr is not OK.
#define SK_RETURN_IF_ERROR(expr)                                   \
  do {                                                             \
    ::schedkit::Status sk_status_ = (expr);                        \
    if (!sk_status_.isOk()) return sk_status_;                     \
  } while (0)

// Declares/assigns lhs from a Result, or returns its Status.
#define SK_ASSIGN_OR_RETURN(lhs, expr) \
  SK_ASSIGN_OR_RETURN_IMPL_(SK_CONCAT_(sk_result_, __LINE__), lhs, expr)
#define SK_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.isOk()) return tmp.status();           \
  lhs = std::move(tmp).value()
