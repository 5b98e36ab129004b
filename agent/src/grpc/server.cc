#include "grpc/server.h"

#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace schedkit::agent::grpcapi {

Status prepareSocketPath(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return invalidArgument("--grpc-socket must be an absolute path: \"" + path + "\"");
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return invalidArgument("--grpc-socket " + path + " is longer than a unix socket path may be (" +
                           std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");
  }
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (ec) return fromErrno(ec.value(), "creating " + parent.string());
    ::chmod(parent.c_str(), 0755);
  }
  struct stat sb {};
  if (::lstat(path.c_str(), &sb) != 0) {
    if (errno == ENOENT) return Status::ok();
    return fromErrno(errno, "stat " + path);
  }
  if (!S_ISSOCK(sb.st_mode)) {
    return failedPrecondition("--grpc-socket " + path +
                              " exists and is not a socket; refusing to replace it");
  }
  // A socket file: stale (left by an agent that died) unless someone still accepts on it.
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fromErrno(errno, "socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  ::close(fd);
  if (rc == 0) {
    return alreadyExists("another process serves " + path + " (is another agent running?)");
  }
  if (err != ECONNREFUSED && err != ENOENT) return fromErrno(err, "probing " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return fromErrno(errno, "removing the stale socket " + path);
  }
  return Status::ok();
}

Result<std::unique_ptr<GrpcServer>> GrpcServer::start(const GrpcServerOptions& o,
                                                      grpc::Service* service, const Logger& log) {
  SK_RETURN_IF_ERROR(prepareSocketPath(o.socketPath));
  grpc::ServerBuilder b;
  b.AddListeningPort("unix:" + o.socketPath, grpc::InsecureServerCredentials());
  b.RegisterService(service);
  grpc::ResourceQuota quota("schedkit-agent");
  quota.SetMaxThreads(o.maxThreads);
  b.SetResourceQuota(quota);
  // The socket must never be reachable by others, not even between bind() and chmod().
  mode_t old = ::umask(0177);
  std::unique_ptr<grpc::Server> s = b.BuildAndStart();
  ::umask(old);
  if (!s) {
    return unavailable("cannot serve gRPC on unix:" + o.socketPath + " (gRPC logged why above)");
  }
  if (::chmod(o.socketPath.c_str(), 0600) != 0) {
    Status st = fromErrno(errno, "chmod 0600 " + o.socketPath);
    s->Shutdown();
    return st;
  }
  log.info("gRPC API serving", {{"socket", o.socketPath}});
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(s), o.socketPath));
}

void GrpcServer::shutdown(Duration grace) {
  if (down_) return;
  down_ = true;
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(grace));
  server_->Wait();
  ::unlink(path_.c_str());
}

GrpcServer::~GrpcServer() { shutdown(std::chrono::seconds(1)); }

}  // namespace schedkit::agent::grpcapi
