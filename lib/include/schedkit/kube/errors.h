#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "schedkit/common/status.h"

namespace schedkit::kube {

// API errors as Status values. The server's metav1.Status (reason, message) is kept in the
// message, e.g. `PUT /apis/...: Conflict (409): Operation cannot be fulfilled on ...`:
//   404 NotFound                → kNotFound
//   409 AlreadyExists           → kAlreadyExists
//   409 Conflict (and others)   → kAborted           (optimistic concurrency: re-read, retry)
//   410 Gone / Expired          → kOutOfRange        (resourceVersion too old: re-list)
//   400, 415, 422 Invalid       → kInvalidArgument   (the server's field errors in the message)
//   401 Unauthorized, 403       → kPermissionDenied
//   429 TooManyRequests, 413    → kResourceExhausted
//   500                         → kInternal;  503, 502 → kUnavailable;  504 → kDeadlineExceeded
//   405, 501                    → kUnimplemented
StatusCode codeForHttpStatus(int http_status, std::string_view reason = {});
// `what` names the request ("GET /api/v1/nodes/n1"); body may be a metav1.Status or anything.
Status statusFromResponse(int http_status, std::string_view body, std::string_view what);
// A metav1.Status object as found in watch ERROR events.
Status statusFromObject(const nlohmann::json& status, std::string_view what);

inline bool isNotFound(const Status& s) { return s.code() == StatusCode::kNotFound; }
inline bool isAlreadyExists(const Status& s) { return s.code() == StatusCode::kAlreadyExists; }
inline bool isConflict(const Status& s) { return s.code() == StatusCode::kAborted; }
inline bool isGone(const Status& s) { return s.code() == StatusCode::kOutOfRange; }
inline bool isInvalid(const Status& s) { return s.code() == StatusCode::kInvalidArgument; }
inline bool isForbidden(const Status& s) { return s.code() == StatusCode::kPermissionDenied; }

}  // namespace schedkit::kube
