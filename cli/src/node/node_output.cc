#include "node/node_output.h"

#include <iomanip>
#include <sstream>

#include "grpc/convert.h"
#include "schedkit/policy/encode.h"

namespace schedkit::cli {

namespace pb = agent::v1;
using agent::grpcapi::fromProto;
using agent::grpcapi::phaseName;
using Json = nlohmann::ordered_json;

namespace {
std::string row(const std::string& key, const std::string& value) {
  std::ostringstream o;
  o << std::left << std::setw(16) << (key + ":") << value << "\n";
  return o.str();
}
}  // namespace

Json nodeStatusJson(const pb::NodeStatus& st) {
  Json j;
  j["node"] = st.node_name();
  j["mode"] = st.mode();
  j["status"] = Json::parse(policy::encodeNodeStateStatus(fromProto(st)).dump());
  return j;
}

Json nodeEventJson(const pb::NodeEvent& e) {
  Json j;
  j["kind"] = e.kind() == pb::NodeEvent::KIND_PHASE_CHANGE ? "PhaseChange" : "Event";
  j["time"] = e.time();
  j["type"] = e.type();
  j["reason"] = e.reason();
  j["message"] = e.message();
  j["policy"] = e.policy();
  if (e.kind() == pb::NodeEvent::KIND_PHASE_CHANGE) {
    j["phase"] = phaseName(e.phase());
    j["previousPhase"] = phaseName(e.previous_phase());
  }
  j["recent"] = e.recent();
  j["dropped"] = e.dropped();
  return j;
}

Json attachJson(const pb::AttachResponse& r) {
  Json j;
  j["policy"] = r.policy();
  j["path"] = r.path();
  j["settled"] = r.settled();
  j["phase"] = phaseName(r.status().phase());
  j["node"] = nodeStatusJson(r.status());
  return j;
}

Json detachJson(const pb::DetachResponse& r) {
  Json j;
  j["policy"] = r.policy();
  j["path"] = r.path();
  j["settled"] = r.settled();
  j["phase"] = phaseName(r.status().phase());
  j["node"] = nodeStatusJson(r.status());
  return j;
}

std::string nodeStatusText(const pb::NodeStatus& st) {
  std::string o;
  o += row("Node", st.node_name() + (st.mode().empty() ? "" : " (" + st.mode() + ")"));
  o += row("Phase", phaseName(st.phase()));
  o += row("Policy",
           st.policy().empty()
               ? "(none)"
               : st.policy() + (st.revision().empty() ? "" : " (revision " + st.revision() + ")"));
  if (st.has_active()) {
    const auto& a = st.active();
    std::string s = a.ops_name() + " (enable_seq " + std::to_string(a.enable_seq());
    if (a.pid() != 0) s += ", pid " + std::to_string(a.pid());
    if (!a.since().empty()) s += ", since " + a.since();
    s += ")";
    o += row("Scheduler", s);
    if (!a.image().empty()) o += row("Image", a.image());
  } else {
    o += row("Scheduler", "(none: the kernel's default scheduler)");
  }
  o += row("Restarts", std::to_string(st.restarts()));
  if (st.has_last_exit()) {
    const auto& x = st.last_exit();
    std::string s = x.kind_name() + " (" + std::to_string(x.kind()) + ")";
    if (!x.reason().empty()) s += " " + x.reason();
    if (!x.message().empty()) s += ": " + x.message();
    if (!x.time().empty()) s += " at " + x.time();
    o += row("Last exit", s);
  }
  const auto& k = st.kernel();
  o +=
      row("Kernel", (k.release().empty() ? "(unknown)" : k.release()) + " (sched_ext " +
                        (k.sched_ext() ? "yes" : "no") + ", BTF " + (k.btf() ? "yes" : "no") + ")");
  if (st.conditions_size() > 0) {
    o += "Conditions:\n";
    for (const auto& c : st.conditions()) {
      std::ostringstream l;
      l << "  " << std::left << std::setw(18) << c.type() << std::setw(6) << c.status()
        << c.reason();
      if (!c.message().empty()) l << ": " << c.message();
      o += l.str() + "\n";
    }
  }
  if (st.recent_events_size() > 0) {
    o += "Recent events (oldest first):\n";
    for (int i = st.recent_events_size() - 1; i >= 0; --i) {
      o += "  " + nodeEventText(st.recent_events(i));
    }
  }
  return o;
}

std::string nodeEventText(const pb::NodeEvent& e) {
  std::ostringstream l;
  if (e.dropped() != 0) {
    l << "(" << e.dropped() << " events dropped: this client read too slowly)\n";
  }
  l << e.time() << "  " << std::left << std::setw(8) << e.type() << std::setw(12) << e.reason()
    << e.message() << "\n";
  return l.str();
}

std::string attachText(const pb::AttachResponse& r) {
  std::string o;
  o += row("Policy", r.policy() + " (" + r.path() + ")");
  o += row("Phase", phaseName(r.status().phase()) +
                        (r.settled() ? ""
                         : r.status().policy() == r.policy() || r.status().policy().empty()
                             ? " (not settled yet)"
                             : ""));
  if (r.status().policy() != r.policy() && !r.status().policy().empty()) {
    o += row("Note",
             "the node runs policy " + r.status().policy() + ", which wins over " + r.policy());
  }
  if (r.status().has_active()) {
    o += row("Scheduler", r.status().active().ops_name() + " (enable_seq " +
                              std::to_string(r.status().active().enable_seq()) + ")");
  }
  return o;
}

std::string detachText(const pb::DetachResponse& r) {
  std::string o;
  o += row("Removed", r.policy() + " (" + r.path() + ")");
  o += row("Phase", phaseName(r.status().phase()) + (r.settled() ? "" : " (not settled yet)"));
  if (r.status().has_active()) {
    o += row("Scheduler", r.status().active().ops_name() + " (policy " + r.status().policy() + ")");
  }
  return o;
}

}  // namespace schedkit::cli
