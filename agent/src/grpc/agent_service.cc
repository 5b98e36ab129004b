#include "grpc/agent_service.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "schedkit/common/duration.h"
#include "schedkit/policy/decode.h"

namespace schedkit::agent::grpcapi {

namespace {

constexpr const char* kDefaultName = "schedkitctl";
constexpr const char* kClusterMode =
    "in cluster mode, apply a SchedulerPolicy with kubectl (Attach and Detach work only when the "
    "agent reads policies from a directory, --policy-file)";
constexpr const char* kHeader =
    "# Written by schedkit-agent for `schedkitctl node attach` (gRPC Attach);\n"
    "# `schedkitctl node detach --name NAME` removes it.\n";

bool isPolicyFileName(const std::string& n) {
  auto ends = [&](std::string_view s) {
    return n.size() > s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0;
  };
  return !n.empty() && n[0] != '.' && (ends(".yaml") || ends(".yml") || ends(".json"));
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

// The policies each file of the directory defines (files that do not parse are skipped: the
// agent itself keeps its last good set for them).
std::vector<std::pair<std::string, std::vector<std::string>>> policyFiles(const Filesystem& fs,
                                                                          const std::string& dir) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  auto names = fs.listDir(dir);
  if (!names.isOk()) return out;
  for (const auto& n : *names) {
    if (!isPolicyFileName(n)) continue;
    std::string path = join(dir, n);
    if (fs.isDirectory(path)) continue;
    auto text = fs.readFile(path, 4u << 20);
    if (!text.isOk()) continue;
    auto ps = policy::parsePolicies(*text);
    if (!ps.isOk()) continue;
    std::vector<std::string> defined;
    for (const auto& p : *ps) defined.push_back(p.metadata.name);
    out.emplace_back(path, std::move(defined));
  }
  return out;
}

std::int64_t observedGeneration(const policy::SchedulerNodeStateStatus& st,
                                const std::string& name) {
  for (const auto& o : st.observedPolicies) {
    if (o.name == name) return o.generation;
  }
  return 0;
}

bool transitional(policy::NodePhase p) {
  return p == policy::NodePhase::kAttaching || p == policy::NodePhase::kPulling;
}

}  // namespace

// ---- LoopNodeAccess ----

Status LoopNodeAccess::run(const std::function<void(const policy::SchedulerNodeStateStatus&)>& fn,
                           Duration timeout) {
  auto call = std::make_shared<Call>();
  {
    std::lock_guard l(mu_);
    if (closed_) return unavailable("the agent is shutting down");
  }
  // fn runs under mu_, and only if the caller still waits: it may reference the caller's frame.
  const auto* fnp = &fn;
  loop_.post([this, call, fnp] {
    std::lock_guard l(mu_);
    if (call->abandoned) return;
    (*fnp)(status_());
    call->done = true;
    cv_.notify_all();
  });
  std::unique_lock l(mu_);
  cv_.wait_until(l, clock_.now() + timeout, [&] { return call->done || closed_; });
  if (call->done) return Status::ok();
  call->abandoned = true;
  if (closed_) return unavailable("the agent is shutting down");
  return deadlineExceeded("the node loop did not answer within " + formatDuration(timeout));
}

void LoopNodeAccess::close() {
  {
    std::lock_guard l(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

// ---- policy files ----

Result<PolicyFile> policyFileFor(const pb::AttachRequest& req) {
  PolicyFile out;
  if (req.has_scheduler()) {
    const auto& s = req.scheduler();
    out.name = req.name().empty() ? kDefaultName : req.name();
    if (std::string why; !policy::isDnsSubdomain(out.name, &why)) {
      return invalidArgument("name \"" + out.name + "\": " + why);
    }
    nlohmann::ordered_json sched = nlohmann::ordered_json::object();
    if (!s.image().empty()) sched["image"] = s.image();
    if (!s.host_path().empty()) sched["hostPath"] = s.host_path();
    if (!s.type().empty()) sched["type"] = s.type();
    if (s.args_size() > 0)
      sched["args"] = std::vector<std::string>(s.args().begin(), s.args().end());
    nlohmann::ordered_json spec = {{"scheduler", sched}};
    if (!s.mode().empty()) spec["mode"] = s.mode();
    nlohmann::ordered_json doc = {{"apiVersion", policy::kApiVersion},
                                  {"kind", policy::kPolicyKind},
                                  {"metadata", {{"name", out.name}}},
                                  {"spec", spec}};
    out.content = std::string(kHeader) + doc.dump(2) + "\n";
  } else if (req.has_policy_yaml()) {
    out.content = std::string(kHeader) + req.policy_yaml();
    if (!out.content.empty() && out.content.back() != '\n') out.content += "\n";
  } else {
    return invalidArgument("give a scheduler (image or hostPath) or a policy document");
  }
  auto ps = policy::parsePolicies(out.content);
  if (!ps.isOk()) return invalidArgument(ps.status().message());
  if (ps->size() != 1) {
    return invalidArgument("the policy document must hold exactly one SchedulerPolicy (it has " +
                           std::to_string(ps->size()) + ")");
  }
  const auto& p = ps->front();
  if (req.has_policy_yaml()) {
    if (!req.name().empty() && req.name() != p.metadata.name) {
      return invalidArgument("name \"" + req.name() +
                             "\" does not match the policy's metadata.name \"" + p.metadata.name +
                             "\"");
    }
    out.name = p.metadata.name;
  }
  out.spec = p.spec;
  return out;
}

// ---- the service ----

AgentServiceImpl::AgentServiceImpl(AgentServiceDeps deps, AgentServiceOptions opts)
    : d_(deps), o_(std::move(opts)) {}

MonoTime AgentServiceImpl::waitDeadline(grpc::ServerContext* ctx) const {
  MonoTime now = d_.clock.now();
  MonoTime limit = now + o_.maxWait;
  auto left = ctx->deadline() - std::chrono::system_clock::now();
  if (left < o_.maxWait) {
    // Reply a little before the client gives up: a tenth of the time left, at most the margin.
    Duration margin =
        std::min<Duration>(o_.replyMargin, std::chrono::duration_cast<Duration>(left) / 10);
    limit = now + std::chrono::duration_cast<Duration>(left) - margin;
  }
  return limit;
}

Result<policy::SchedulerNodeStateStatus> AgentServiceImpl::snapshot(grpc::ServerContext* ctx) {
  Duration timeout = o_.loopTimeout;
  auto left =
      std::chrono::duration_cast<Duration>(ctx->deadline() - std::chrono::system_clock::now());
  if (left < timeout) timeout = std::max<Duration>(left, Duration::zero());
  policy::SchedulerNodeStateStatus st;
  SK_RETURN_IF_ERROR(
      d_.node.run([&](const policy::SchedulerNodeStateStatus& s) { st = s; }, timeout));
  return st;
}

pb::NodeStatus AgentServiceImpl::decorate(const policy::SchedulerNodeStateStatus& st) const {
  pb::NodeStatus out = toProto(st);
  out.set_node_name(o_.nodeName);
  out.set_mode(o_.standalone ? "standalone" : "cluster");
  return out;
}

grpc::Status AgentServiceImpl::GetNodeStatus(grpc::ServerContext* ctx,
                                             const pb::GetNodeStatusRequest*, pb::NodeStatus* out) {
  auto st = snapshot(ctx);
  if (!st.isOk()) return toGrpc(st.status());
  *out = decorate(*st);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::WatchEvents(grpc::ServerContext* ctx,
                                           const pb::WatchEventsRequest* req,
                                           grpc::ServerWriter<pb::NodeEvent>* w) {
  if (d_.hub.watchers() >= o_.maxWatchers) {
    return toGrpc(resourceExhausted("too many event watchers (" + std::to_string(o_.maxWatchers) +
                                    "); try again later"));
  }
  // Subscribe on the node loop while copying the recent events: each event is then either in
  // the copy or in the queue, never both and never neither.
  EventQueuePtr q;
  std::vector<policy::NodeEvent> recent;
  Status s = d_.node.run(
      [&](const policy::SchedulerNodeStateStatus& st) {
        q = d_.hub.subscribe();
        recent = st.recentEvents;
      },
      o_.loopTimeout);
  if (!s.isOk()) {
    if (q) d_.hub.unsubscribe(q);
    return toGrpc(s);
  }
  d_.log.debug("event watcher connected", {{"peer", ctx->peer()}});
  w->SendInitialMetadata();  // the client knows the stream is up before any event
  grpc::Status result = grpc::Status::OK;
  if (req->include_recent()) {
    for (auto it = recent.rbegin(); it != recent.rend(); ++it) {  // oldest first
      pb::NodeEvent e = toProto(*it);
      e.set_recent(true);
      if (!w->Write(e)) {
        d_.hub.unsubscribe(q);
        return grpc::Status::OK;
      }
    }
  }
  while (!ctx->IsCancelled()) {
    // The sync API cannot wake on cancellation: look at it every second.
    auto e = q->pop(d_.clock.now() + std::chrono::seconds(1));
    if (!e) {
      if (q->closed()) {
        result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the agent is shutting down");
        break;
      }
      continue;
    }
    if (e->dropped() != 0) {
      d_.log.warn("event watcher too slow: messages dropped",
                  {{"peer", ctx->peer()}, {"dropped", static_cast<unsigned long>(e->dropped())}});
    }
    if (!w->Write(*e)) break;
  }
  d_.hub.unsubscribe(q);
  return result;
}

Result<std::string> AgentServiceImpl::policyDir() const {
  if (!o_.standalone) return failedPrecondition(kClusterMode);
  if (o_.policyPath.empty() || !d_.fs.isDirectory(o_.policyPath)) {
    return failedPrecondition("the agent reads the single policy file " + o_.policyPath +
                              "; start it with --policy-file DIRECTORY to use attach and detach");
  }
  return o_.policyPath;
}

Result<std::pair<policy::SchedulerNodeStateStatus, bool>> AgentServiceImpl::waitFor(
    grpc::ServerContext* ctx,
    const std::function<bool(const policy::SchedulerNodeStateStatus&)>& settled) {
  MonoTime deadline = waitDeadline(ctx);
  for (;;) {
    std::uint64_t seen = d_.hub.statusVersion();
    SK_ASSIGN_OR_RETURN(auto st, snapshot(ctx));
    if (settled(st)) return std::pair{std::move(st), true};
    if (d_.clock.now() >= deadline || d_.hub.closed()) return std::pair{std::move(st), false};
    if (ctx->IsCancelled()) return cancelled("the client went away");
    // Wake on the next publish; look again at least every second (and at the deadline).
    d_.hub.waitStatus(seen, std::min(deadline, d_.clock.now() + std::chrono::seconds(1)));
  }
}

grpc::Status AgentServiceImpl::Attach(grpc::ServerContext* ctx, const pb::AttachRequest* req,
                                      pb::AttachResponse* out) {
  auto dir = policyDir();
  if (!dir.isOk()) return toGrpc(dir.status());
  auto pf = policyFileFor(*req);
  if (!pf.isOk()) return toGrpc(pf.status());
  const std::string path = join(*dir, pf->name + ".yaml");

  std::int64_t wantGeneration = 0;  // 0: present at any generation
  {
    std::lock_guard l(filesMu_);
    for (const auto& [file, names] : policyFiles(d_.fs, *dir)) {
      if (file == path) continue;
      if (std::find(names.begin(), names.end(), pf->name) != names.end()) {
        return toGrpc(alreadyExists("SchedulerPolicy \"" + pf->name + "\" is already defined in " +
                                    file + "; pick another --name or edit that file"));
      }
    }
    // Replacing a file with another spec: the agent must see the next generation. A file at the
    // path that holds anything but this one policy is a person's, and stays as it is.
    bool sameSpec = false;
    if (auto old = d_.fs.readFile(path, 4u << 20); old.isOk()) {
      auto ps = policy::parsePolicies(*old);
      if (!ps.isOk() || ps->size() != 1 || ps->front().metadata.name != pf->name) {
        return toGrpc(failedPrecondition(path + " exists and holds something else than policy \"" +
                                         pf->name + "\"; pick another --name or edit that file"));
      }
      sameSpec = ps->front().spec == pf->spec;
    }
    if (!sameSpec) {
      auto before = snapshot(ctx);
      if (!before.isOk()) return toGrpc(before.status());
      std::int64_t g = observedGeneration(*before, pf->name);
      if (g > 0) wantGeneration = g + 1;
    }
    if (Status w = d_.fs.writeFileAtomic(path, pf->content, 0600); !w.isOk()) {
      return toGrpc(w.withContext("writing the policy file"));
    }
  }
  d_.log.info("gRPC Attach: policy written", {{"policy", pf->name}, {"path", path}});
  out->set_policy(pf->name);
  out->set_path(path);
  const std::string name = pf->name;
  auto settled = [&](const policy::SchedulerNodeStateStatus& st) {
    std::int64_t g = observedGeneration(st, name);
    if (g == 0 || g < wantGeneration) return false;
    if (st.policy != name) return !transitional(st.phase);  // another policy wins this node
    using P = policy::NodePhase;
    return st.phase == P::kRunning || st.phase == P::kFallenBack || st.phase == P::kFailed ||
           st.phase == P::kIncompatible;
  };
  if (req->no_wait()) {
    auto st = snapshot(ctx);
    if (!st.isOk()) return toGrpc(st.status());
    out->set_settled(false);
    *out->mutable_status() = decorate(*st);
    return grpc::Status::OK;
  }
  auto r = waitFor(ctx, settled);
  if (!r.isOk()) return toGrpc(r.status());
  out->set_settled(r->second);
  *out->mutable_status() = decorate(r->first);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::Detach(grpc::ServerContext* ctx, const pb::DetachRequest* req,
                                      pb::DetachResponse* out) {
  auto dir = policyDir();
  if (!dir.isOk()) return toGrpc(dir.status());
  const std::string name = req->name().empty() ? kDefaultName : req->name();
  std::string removed;
  {
    std::lock_guard l(filesMu_);
    for (const auto& [file, names] : policyFiles(d_.fs, *dir)) {
      if (std::find(names.begin(), names.end(), name) == names.end()) continue;
      if (names.size() != 1) {
        return toGrpc(failedPrecondition("SchedulerPolicy \"" + name + "\" is defined in " + file +
                                         " together with other policies; edit that file instead"));
      }
      if (Status rm = d_.fs.remove(file); !rm.isOk()) {
        return toGrpc(rm.withContext("removing the policy file"));
      }
      removed = file;
      break;
    }
  }
  if (removed.empty()) {
    return toGrpc(notFound("no SchedulerPolicy \"" + name + "\" in " + *dir));
  }
  d_.log.info("gRPC Detach: policy removed", {{"policy", name}, {"path", removed}});
  out->set_policy(name);
  out->set_path(removed);
  auto settled = [&](const policy::SchedulerNodeStateStatus& st) {
    return observedGeneration(st, name) == 0 && st.policy != name && !transitional(st.phase);
  };
  if (req->no_wait()) {
    auto st = snapshot(ctx);
    if (!st.isOk()) return toGrpc(st.status());
    *out->mutable_status() = decorate(*st);
    return grpc::Status::OK;
  }
  auto r = waitFor(ctx, settled);
  if (!r.isOk()) return toGrpc(r.status());
  out->set_settled(r->second);
  *out->mutable_status() = decorate(r->first);
  return grpc::Status::OK;
}

}  // namespace schedkit::agent::grpcapi
