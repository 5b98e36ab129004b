#include "node/node_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "grpc/convert.h"
#include "schedkit/common/duration.h"

namespace schedkit::cli {

namespace {
std::chrono::system_clock::time_point deadlineIn(Duration d) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
}
}  // namespace

Status probeAgentSocket(const std::string& path) {
  const std::string hint =
      "no schedkit agent socket at " + path + " (is the agent running with --grpc-socket?)";
  const std::string denied =
      "permission denied on " + path + ": the agent socket is root-only; run as root";
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return unavailable(hint);
    if (errno == EACCES) return permissionDenied(denied);
    return fromErrno(errno, "stat " + path);
  }
  if (!S_ISSOCK(sb.st_mode)) return failedPrecondition(path + " is not a socket");
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return invalidArgument("--socket " + path + " is too long for a unix socket path");
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fromErrno(errno, "socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  ::close(fd);
  if (rc == 0 || err == EAGAIN || err == EINPROGRESS) return Status::ok();
  if (err == EACCES || err == EPERM) return permissionDenied(denied);
  if (err == ECONNREFUSED) {
    return unavailable("nothing accepts connections on " + path +
                       " (a stale socket: is the agent running?)");
  }
  if (err == ENOENT) return unavailable(hint);
  return fromErrno(err, "connecting to " + path);
}

Status callError(const grpc::Status& s, const std::string& socket, Duration timeout) {
  switch (s.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return deadlineExceeded("the agent at " + socket + " did not answer within " +
                              formatDuration(timeout) +
                              (s.error_message().empty() || s.error_message() == "Deadline Exceeded"
                                   ? ""
                                   : ": " + s.error_message()));
    case grpc::StatusCode::UNAVAILABLE:
      return unavailable("cannot reach the agent at " + socket + ": " + s.error_message());
    default:
      return agent::grpcapi::fromGrpc(s);
  }
}

NodeClient::NodeClient(std::string socket, Duration timeout)
    : socket_(std::move(socket)), timeout_(timeout) {}

Status NodeClient::ready() {
  if (stub_) return Status::ok();
  SK_RETURN_IF_ERROR(probeAgentSocket(socket_));
  channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
  stub_ = pb::AgentService::NewStub(channel_);
  return Status::ok();
}

Result<pb::NodeStatus> NodeClient::status() {
  SK_RETURN_IF_ERROR(ready());
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(timeout_));
  pb::NodeStatus out;
  grpc::Status s = stub_->GetNodeStatus(&ctx, pb::GetNodeStatusRequest{}, &out);
  if (!s.ok()) return callError(s, socket_, timeout_);
  return out;
}

Result<pb::AttachResponse> NodeClient::attach(pb::AttachRequest req, Duration wait) {
  SK_RETURN_IF_ERROR(ready());
  if (wait <= Duration::zero()) req.set_no_wait(true);
  Duration limit = req.no_wait() ? timeout_ : wait;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(limit));
  pb::AttachResponse out;
  grpc::Status s = stub_->Attach(&ctx, req, &out);
  if (!s.ok()) return callError(s, socket_, limit);
  return out;
}

Result<pb::DetachResponse> NodeClient::detach(pb::DetachRequest req, Duration wait) {
  SK_RETURN_IF_ERROR(ready());
  if (wait <= Duration::zero()) req.set_no_wait(true);
  Duration limit = req.no_wait() ? timeout_ : wait;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(limit));
  pb::DetachResponse out;
  grpc::Status s = stub_->Detach(&ctx, req, &out);
  if (!s.ok()) return callError(s, socket_, limit);
  return out;
}

Status NodeClient::watch(bool includeRecent,
                         const std::function<bool(const pb::NodeEvent&)>& onEvent) {
  SK_RETURN_IF_ERROR(ready());
  // The stream itself has no deadline; the agent must accept the connection within the timeout
  // (and answers the call's start at once, bounded by its own wait for the node loop).
  if (!channel_->WaitForConnected(deadlineIn(timeout_))) {
    return deadlineExceeded("the agent at " + socket_ + " did not answer within " +
                            formatDuration(timeout_));
  }
  grpc::ClientContext ctx;
  pb::WatchEventsRequest req;
  req.set_include_recent(includeRecent);
  auto reader = stub_->WatchEvents(&ctx, req);
  pb::NodeEvent e;
  while (reader->Read(&e)) {
    if (!onEvent(e)) {
      ctx.TryCancel();
      (void)reader->Finish();
      return Status::ok();
    }
  }
  grpc::Status s = reader->Finish();
  if (s.ok()) return unavailable("the agent ended the event stream");
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return unavailable("the agent at " + socket_ + " ended the event stream: " + s.error_message());
  }
  return callError(s, socket_, timeout_);
}

}  // namespace schedkit::cli
