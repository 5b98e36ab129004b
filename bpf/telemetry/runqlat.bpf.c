/* runqlat: how long runnable tasks wait in a run queue before they run.
 *
 * A task is stamped when it becomes runnable (sched_wakeup, sched_wakeup_new) and when it is
 * switched out while still runnable (sched_switch with prev in TASK_RUNNING: preempted, it goes
 * back to a run queue). When sched_switch puts it on a CPU, now - stamp is its run-queue
 * latency, counted in a per-CPU log2 histogram in microseconds (shared/runqlat.h).
 *
 * The stamp lives in task-local storage: it goes away with the task, so tasks that exit while
 * queued leave nothing behind and pids are never confused. Tracepoints through tp_btf (BTF
 * typed arguments, no perf buffer); nothing runs unless the agent loads this object, which it
 * does only for a policy with spec.health.runqueueLatency.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "runqlat.h"

char _license[] SEC("license") = "GPL";

#define TASK_RUNNING_STATE 0

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, __u64);
} runqlat_stamp SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct runqlat_hist);
} runqlat_hist SEC(".maps");

static __always_inline void stamp(struct task_struct *p) {
  __u64 *ts;

  if (!p || p->pid == 0) /* the idle task is never queued */
    return;
  ts = bpf_task_storage_get(&runqlat_stamp, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (ts)
    *ts = bpf_ktime_get_ns();
}

static __always_inline __u32 slot_of(__u64 us) {
  __u32 bits = 0;

  /* bit length of us, bounded for the verifier */
  for (int i = 0; i < RUNQLAT_SLOTS && us; i++) {
    bits++;
    us >>= 1;
  }
  return bits < RUNQLAT_SLOTS ? bits : RUNQLAT_SLOTS - 1;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(runqlat_wakeup, struct task_struct *p) {
  stamp(p);
  return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(runqlat_wakeup_new, struct task_struct *p) {
  stamp(p);
  return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(runqlat_switch, bool preempt, struct task_struct *prev, struct task_struct *next) {
  struct runqlat_hist *h;
  __u64 *ts, now, delta;
  __u32 zero = 0, slot;

  /* Switched out while runnable: it waits in a run queue again from now on. */
  if (prev->__state == TASK_RUNNING_STATE)
    stamp(prev);

  if (next->pid == 0)
    return 0;
  ts = bpf_task_storage_get(&runqlat_stamp, next, 0, 0);
  if (!ts || *ts == 0)
    return 0;
  now = bpf_ktime_get_ns();
  delta = now > *ts ? now - *ts : 0;
  *ts = 0; /* counted once; the next wakeup or preemption stamps it again */

  h = bpf_map_lookup_elem(&runqlat_hist, &zero);
  if (!h)
    return 0;
  slot = slot_of(delta / 1000);
  if (slot < RUNQLAT_SLOTS) /* always; for the verifier */
    h->slots[slot]++;
  h->total_ns += delta;
  return 0;
}
