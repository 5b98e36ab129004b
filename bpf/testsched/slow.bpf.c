/* slow_test: a scheduler that is healthy for the kernel's watchdog but slow for tasks, to make
 * run-queue latency high on purpose (the agent's spec.health.runqueueLatency guard is tested
 * against it).
 *
 *   select_cpu  never places a task directly: every wakeup goes through the shared DSQ
 *   enqueue     tail of one shared DSQ; kicks an idle CPU (so nothing stalls when idle)
 *   dispatch    moves the head of the shared DSQ to this CPU's local DSQ
 *   slice       slice_ms (default 50 ms) instead of the default 20 ms, and no preemption
 *
 * Under CPU-bound load (two busy loops on two CPUs) a task that wakes waits behind a busy loop's
 * whole slice: tens of milliseconds of run-queue latency. Every queued task still runs within
 * about one slice per queued task ahead of it, far inside timeout_ms.
 */
#include "testsched.bpf.h"

char _license[] SEC("license") = "GPL";

#define SLOW_DSQ 0

const volatile __u64 slice_ms = 50;

DEFINE_EXIT_INFO();

__u64 nr_enqueued, nr_dispatched;

s32 SCHED_OPS(slow_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags) {
  return prev_cpu;
}

void SCHED_OPS(slow_enqueue, struct task_struct *p, u64 enq_flags) {
  s32 cpu;

  __sync_fetch_and_add(&nr_enqueued, 1);
  scx_bpf_dsq_insert(p, SLOW_DSQ, slice_ms * 1000000ULL, enq_flags);
  cpu = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
  if (cpu >= 0)
    scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
}

void SCHED_OPS(slow_dispatch, s32 cpu, struct task_struct *prev) {
  if (scx_bpf_dsq_move_to_local(SLOW_DSQ))
    __sync_fetch_and_add(&nr_dispatched, 1);
}

s32 SCHED_OPS_SLEEPABLE(slow_init) {
  return scx_bpf_create_dsq(SLOW_DSQ, -1);
}

void SCHED_OPS(slow_exit, struct scx_exit_info *ei) {
  RECORD_EXIT_INFO(ei);
}

SEC(".struct_ops.link")
struct sched_ext_ops slow_ops = {
    .select_cpu = (void *)slow_select_cpu,
    .enqueue = (void *)slow_enqueue,
    .dispatch = (void *)slow_dispatch,
    .init = (void *)slow_init,
    .exit = (void *)slow_exit,
    .timeout_ms = 30000,
    .name = "slow_test",
};
