#pragma once

#include <map>
#include <string>

#include "attach/attacher.h"
#include "schedkit/common/logger.h"
#include "schedkit/os/filesystem.h"

struct bpf_link;

namespace schedkit::agent {

// Loads a bare sched_ext BPF object (SEC(".struct_ops.link") struct sched_ext_ops) with libbpf
// and pins its struct_ops link under /sys/fs/bpf/schedkit/, so the scheduler outlives the agent
// and a restarted agent can re-adopt it. Objects with a legacy ".struct_ops" map are refused:
// they would survive even an explicit detach.
class BpfObjectAttacher final : public Attacher {
 public:
  struct Options {
    std::string pinDir = "/sys/fs/bpf/schedkit";
  };
  BpfObjectAttacher(Filesystem& fs, const Logger& log, Options opts);
  ~BpfObjectAttacher() override;

  Result<Attachment> start(const LaunchSpec& spec) override;
  Status stop(const Attachment& a, bool force) override;
  bool running(const Attachment& a) override;
  void cleanup(const Attachment& a) override;
  Status watch(const Attachment&, std::function<void(const std::string&)>) override {
    return Status::ok();  // no process: the kernel's events say everything
  }
  std::string tail(const Attachment&, std::size_t) override { return ""; }

 private:
  Filesystem& fs_;
  const Logger& log_;
  Options o_;
  // Links we could not pin (no bpffs): held open here, so they die with the agent.
  std::map<std::string, bpf_link*> unpinned_;
};

// Reads the ops name an object declares, without loading it (for `schedkitctl image inspect`
// and tests). Errors say what is wrong with the object.
Result<std::string> readObjectOpsName(const std::string& path);

}  // namespace schedkit::agent
