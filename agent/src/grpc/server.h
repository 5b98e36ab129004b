#pragma once

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/common/status.h"

namespace schedkit::agent::grpcapi {

// Makes `path` ready for a listening unix socket: creates the parent directory (0755) when
// missing, removes a stale socket (nobody accepts on it), and refuses a path that is not a socket
// (FAILED_PRECONDITION) or a socket another process still serves (ALREADY_EXISTS).
Status prepareSocketPath(const std::string& path);

struct GrpcServerOptions {
  std::string socketPath;  // served as grpc's "unix:PATH"
  int maxThreads = 16;     // gRPC's sync threads (each WatchEvents stream holds one)
};

// A gRPC server on a root-only unix socket: created under umask 0177 and chmod'ed 0600, owned
// by the agent's user (root on a node). Serves on gRPC's own threads.
class GrpcServer {
 public:
  static Result<std::unique_ptr<GrpcServer>> start(const GrpcServerOptions& o,
                                                   grpc::Service* service, const Logger& log);
  ~GrpcServer();
  // Stops accepting, cancels what is still running after `grace`, removes the socket.
  void shutdown(Duration grace);
  const std::string& socketPath() const { return path_; }

 private:
  GrpcServer(std::unique_ptr<grpc::Server> s, std::string path)
      : server_(std::move(s)), path_(std::move(path)) {}
  std::unique_ptr<grpc::Server> server_;
  std::string path_;
  bool down_ = false;
};

}  // namespace schedkit::agent::grpcapi
