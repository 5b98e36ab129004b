#include "app/cli.h"

#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "app/output.h"
#include "image/assemble.h"
#include "image/fetch.h"
#include "image/push.h"
#include "node/node_command.h"
#include "schedkit/common/logger.h"
#include "schedkit/oci/image_store.h"
#include "schedkit/oci/store.h"

namespace schedkit::cli {

namespace {

constexpr const char* kExamples = R"(
Examples:
  schedkitctl image build --type bpf-object --file scx_simple.bpf.o --name simple \
      --version 1.0 --kernel-min 6.12 --output-layout ./simple-oci:1.0
  schedkitctl image build --type binary --file /usr/bin/scx_lavd --name lavd --with-libs \
      --output-layout ./lavd-oci:1.0
  schedkitctl image assemble --binary ./schedkit-operator --file /etc/passwd:/etc/passwd \
      --entrypoint /usr/bin/schedkit-operator --output-layout ./operator-oci:0.1.0
  schedkitctl image push ./simple-oci:1.0 registry.example.com/scx/simple:1.0
  schedkitctl image inspect registry.example.com/scx/simple:1.0 --verify-key cosign.pub
  schedkitctl image pull registry.example.com/scx/simple:1.0 --cache /tmp/schedkit-images
  sudo schedkitctl node status
  sudo schedkitctl node attach --host-path /opt/sched/scx_simple.bpf.o --wait 60s
  sudo schedkitctl -o json node events --follow

Exit status: 0 success, 1 failure, 2 usage error.)";

struct Common {
  std::string output = "text";
  bool verbose = false;
};

void addRegistryFlags(CLI::App* c, RegistryFlags& f) {
  c->add_flag("--insecure", f.insecure,
              "Reach the registry over plain HTTP (loopback registries always may)");
  c->add_option("--ca", f.ca, "CA bundle (PEM) to trust for the registry's TLS certificate")
      ->check(CLI::ExistingFile);
  c->add_option("--username,-u", f.username, "Registry user name");
  c->add_option("--password,-p", f.password,
                "Registry password (visible to other users in ps: prefer --password-stdin)");
  c->add_flag("--password-stdin", f.passwordStdin, "Read the registry password from stdin");
  c->add_option("--docker-config", f.dockerConfig,
                "Docker config.json with registry credentials (default: "
                "$DOCKER_CONFIG/config.json, else ~/.docker/config.json, when present)");
}

Result<std::string> readKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return notFound("--verify-key " + path + " cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Runner {
 public:
  Runner(std::ostream& out, std::ostream& err, const CliDeps& deps, const Common& c)
      : out_(out),
        err_(err),
        deps_(deps),
        json_(c.output == "json"),
        log_(
            deps.clock, [&err](std::string_view line) { err << line << "\n"; }, LogFormat::kText,
            c.verbose ? LogLevel::kInfo : LogLevel::kWarn) {}

  // Prints the result or the error; returns the exit code.
  template <typename T>
  int finish(const Result<T>& r, int okCode = kExitOk) {
    if (!r.isOk()) return fail(r.status());
    if (json_) {
      out_ << toJson(*r).dump(2) << "\n";
    } else {
      out_ << toText(*r);
    }
    return okCode;
  }
  int fail(const Status& s, int code = kExitFailure) {
    if (json_) {
      out_ << errorJson(s).dump(2) << "\n";
    } else {
      err_ << "error: " << s.message() << "\n";
    }
    return code;
  }

  int build(const BuildOptions& o) {
    if (auto f = checkBuildFlags(o); !f.isOk()) return fail(f.status(), kExitUsage);
    auto r = buildSchedulerImage(o, deps_.readOpsName);
    if (r.isOk() && !json_) {
      for (const auto& n : r->notes) err_ << "note: " << n << "\n";
    }
    return finish(r);
  }

  int assemble(const AssembleOptions& o) {
    if (auto f = checkAssembleFlags(o); !f.isOk()) return fail(f.status(), kExitUsage);
    return finish(assembleImage(o));
  }

  int push(const std::string& src, const std::string& dest, const RegistryFlags& f) {
    auto ref = oci::parseReference(dest);
    if (!ref.isOk()) return fail(ref.status(), kExitUsage);
    auto keys = registryKeychain(f, *ref, deps_.env);
    if (!keys.isOk()) return fail(keys.status(), kExitUsage);
    oci::RegistryClient client(
        {deps_.transports, deps_.clock, deps_.random, log_, nullptr, nullptr, nullptr},
        registryOptions(f, *ref));
    return finish(pushLayout(src, dest, client, *keys));
  }

  // Builds the store and the fetch options shared by inspect and pull.
  Result<std::unique_ptr<oci::OciImageStore>> store(const std::string& cacheDir,
                                                    const std::string& image,
                                                    const RegistryFlags& f,
                                                    const std::string& keyFile, FetchOptions& fo) {
    SK_ASSIGN_OR_RETURN(oci::Reference ref, oci::parseReference(image));
    SK_ASSIGN_OR_RETURN(fo.credentials, registryKeychain(f, ref, deps_.env));
    if (!keyFile.empty()) {
      SK_ASSIGN_OR_RETURN(fo.verifyKeyPem, readKeyFile(keyFile));
    }
    fo.image = image;
    oci::ImageStoreOptions so;
    so.cacheDir = cacheDir;
    so.registry = registryOptions(f, ref);
    return oci::OciImageStore::create({deps_.transports, deps_.clock, deps_.random, log_, nullptr},
                                      so);
  }

  int inspect(const std::string& image, const std::string& platform, const std::string& keyFile,
              const std::string& cache, const RegistryFlags& f) {
    FetchOptions fo;
    fo.platform = platform;
    std::string dir = cache;
    bool scratch = dir.empty();
    if (scratch) {
      std::string base = deps_.env.getenv ? deps_.env.getenv("TMPDIR") : "";
      dir = (base.empty() ? "/tmp" : base) + "/schedkitctl-inspect-XXXXXX";
      if (::mkdtemp(dir.data()) == nullptr) return fail(fromErrno(errno, "mkdtemp " + dir));
    }
    int rc;
    auto s = store(dir, image, f, keyFile, fo);
    if (!s.isOk()) {
      rc = fail(s.status(),
                s.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure);
    } else {
      auto r = inspectImage(**s, fo);
      rc = finish(r, r.isOk() && r->signature == "failed" ? kExitFailure : kExitOk);
    }
    if (scratch) (void)oci::removeTree(dir);
    return rc;
  }

  int pull(const std::string& image, const std::string& cache, const std::string& policy,
           const std::string& platform, const std::string& keyFile, const RegistryFlags& f) {
    FetchOptions fo;
    fo.platform = platform;
    auto p = oci::parsePullPolicy(policy);
    if (!p.isOk()) return fail(p.status(), kExitUsage);
    fo.policy = *p;
    auto s = store(cache, image, f, keyFile, fo);
    if (!s.isOk()) {
      return fail(s.status(),
                  s.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure);
    }
    std::string lastPhase;
    auto progress = [&](const oci::PullProgress& pr) {
      if (json_) return;
      std::string key = pr.phase + pr.digest;
      if (key == lastPhase || pr.phase == "done") return;
      lastPhase = key;
      err_ << pr.phase << (pr.digest.empty() ? "" : " " + pr.digest)
           << (pr.total > 0 ? " (" + std::to_string(pr.total) + " bytes)" : "") << "\n";
    };
    return finish(pullImage(**s, fo, progress));
  }

 private:
  std::ostream& out_;
  std::ostream& err_;
  const CliDeps& deps_;
  bool json_;
  Logger log_;
};

}  // namespace

int runCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
           const CliDeps& deps) {
  CLI::App app{
      "schedkitctl: packages sched_ext schedulers as OCI images (the schedkit image convention)\n"
      "and fetches them exactly as the schedkit agent does; talks to a node's agent (node ...).",
      "schedkitctl"};
  app.footer(kExamples);
  app.get_formatter()->column_width(36);
  app.require_subcommand(1);
  app.fallthrough();
  Common common;
  app.add_option("--output,-o", common.output, "Output format: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_flag("--verbose,-v", common.verbose, "Log what the registry client and cache do");
  app.set_version_flag("--version", "schedkitctl 0.1.0");

  CLI::App* image = app.add_subcommand("image", "Build, push, inspect and pull scheduler images");
  image->require_subcommand(1);
  image->fallthrough();

  // build
  BuildOptions bo;
  CLI::App* build = image->add_subcommand(
      "build",
      "Make a one-layer scheduler image in an OCI layout on disk from a binary (e.g. scx_lavd) or\n"
      "a BPF object. Deterministic: the same inputs give the same digest.");
  build->add_option("--type", bo.type, "binary (a loader program) or bpf-object (a BPF ELF object)")
      ->required()
      ->check(CLI::IsMember({"binary", "bpf-object"}));
  build->add_option("--file,-f", bo.file, "The scheduler file on this machine")->required();
  build->add_option("--path", bo.path,
                    "Its path in the image (default: /usr/bin/<name> for a binary, /<name> for a "
                    "BPF object)");
  build->add_option("--name", bo.name,
                    "Ops-name prefix the kernel will report, e.g. lavd (required for a binary; a "
                    "BPF object's defaults to the name it declares)");
  build->add_option("--version", bo.version, "Scheduler version (free text, shown in status)");
  build->add_option("--kernel-min", bo.kernelMin, "Lowest supported kernel, X.Y[.Z] (e.g. 6.12)");
  build
      ->add_option("--arg", bo.args,
                   "A default argument (repeatable; write --arg=--flag for values starting with "
                   "'-')")
      ->allow_extra_args(false);
  build->add_option("--label", bo.labels, "An extra label KEY=VALUE (repeatable)")
      ->allow_extra_args(false);
  build->add_option("--platform", bo.platform,
                    "OS/ARCH[/VARIANT] of the image (default: this machine's)");
  build->add_flag("--annotations", bo.annotations,
                  "Artifact style: the io.schedkit.* keys as manifest annotations, empty config");
  build->add_flag("--with-libs", bo.withLibs,
                  "Binary only: add the shared libraries it needs (DT_NEEDED, recursively) and the "
                  "loader (PT_INTERP), as found on this machine");
  build->add_flag("--add-to-index", bo.addToIndex,
                  "Add this platform to an image index at the tag (multi-arch), replacing the "
                  "same platform's entry");
  build
      ->add_option("--output-layout", bo.outputLayout,
                   "OCI layout directory to write, DIR[:TAG] (tag default: latest); created if "
                   "missing, other tags kept")
      ->required();

  AssembleOptions ao;
  CLI::App* assemble = addAssembleCommand(image, ao);

  // push
  std::string pushSrc, pushDest;
  RegistryFlags pushReg;
  CLI::App* push = image->add_subcommand(
      "push",
      "Push an image (or a multi-arch index) from an OCI layout to a registry. Blobs the registry\n"
      "has are skipped. Prints the digest reference to deploy.");
  push->add_option("LAYOUT", pushSrc, "DIR[:TAG] or oci:DIR[:TAG] (tag optional with one image)")
      ->required();
  push->add_option("REFERENCE", pushDest,
                   "registry/repository[:tag] (tag default: the layout's tag)")
      ->required();
  addRegistryFlags(push, pushReg);

  // inspect
  std::string insImage, insPlatform, insKey, insCache;
  RegistryFlags insReg;
  CLI::App* inspect = image->add_subcommand(
      "inspect",
      "Show an image's digest, platforms, labels and what the agent would run, without fetching\n"
      "layers. With --verify-key, check its cosign signature (exit 1 when it does not verify).");
  inspect->add_option("REFERENCE", insImage, "registry/repository[:tag|@digest] or oci:DIR[:TAG]")
      ->required();
  inspect->add_option("--platform", insPlatform,
                      "Platform to pick from an index (default: this machine's)");
  inspect
      ->add_option("--verify-key", insKey, "cosign public key (PEM) the image must be signed with")
      ->check(CLI::ExistingFile);
  inspect->add_option("--cache", insCache, "Image cache to use (default: a scratch directory)");
  addRegistryFlags(inspect, insReg);

  // pull
  std::string pullImage_, pullCache, pullPolicy = "IfNotPresent", pullPlatform, pullKey;
  RegistryFlags pullReg;
  CLI::App* pull = image->add_subcommand(
      "pull",
      "Pull, verify and unpack an image into a cache directory exactly as the agent does, and\n"
      "print the unpacked root and the scheduler in it.");
  pull->add_option("REFERENCE", pullImage_, "registry/repository[:tag|@digest] or oci:DIR[:TAG]")
      ->required();
  pull->add_option("--cache", pullCache,
                   "Cache directory (the agent uses /var/lib/schedkit/images)")
      ->required();
  pull->add_option("--policy", pullPolicy, "Always, IfNotPresent or Never")
      ->check(CLI::IsMember({"Always", "IfNotPresent", "Never"}))
      ->capture_default_str();
  pull->add_option("--platform", pullPlatform, "Platform to pull (default: this machine's)");
  pull->add_option("--verify-key", pullKey, "cosign public key (PEM) the image must be signed with")
      ->check(CLI::ExistingFile);
  addRegistryFlags(pull, pullReg);

  NodeFlags nodeFlags;
  NodeCommands node = addNodeCommands(app, nodeFlags);

  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::CallForVersion& e) {
    out << e.what() << "\n";
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    bool json = common.output == "json";
    Status s = invalidArgument(e.what());
    if (json) {
      out << errorJson(s).dump(2) << "\n";
    } else {
      err << "error: " << e.what() << "\nRun with --help for usage.\n";
    }
    return kExitUsage;
  }

  if (int rc = runNodeCommand(node, nodeFlags, common.output == "json", out, err); rc >= 0) {
    return rc;
  }
  Runner r(out, err, deps, common);
  if (build->parsed()) return r.build(bo);
  if (assemble->parsed()) return r.assemble(ao);
  if (push->parsed()) return r.push(pushSrc, pushDest, pushReg);
  if (inspect->parsed()) return r.inspect(insImage, insPlatform, insKey, insCache, insReg);
  if (pull->parsed())
    return r.pull(pullImage_, pullCache, pullPolicy, pullPlatform, pullKey, pullReg);
  err << app.help();
  return kExitUsage;
}

}  // namespace schedkit::cli
