#include "node/node_command.h"

#include <CLI/CLI.hpp>
#include <fstream>
#include <sstream>

#include "app/cli.h"
#include "app/output.h"
#include "grpc/convert.h"
#include "node/node_client.h"
#include "node/node_output.h"
#include "schedkit/common/duration.h"

namespace schedkit::cli {

NodeCommands addNodeCommands(CLI::App& app, NodeFlags& f) {
  NodeCommands c;
  c.group = app.add_subcommand(
      "node",
      "Talk to this node's schedkit agent over its gRPC socket (root only): status, events,\n"
      "and attach/detach in standalone mode");
  c.group->require_subcommand(1);
  c.group->fallthrough();
  c.group
      ->add_option("--socket", f.socket, "The agent's gRPC socket (schedkit-agent --grpc-socket)")
      ->capture_default_str();
  c.group->add_option("--timeout", f.timeout, "How long to wait for the agent to answer")
      ->capture_default_str();

  c.status = c.group->add_subcommand("status", "The node's state as the agent publishes it");
  c.events = c.group->add_subcommand(
      "events", "The node's recent events; with --follow, also every new event and phase change");
  c.events->add_flag("--follow,-f", f.follow, "Keep streaming new events until interrupted");

  c.attach = c.group->add_subcommand(
      "attach",
      "Standalone mode: run a scheduler on this node (the agent writes the SchedulerPolicy\n"
      "file NAME.yaml into its policy directory) and wait until it runs");
  auto* src = c.attach->add_option_group("scheduler", "What to run (exactly one)");
  src->add_option("--image", f.image, "An OCI image reference (registry/repo:tag, oci:DIR[:TAG])");
  src->add_option("--host-path", f.hostPath, "A scheduler file already on the node");
  src->add_option("--file,-f", f.file,
                  "A SchedulerPolicy YAML/JSON file to hand to the agent as is")
      ->check(CLI::ExistingFile);
  src->require_option(1);
  c.attach
      ->add_option("--type", f.type,
                   "With --host-path: binary or bpf-object (default: from the "
                   "file name, .bpf.o is an object)")
      ->check(CLI::IsMember({"binary", "bpf-object"}));
  c.attach
      ->add_option("--arg", f.args,
                   "A scheduler argument (repeatable; --arg=--flag for values starting with '-')")
      ->allow_extra_args(false);
  c.attach->add_option("--mode", f.mode, "Full (every task, default) or Partial (SCHED_EXT tasks)")
      ->check(CLI::IsMember({"Full", "Partial"}));
  c.attach->add_option("--name", f.name, "The policy's name (default: schedkitctl)");
  c.attach
      ->add_option("--wait", f.wait,
                   "How long to wait for the node to run it (0: return once written)")
      ->capture_default_str();

  c.detach = c.group->add_subcommand(
      "detach",
      "Standalone mode: remove a policy from the agent's policy directory and wait until the\n"
      "node stops running it");
  c.detach->add_option("--name", f.name, "The policy to remove (default: schedkitctl)");
  c.detach->add_option("--wait", f.wait, "How long to wait (0: return once removed)")
      ->capture_default_str();
  return c;
}

namespace {

class NodeRunner {
 public:
  NodeRunner(bool json, std::ostream& out, std::ostream& err) : json_(json), out_(out), err_(err) {}

  int fail(const Status& s, int code = kExitFailure) {
    if (json_) {
      out_ << errorJson(s).dump(2) << "\n";
    } else {
      err_ << "error: " << s.message() << "\n";
    }
    return code;
  }

  int status(NodeClient& c) {
    auto st = c.status();
    if (!st.isOk()) return fail(st.status());
    if (json_) {
      out_ << nodeStatusJson(*st).dump(2) << "\n";
    } else {
      out_ << nodeStatusText(*st);
    }
    return kExitOk;
  }

  int events(NodeClient& c, bool follow) {
    if (!follow) {
      auto st = c.status();
      if (!st.isOk()) return fail(st.status());
      if (json_) {
        nlohmann::ordered_json arr = nlohmann::ordered_json::array();
        for (int i = st->recent_events_size() - 1; i >= 0; --i) {
          auto e = st->recent_events(i);
          e.set_recent(true);
          arr.push_back(nodeEventJson(e));
        }
        out_ << nlohmann::ordered_json{{"events", arr}}.dump(2) << "\n";
      } else {
        for (int i = st->recent_events_size() - 1; i >= 0; --i)
          out_ << nodeEventText(st->recent_events(i));
      }
      return kExitOk;
    }
    Status s = c.watch(true, [&](const pb::NodeEvent& e) {
      if (json_) {
        out_ << nodeEventJson(e).dump() << "\n";
      } else {
        out_ << nodeEventText(e);
      }
      out_.flush();
      return static_cast<bool>(out_);
    });
    if (s.isOk()) return kExitOk;
    // JSON lines: the error is one more line.
    if (json_) {
      out_ << errorJson(s).dump() << "\n";
      return kExitFailure;
    }
    return fail(s);
  }

  int attach(NodeClient& c, const NodeFlags& f, Duration wait) {
    pb::AttachRequest req;
    req.set_name(f.name);
    if (!f.file.empty()) {
      std::ifstream in(f.file);
      if (!in) return fail(notFound("cannot read " + f.file), kExitUsage);
      std::stringstream ss;
      ss << in.rdbuf();
      req.set_policy_yaml(ss.str());
      if (!f.type.empty() || !f.mode.empty() || !f.args.empty()) {
        return fail(invalidArgument("--type, --mode and --arg go with --image or --host-path, not "
                                    "--file (write them in the policy)"),
                    kExitUsage);
      }
    } else {
      auto* s = req.mutable_scheduler();
      s->set_image(f.image);
      s->set_host_path(f.hostPath);
      s->set_type(f.type);
      s->set_mode(f.mode);
      for (const auto& a : f.args) s->add_args(a);
      if (!f.image.empty() && !f.type.empty()) {
        return fail(
            invalidArgument("--type goes with --host-path (an image's labels name its type)"),
            kExitUsage);
      }
    }
    auto r = c.attach(req, wait);
    if (!r.isOk()) return fail(r.status());
    bool ok = wait <= Duration::zero() || (r->settled() && r->status().policy() == r->policy() &&
                                           r->status().phase() == pb::NODE_PHASE_RUNNING);
    if (json_) {
      out_ << attachJson(*r).dump(2) << "\n";
    } else {
      out_ << attachText(*r);
      if (!ok) {
        err_ << "error: " << r->policy() << " is not running"
             << (r->settled() ? "" : " within " + formatDuration(wait)) << ": the node is "
             << agent::grpcapi::phaseName(r->status().phase()) << reasonOf(r->status()) << "\n";
      }
    }
    return ok ? kExitOk : kExitFailure;
  }

  int detach(NodeClient& c, const NodeFlags& f, Duration wait) {
    pb::DetachRequest req;
    req.set_name(f.name);
    auto r = c.detach(req, wait);
    if (!r.isOk()) return fail(r.status());
    bool ok = wait <= Duration::zero() || r->settled();
    if (json_) {
      out_ << detachJson(*r).dump(2) << "\n";
    } else {
      out_ << detachText(*r);
      if (!ok) {
        err_ << "error: the node did not stop running " << r->policy() << " within "
             << formatDuration(wait) << " (it is " << agent::grpcapi::phaseName(r->status().phase())
             << ")\n";
      }
    }
    return ok ? kExitOk : kExitFailure;
  }

 private:
  static std::string reasonOf(const pb::NodeStatus& st) {
    for (const auto& c : st.conditions()) {
      if (c.type() == "Ready" && c.status() != "True") {
        return " (" + c.reason() + (c.message().empty() ? "" : ": " + c.message()) + ")";
      }
    }
    return "";
  }

  bool json_;
  std::ostream& out_;
  std::ostream& err_;
};

}  // namespace

int runNodeCommand(const NodeCommands& c, const NodeFlags& f, bool json, std::ostream& out,
                   std::ostream& err) {
  if (c.group == nullptr || !c.group->parsed()) return -1;
  NodeRunner r(json, out, err);
  auto timeout = parseDuration(f.timeout);
  if (!timeout.isOk() || *timeout <= Duration::zero()) {
    return r.fail(invalidArgument("--timeout: want a duration like 5s, not \"" + f.timeout + "\""),
                  kExitUsage);
  }
  Duration wait{};
  if (c.attach->parsed() || c.detach->parsed()) {
    auto w = parseDuration(f.wait);
    if (!w.isOk()) {
      return r.fail(invalidArgument("--wait: want a duration like 60s, not \"" + f.wait + "\""),
                    kExitUsage);
    }
    wait = *w;
  }
  if (f.socket.empty()) return r.fail(invalidArgument("--socket must not be empty"), kExitUsage);
  NodeClient client(f.socket, *timeout);
  if (c.status->parsed()) return r.status(client);
  if (c.events->parsed()) return r.events(client, f.follow);
  if (c.attach->parsed()) return r.attach(client, f, wait);
  if (c.detach->parsed()) return r.detach(client, f, wait);
  return -1;
}

}  // namespace schedkit::cli
