// schedkit-testsched-runner: loads a sched_ext BPF object, attaches its struct_ops map and stays
// resident until a signal or until the kernel ejects the scheduler — the way scx binaries behave,
// so agent tests can drive it like one.
//
//   schedkit-testsched-runner <object.bpf.o> [--timeout-ms N] [--partial] [--set VAR=VALUE]... [-v]
//
// stdout:  "attached <ops name>"           the link exists and the scheduler had not exited
//          "detached <ops name>"           after SIGINT/SIGTERM/SIGHUP and a clean unregister
// stderr:  "EXIT: <reason> (<message>)"   the scheduler exited without being asked to
//          "exit kind <n> (<NAME>), exit code <c>"
//          "error: ..."                    load/attach failures and bad usage
// exit status: 0 detached on a signal, or the scheduler unregistered itself or was unregistered
//              (kind <= UNREG_KERN); 1 ejected (SYSRQ, ERROR*), load or attach failed; 2 usage.
//
// Exit information comes from the object's `uei` global (bpf/shared/exit_info.h), read from the
// mmapped .data map. The runner sleeps in poll() on a signalfd, the link fd (EPOLLHUP when the
// link is detached) and a kobject-uevent socket (the kernel announces sched_ext root removal);
// a 1 s timeout re-checks the exit info in case no event arrives (e.g. no uevents in a userns).
#define _GNU_SOURCE
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exit_info.h"

enum { EXIT_CLEAN = 0, EXIT_EJECTED = 1, EXIT_USAGE = 2 };

// enum scx_exit_kind and SCX_OPS_SWITCH_PARTIAL: stable kernel ABI values since 6.12.
enum { KIND_UNREG_KERN = 66, KIND_SYSRQ = 67, KIND_ERROR = 1024 };
static const uint64_t kSwitchPartial = 8;

struct options {
  const char *object;
  long timeout_ms;  // -1: keep the object's value
  bool partial;
  bool verbose;
  const char *sets[32];
  int nr_sets;
};

static bool verbose;

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap) {
  if (level == LIBBPF_DEBUG && !verbose) return 0;
  return vfprintf(stderr, fmt, ap);
}

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void usage(FILE *f) {
  fputs("usage: schedkit-testsched-runner <object.bpf.o> [--timeout-ms N] [--partial]\n"
        "                                 [--set VAR=VALUE]... [-v]\n"
        "  --timeout-ms N   set sched_ext_ops.timeout_ms (watchdog, 1..30000)\n"
        "  --partial        set SCX_OPS_SWITCH_PARTIAL: only SCHED_EXT tasks switch\n"
        "  --set VAR=VALUE  set the integer `const volatile` VAR in .rodata before load\n"
        "  -v               libbpf debug output\n",
        f);
}

static int parse_args(int argc, char **argv, struct options *o) {
  *o = (struct options){.timeout_ms = -1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(EXIT_CLEAN);
    } else if (!strcmp(a, "--timeout-ms") && i + 1 < argc) {
      char *end;
      o->timeout_ms = strtol(argv[++i], &end, 10);
      if (*end || o->timeout_ms < 0 || o->timeout_ms > UINT32_MAX) return -1;
    } else if (!strcmp(a, "--partial")) {
      o->partial = true;
    } else if (!strcmp(a, "--set") && i + 1 < argc) {
      if (o->nr_sets == (int)(sizeof(o->sets) / sizeof(o->sets[0]))) return -1;
      o->sets[o->nr_sets++] = argv[++i];
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      o->verbose = true;
    } else if (a[0] == '-' || o->object) {
      return -1;
    } else {
      o->object = a;
    }
  }
  return o->object ? 0 : -1;
}

// Finds the byte offset and size of member `name` of the struct with BTF id `type_id`.
static int struct_member(const struct btf *btf, __u32 type_id, const char *name, __u32 *off,
                         __u32 *size) {
  const struct btf_type *t = btf__type_by_id(btf, type_id);
  if (!t || !btf_is_struct(t)) return -ENOENT;
  const struct btf_member *m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); i++, m++) {
    if (strcmp(btf__name_by_offset(btf, m->name_off), name)) continue;
    if (btf_member_bitfield_size(t, i)) return -EINVAL;
    *off = btf_member_bit_offset(t, i) / 8;
    __s64 sz = btf__resolve_size(btf, m->type);
    if (sz < 0) return (int)sz;
    *size = (__u32)sz;
    return 0;
  }
  return -ENOENT;
}

// Finds global variable `var` in DATASEC `sec` (".data", ".rodata"): offset and size.
static int datasec_var(const struct btf *btf, const char *sec, const char *var, __u32 *off,
                       __u32 *size) {
  __s32 id = btf__find_by_name_kind(btf, sec, BTF_KIND_DATASEC);
  if (id < 0) return -ENOENT;
  const struct btf_type *t = btf__type_by_id(btf, id);
  const struct btf_var_secinfo *vs = btf_var_secinfos(t);
  for (int i = 0; i < btf_vlen(t); i++, vs++) {
    const struct btf_type *v = btf__type_by_id(btf, vs->type);
    if (!strcmp(btf__name_by_offset(btf, v->name_off), var)) {
      *off = vs->offset;
      *size = vs->size;
      return 0;
    }
  }
  return -ENOENT;
}

// libbpf names internal maps "<object prefix>.data" etc.
static struct bpf_map *internal_map(struct bpf_object *obj, const char *suffix) {
  struct bpf_map *map;
  bpf_object__for_each_map(map, obj) {
    const char *name = bpf_map__name(map);
    size_t n = strlen(name), s = strlen(suffix);
    if (bpf_map__is_internal(map) && n >= s && !strcmp(name + n - s, suffix)) return map;
  }
  return NULL;
}

static int set_rodata(struct bpf_object *obj, const char *assignment) {
  char name[128];
  const char *eq = strchr(assignment, '=');
  if (!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof(name)) {
    fail("--set wants VAR=VALUE, got '%s'", assignment);
    return -EINVAL;
  }
  memcpy(name, assignment, (size_t)(eq - assignment));
  name[eq - assignment] = '\0';
  char *end;
  errno = 0;
  long long value = strtoll(eq + 1, &end, 0);
  if (errno || !eq[1] || *end) {
    fail("--set %s: '%s' is not an integer", name, eq + 1);
    return -EINVAL;
  }
  __u32 off, size;
  struct bpf_map *map = internal_map(obj, ".rodata");
  size_t map_size = 0;
  char *data = map ? bpf_map__initial_value(map, &map_size) : NULL;
  if (!data || datasec_var(bpf_object__btf(obj), ".rodata", name, &off, &size)) {
    fail("--set %s: no such `const volatile` variable in the object's .rodata", name);
    return -ENOENT;
  }
  if (off + size > map_size) return -EINVAL;
  switch (size) {
    case 1: { int8_t v = (int8_t)value; memcpy(data + off, &v, 1); break; }
    case 2: { int16_t v = (int16_t)value; memcpy(data + off, &v, 2); break; }
    case 4: { int32_t v = (int32_t)value; memcpy(data + off, &v, 4); break; }
    case 8: memcpy(data + off, &value, 8); break;
    default:
      fail("--set %s: variable is %u bytes, not an integer", name, size);
      return -EINVAL;
  }
  return 0;
}

static const char *kind_name(int kind) {
  switch (kind) {
    case 0: return "NONE";
    case 1: return "DONE";
    case 64: return "UNREG";
    case 65: return "UNREG_BPF";
    case 66: return "UNREG_KERN";
    case 67: return "SYSRQ";
    case 68: return "PARENT";
    case 1024: return "ERROR";
    case 1025: return "ERROR_BPF";
    case 1026: return "ERROR_STALL";
    default: return "UNKNOWN";
  }
}

static int exit_kind(const volatile struct schedkit_exit_info *uei) {
  return __atomic_load_n(&uei->kind, __ATOMIC_ACQUIRE);
}

// Prints the scx-style EXIT line and returns the process exit status for this kind.
static int report_exit(const volatile struct schedkit_exit_info *uei) {
  struct schedkit_exit_info ei;
  int kind = exit_kind(uei);
  memcpy(&ei, (const void *)uei, sizeof(ei));
  ei.reason[sizeof(ei.reason) - 1] = ei.msg[sizeof(ei.msg) - 1] = '\0';
  if (ei.msg[0])
    fprintf(stderr, "EXIT: %s (%s)\n", ei.reason, ei.msg);
  else
    fprintf(stderr, "EXIT: %s\n", ei.reason);
  fprintf(stderr, "exit kind %d (%s), exit code %lld\n", kind, kind_name(kind), ei.exit_code);
  return (kind <= KIND_UNREG_KERN) ? EXIT_CLEAN : EXIT_EJECTED;
}

static int open_uevent_socket(void) {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
  if (fd < 0) return -1;
  struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = 1};
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
    close(fd);
    return -1;
  }
  return fd;
}

// Drains the uevent socket; true if any event concerned sched_ext.
static bool drain_uevents(int fd) {
  char buf[4096];
  bool seen = false;
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
    buf[n] = '\0';
    for (char *p = buf; p < buf + n; p += strlen(p) + 1)
      if (!strcmp(p, "SUBSYSTEM=sched_ext")) seen = true;
  }
  return seen;
}

int main(int argc, char **argv) {
  struct options opt;
  if (parse_args(argc, argv, &opt)) {
    usage(stderr);
    return EXIT_USAGE;
  }
  verbose = opt.verbose;
  setvbuf(stdout, NULL, _IOLBF, 0);
  libbpf_set_print(libbpf_log);

  struct bpf_object *obj = bpf_object__open_file(opt.object, NULL);
  if (!obj) {
    fail("cannot open %s: %s", opt.object, strerror(errno));
    return EXIT_EJECTED;
  }
  const struct btf *btf = bpf_object__btf(obj);

  struct bpf_map *ops = NULL, *map;
  bpf_object__for_each_map(map, obj) {
    if (bpf_map__type(map) != BPF_MAP_TYPE_STRUCT_OPS) continue;
    if (ops) {
      fail("%s has more than one struct_ops map", opt.object);
      return EXIT_EJECTED;
    }
    ops = map;
  }
  if (!ops || !btf) {
    fail("%s has no struct_ops map (SEC(\".struct_ops.link\") struct sched_ext_ops)", opt.object);
    return EXIT_EJECTED;
  }

  // The struct_ops value is writable until load; members are found by name in the object's BTF.
  size_t ops_size;
  char *ops_data = bpf_map__initial_value(ops, &ops_size);
  __u32 type_id = bpf_map__btf_value_type_id(ops), off, size;
  char ops_name[129] = "";
  if (ops_data && !struct_member(btf, type_id, "name", &off, &size) && off + size <= ops_size)
    snprintf(ops_name, sizeof(ops_name), "%.*s", (int)size, ops_data + off);
  if (opt.timeout_ms >= 0) {
    if (!ops_data || struct_member(btf, type_id, "timeout_ms", &off, &size) || size != 4) {
      fail("cannot set timeout_ms in %s", opt.object);
      return EXIT_EJECTED;
    }
    __u32 v = (__u32)opt.timeout_ms;
    memcpy(ops_data + off, &v, sizeof(v));
  }
  if (opt.partial) {
    __u64 flags;
    if (!ops_data || struct_member(btf, type_id, "flags", &off, &size) || size != 8) {
      fail("cannot set flags in %s", opt.object);
      return EXIT_EJECTED;
    }
    memcpy(&flags, ops_data + off, sizeof(flags));
    flags |= kSwitchPartial;
    memcpy(ops_data + off, &flags, sizeof(flags));
  }
  for (int i = 0; i < opt.nr_sets; i++)
    if (set_rodata(obj, opt.sets[i])) return EXIT_USAGE;

  int err = bpf_object__load(obj);
  if (err && access("/sys/kernel/sched_ext", F_OK)) {
    fail("loading %s failed: this kernel has no sched_ext (no /sys/kernel/sched_ext)", opt.object);
    return EXIT_EJECTED;
  }
  if (err) {
    fail("loading %s failed: %s", opt.object, strerror(-err));
    return EXIT_EJECTED;
  }

  // Map the live .data map ourselves: libbpf 1.4 remaps its own copy onto the map only when
  // loading through a skeleton (1.5 does it in bpf_object__load()).
  const volatile struct schedkit_exit_info *uei = NULL;
  struct bpf_map *data = internal_map(obj, ".data");
  size_t data_size = data ? bpf_map__value_size(data) : 0;
  long page = sysconf(_SC_PAGESIZE);
  void *data_mem = MAP_FAILED;
  if (data && (bpf_map__map_flags(data) & BPF_F_MMAPABLE))
    data_mem = mmap(NULL, (data_size + page - 1) / page * page, PROT_READ, MAP_SHARED,
                    bpf_map__fd(data), 0);
  if (data_mem != MAP_FAILED && !datasec_var(btf, ".data", SCHEDKIT_EXIT_INFO_VAR, &off, &size) &&
      size == sizeof(*uei) && off + size <= data_size)
    uei = (const volatile struct schedkit_exit_info *)((char *)data_mem + off);
  if (!uei) {
    fail("%s has no `struct schedkit_exit_info " SCHEDKIT_EXIT_INFO_VAR "` in a mmapable .data",
         opt.object);
    return EXIT_EJECTED;
  }

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  sigprocmask(SIG_BLOCK, &sigs, NULL);
  int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
  int ufd = open_uevent_socket();  // optional: the 1 s timeout covers its absence

  struct bpf_link *link = bpf_map__attach_struct_ops(ops);
  if (!link) {
    err = -errno;
    if (err == -EBUSY)
      fail("attaching %s: another sched_ext scheduler is already running", ops_name);
    else
      fail("attaching %s failed: %s", ops_name, strerror(-err));
    return EXIT_EJECTED;
  }
  // A failing ops.init() still returns a link: the kernel has already disabled it by now.
  if (exit_kind(uei)) {
    int rc = report_exit(uei);
    bpf_link__destroy(link);
    return rc == EXIT_CLEAN ? EXIT_EJECTED : rc;
  }
  printf("attached %s\n", ops_name);

  struct pollfd fds[3] = {
      {.fd = sfd, .events = POLLIN},
      {.fd = bpf_link__fd(link), .events = POLLIN},
      {.fd = ufd, .events = POLLIN},
  };
  for (;;) {
    int n = poll(fds, 3, 1000);
    if (n < 0 && errno != EINTR) {
      fail("poll: %s", strerror(errno));
      break;
    }
    if (fds[2].revents & POLLIN && drain_uevents(ufd) && verbose)
      fprintf(stderr, "runner: sched_ext uevent\n");
    if (verbose && fds[1].revents) fprintf(stderr, "runner: link fd revents 0x%x\n", fds[1].revents);
    if (exit_kind(uei)) {
      int rc = report_exit(uei);
      bpf_link__destroy(link);
      return rc;
    }
    if (fds[0].revents & POLLIN) break;
    if (fds[1].revents & (POLLHUP | POLLERR)) {
      // Someone detached our link (BPF_LINK_DETACH): the kernel unregistered the scheduler.
      if (exit_kind(uei)) continue;
      fprintf(stderr, "EXIT: link detached\n");
      bpf_link__destroy(link);
      return EXIT_CLEAN;
    }
  }

  // Signal: unregister synchronously (ops.exit has run when detach returns), then report.
  err = bpf_link__detach(link);
  if (err) fail("detaching %s: %s", ops_name, strerror(-err));
  int kind = exit_kind(uei);
  if (kind && kind != 64) {
    int rc = report_exit(uei);
    bpf_link__destroy(link);
    return rc;
  }
  bpf_link__destroy(link);
  bpf_object__close(obj);
  printf("detached %s\n", ops_name);
  return err ? EXIT_EJECTED : EXIT_CLEAN;
}
