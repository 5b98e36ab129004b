#include "attach/bpf_object_attacher.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <memory>
#include <mutex>

namespace schedkit::agent {

namespace {

constexpr std::uint64_t kSwitchPartial = 1ull << 3;  // SCX_OPS_SWITCH_PARTIAL

// libbpf reports through one process-wide print callback; collect what it says while we load so
// a verifier rejection reaches the user with the verifier's words.
std::mutex gPrintMu;
std::string* gPrintSink = nullptr;

int capturePrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG || gPrintSink == nullptr) return 0;
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  if (n > 0 && gPrintSink->size() < 16384) gPrintSink->append(buf);
  return n;
}

class LibbpfLog {
 public:
  LibbpfLog() : lk_(gPrintMu) {
    gPrintSink = &text_;
    prev_ = libbpf_set_print(capturePrint);
  }
  ~LibbpfLog() {
    libbpf_set_print(prev_);
    gPrintSink = nullptr;
  }
  // The last few lines, which is where the verifier puts its verdict.
  std::string tail(std::size_t maxLines = 6) const {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text_.size()) {
      std::size_t nl = text_.find('\n', start);
      if (nl == std::string::npos) nl = text_.size();
      if (nl > start) lines.push_back(text_.substr(start, nl - start));
      start = nl + 1;
    }
    std::string out;
    std::size_t from = lines.size() > maxLines ? lines.size() - maxLines : 0;
    for (std::size_t i = from; i < lines.size(); ++i) out += (out.empty() ? "" : " | ") + lines[i];
    return out;
  }

 private:
  std::lock_guard<std::mutex> lk_;
  std::string text_;
  libbpf_print_fn_t prev_ = nullptr;
};

struct ObjectCloser {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};
using ObjectPtr = std::unique_ptr<bpf_object, ObjectCloser>;

Status libbpfError(int err, const std::string& what, const LibbpfLog& log) {
  Status s = fromErrno(err, what);
  std::string t = log.tail();
  return t.empty() ? s : Status(s.code(), s.message() + ": " + t);
}

struct OpsMap {
  bpf_map* map = nullptr;
  std::size_t nameOff = 0, nameLen = 0, flagsOff = 0;
  bool hasFlags = false;
};

// Finds the one sched_ext_ops struct_ops map and where its name and flags live in the
// user-side copy (libbpf ≥ 1.4 exposes it through bpf_map__initial_value()).
Result<OpsMap> findOpsMap(bpf_object* obj) {
  OpsMap out;
  int found = 0;
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, obj) {
    if (bpf_map__type(m) != BPF_MAP_TYPE_STRUCT_OPS) continue;
    ++found;
    out.map = m;
  }
  if (found == 0) return invalidArgument("the object defines no struct_ops map (no sched_ext_ops)");
  if (found > 1) return invalidArgument("the object defines " + std::to_string(found) + " struct_ops maps; expected one sched_ext_ops");
  if ((bpf_map__map_flags(out.map) & BPF_F_LINK) == 0) {
    return invalidArgument(
        "the scheduler is in SEC(\".struct_ops\"); schedkit requires SEC(\".struct_ops.link\") so "
        "that detaching really unloads it");
  }
  const btf* b = bpf_object__btf(obj);
  const btf_type* t = b ? btf__type_by_id(b, bpf_map__btf_value_type_id(out.map)) : nullptr;
  if (t == nullptr || !btf_is_struct(t)) return invalidArgument("the struct_ops map has no BTF struct type");
  const char* tname = btf__name_by_offset(b, t->name_off);
  if (tname == nullptr || std::strcmp(tname, "sched_ext_ops") != 0) {
    return invalidArgument(std::string("the struct_ops map is a ") + (tname ? tname : "?") +
                           ", not a sched_ext_ops");
  }
  const btf_member* mem = btf_members(t);
  bool haveName = false;
  for (int i = 0; i < btf_vlen(t); ++i) {
    const char* n = btf__name_by_offset(b, mem[i].name_off);
    if (n == nullptr) continue;
    std::size_t off = btf_member_bit_offset(t, i) / 8;
    if (std::strcmp(n, "name") == 0) {
      out.nameOff = off;
      const btf_type* mt = btf__type_by_id(b, mem[i].type);
      out.nameLen = mt && btf_is_array(mt) ? btf_array(mt)->nelems : 128;
      haveName = true;
    } else if (std::strcmp(n, "flags") == 0) {
      out.flagsOff = off;
      out.hasFlags = true;
    }
  }
  if (!haveName) return invalidArgument("sched_ext_ops in the object has no name member");
  return out;
}

std::string opsNameOf(const OpsMap& om) {
  std::size_t size = 0;
  const char* data = static_cast<const char*>(bpf_map__initial_value(om.map, &size));
  if (data == nullptr || om.nameOff + om.nameLen > size) return "";
  return std::string(data + om.nameOff, strnlen(data + om.nameOff, om.nameLen));
}

Result<ObjectPtr> openObject(const std::string& path, LibbpfLog& log) {
  bpf_object* o = bpf_object__open_file(path.c_str(), nullptr);
  if (o == nullptr) return libbpfError(errno, "opening BPF object " + path, log);
  return ObjectPtr(o);
}

}  // namespace

Result<std::string> readObjectOpsName(const std::string& path) {
  LibbpfLog log;
  SK_ASSIGN_OR_RETURN(ObjectPtr obj, openObject(path, log));
  SK_ASSIGN_OR_RETURN(OpsMap om, findOpsMap(obj.get()));
  std::string name = opsNameOf(om);
  if (name.empty()) return invalidArgument("sched_ext_ops.name is empty in " + path);
  return name;
}

BpfObjectAttacher::BpfObjectAttacher(Filesystem& fs, const Logger& log, Options opts)
    : fs_(fs), log_(log), o_(std::move(opts)) {}

BpfObjectAttacher::~BpfObjectAttacher() {
  // Unpinned links cannot outlive us anyway; release them explicitly.
  for (auto& [id, link] : unpinned_) bpf_link__destroy(link);
}

Result<Attachment> BpfObjectAttacher::start(const LaunchSpec& spec) {
  std::string file = spec.rootfs.empty() ? spec.path : joinPath(spec.rootfs, spec.path);
  std::string path = fs_.resolve(file);
  LibbpfLog log;
  SK_ASSIGN_OR_RETURN(ObjectPtr obj, openObject(path, log));
  auto om = findOpsMap(obj.get());
  if (!om.isOk()) return om.status().withContext(file);
  Attachment a;
  a.id = "schedkit-" + spec.policy;
  a.type = policy::SchedulerType::kBpfObject;
  a.spec = spec;
  a.opsName = opsNameOf(*om);
  if (spec.mode == policy::SchedulerMode::kPartial) {
    std::size_t size = 0;
    char* data = static_cast<char*>(bpf_map__initial_value(om->map, &size));
    if (!om->hasFlags || data == nullptr || om->flagsOff + sizeof(std::uint64_t) > size) {
      return invalidArgument(file + ": cannot set SCX_OPS_SWITCH_PARTIAL (no flags member)");
    }
    std::uint64_t flags;
    std::memcpy(&flags, data + om->flagsOff, sizeof flags);
    flags |= kSwitchPartial;
    std::memcpy(data + om->flagsOff, &flags, sizeof flags);
  }
  if (int err = bpf_object__load(obj.get()); err != 0) {
    return libbpfError(err, "loading " + file + " (verifier or kernel BTF mismatch)", log);
  }
  bpf_link* link = bpf_map__attach_struct_ops(om->map);
  if (link == nullptr) {
    int e = errno;
    if (e == EBUSY) return unavailable("attaching " + a.opsName + ": another sched_ext scheduler is loaded (EBUSY)");
    return libbpfError(e, "attaching " + a.opsName, log);
  }
  a.pinPath = joinPath(o_.pinDir, a.id);
  Status dir = fs_.makeDirs(o_.pinDir, 0700);
  if (dir.isOk()) {
    (void)fs_.remove(a.pinPath);  // a stale pin of a dead link
    if (int err = bpf_link__pin(link, fs_.resolve(a.pinPath).c_str()); err == 0) {
      bpf_link__disconnect(link);  // the pin keeps it; closing our fd must not detach
      bpf_link__destroy(link);
      return a;
    } else {
      dir = fromErrno(err, "pinning the link at " + a.pinPath);
    }
  }
  log_.warn("cannot pin the scheduler's link; it will be detached if the agent exits",
            {{"error", dir}});
  a.pinPath.clear();
  unpinned_[a.id] = link;
  return a;
}

Status BpfObjectAttacher::stop(const Attachment& a, bool /*force*/) {
  if (auto it = unpinned_.find(a.id); it != unpinned_.end()) {
    bpf_link__destroy(it->second);  // closes the last fd: the kernel unregisters it
    unpinned_.erase(it);
    return Status::ok();
  }
  if (a.pinPath.empty()) return Status::ok();
  int fd = bpf_obj_get(fs_.resolve(a.pinPath).c_str());
  if (fd < 0) {
    if (errno == ENOENT) return Status::ok();
    return fromErrno(errno, "opening pinned link " + a.pinPath);
  }
  int rc = bpf_link_detach(fd);
  int e = errno;
  ::close(fd);
  Status removed = fs_.remove(a.pinPath);
  if (rc != 0 && e != ENOLINK) return fromErrno(e, "detaching " + a.opsName);
  return removed;
}

bool BpfObjectAttacher::running(const Attachment& a) {
  if (unpinned_.count(a.id)) return true;
  if (a.pinPath.empty()) return false;
  int fd = bpf_obj_get(fs_.resolve(a.pinPath).c_str());
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

void BpfObjectAttacher::cleanup(const Attachment& a) {
  if (auto it = unpinned_.find(a.id); it != unpinned_.end()) {
    bpf_link__destroy(it->second);
    unpinned_.erase(it);
  }
  // After an ejection the pinned link still holds the (dead) scheduler's maps and programs.
  if (!a.pinPath.empty()) {
    Status s = fs_.remove(a.pinPath);
    if (!s.isOk()) log_.warn("cannot remove the pinned link", {{"path", a.pinPath}, {"error", s}});
  }
}

}  // namespace schedkit::agent
