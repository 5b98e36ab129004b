#include "schedkit/common/status.h"

#include <cerrno>
#include <cstring>

namespace schedkit {

std::string_view statusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kCancelled: return "CANCELLED";
    case StatusCode::kUnknown: return "UNKNOWN";
    case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case StatusCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case StatusCode::kNotFound: return "NOT_FOUND";
    case StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case StatusCode::kAborted: return "ABORTED";
    case StatusCode::kOutOfRange: return "OUT_OF_RANGE";
    case StatusCode::kUnimplemented: return "UNIMPLEMENTED";
    case StatusCode::kInternal: return "INTERNAL";
    case StatusCode::kUnavailable: return "UNAVAILABLE";
    case StatusCode::kDataLoss: return "DATA_LOSS";
  }
  return "UNKNOWN";
}

Status Status::withContext(std::string_view context) const {
  if (isOk()) return *this;
  std::string m(context);
  m += ": ";
  m += message_;
  return {code_, std::move(m)};
}

std::string Status::toString() const {
  if (isOk()) return "OK";
  std::string s(statusCodeName(code_));
  s += ": ";
  s += message_;
  return s;
}

Status invalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
Status notFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
Status alreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
Status permissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
Status failedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
Status internalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
Status resourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
Status deadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
Status aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
Status unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
Status dataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
Status cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }

namespace {
StatusCode codeForErrno(int e) {
  switch (e) {
    case ENOENT: case ESRCH: return StatusCode::kNotFound;
    case EEXIST: return StatusCode::kAlreadyExists;
    case EPERM: case EACCES: return StatusCode::kPermissionDenied;
    case EINVAL: case E2BIG: case ENAMETOOLONG: return StatusCode::kInvalidArgument;
    case EBUSY: case EAGAIN: case ECONNREFUSED: case ECONNRESET: return StatusCode::kUnavailable;
    case ENOMEM: case ENOSPC: case EMFILE: case ENFILE: return StatusCode::kResourceExhausted;
    case ETIMEDOUT: return StatusCode::kDeadlineExceeded;
    case ENOTSUP: case ENOSYS: return StatusCode::kUnimplemented;
    case EINTR: case ECANCELED: return StatusCode::kCancelled;
    default: return StatusCode::kInternal;
  }
}
}  // namespace

Status fromErrno(int err, std::string_view context) {
  int e = err < 0 ? -err : err;
  std::string m(context);
  m += ": ";
  m += std::strerror(e);
  const char* name = strerrorname_np(e);
  if (name != nullptr) {
    m += " (";
    m += name;
    m += ")";
  }
  return {codeForErrno(e), std::move(m)};
}

}  // namespace schedkit
