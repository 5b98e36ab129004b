#include "schedkit/kube/errors.h"

#include <string>

namespace schedkit::kube {

StatusCode codeForHttpStatus(int http_status, std::string_view reason) {
  switch (http_status) {
    case 400:
    case 415:
    case 422:
      return StatusCode::kInvalidArgument;
    case 401:
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 405:
    case 501:
      return StatusCode::kUnimplemented;
    case 409:
      return reason == "AlreadyExists" ? StatusCode::kAlreadyExists : StatusCode::kAborted;
    case 410:
      return StatusCode::kOutOfRange;
    case 413:
    case 429:
      return StatusCode::kResourceExhausted;
    case 500:
      return StatusCode::kInternal;
    case 502:
    case 503:
      return StatusCode::kUnavailable;
    case 504:
      return StatusCode::kDeadlineExceeded;
    default:
      break;
  }
  if (http_status >= 500) return StatusCode::kUnavailable;
  if (http_status >= 400) return StatusCode::kFailedPrecondition;
  return StatusCode::kUnknown;
}

namespace {

std::string reasonOr(std::string_view reason, int code) {
  if (!reason.empty()) return std::string(reason);
  switch (code) {
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "HTTP";
  }
}

Status make(int code, std::string_view reason, std::string_view message, std::string_view what) {
  std::string m(what);
  m += ": ";
  m += reasonOr(reason, code);
  m += " (";
  m += std::to_string(code);
  m += ")";
  if (!message.empty()) {
    m += ": ";
    m += message;
  }
  StatusCode sc = codeForHttpStatus(code, reason);
  // "Expired" (a continue token or resourceVersion too old) is a 410 by meaning, whatever the
  // code field says.
  if (reason == "Expired" || reason == "Gone") sc = StatusCode::kOutOfRange;
  return {sc, std::move(m)};
}

}  // namespace

Status statusFromObject(const nlohmann::json& st, std::string_view what) {
  int code = 500;
  std::string reason, message;
  if (st.is_object()) {
    if (st.contains("code") && st["code"].is_number_integer()) code = st["code"].get<int>();
    if (st.contains("reason") && st["reason"].is_string()) reason = st["reason"];
    if (st.contains("message") && st["message"].is_string()) message = st["message"];
  }
  return make(code, reason, message, what);
}

Status statusFromResponse(int http_status, std::string_view body, std::string_view what) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.value("kind", "") == "Status") {
    std::string reason = j.value("reason", "");
    std::string message = j.value("message", "");
    return make(http_status, reason, message, what);
  }
  std::string snippet(body.substr(0, 256));
  while (!snippet.empty() && (snippet.back() == '\n' || snippet.back() == '\r')) snippet.pop_back();
  return make(http_status, "", snippet, what);
}

}  // namespace schedkit::kube
