/* stall_test: queues every task it is given and never dispatches one, so the kernel's watchdog
 * ejects it with SCX_EXIT_ERROR_STALL ("runnable task stall") once a task has waited
 * timeout_ms. While it is attached nothing but the tasks the kernel places itself runs: expect
 * the guest to freeze for about timeout_ms.
 */
#include "testsched.bpf.h"

char _license[] SEC("license") = "GPL";

#define BLACKHOLE_DSQ 0

DEFINE_EXIT_INFO();

__u64 nr_enqueued;

/* Never insert from select_cpu: without this callback the kernel's default would put tasks on
 * an idle CPU's local DSQ directly and some work would still run. */
s32 SCHED_OPS(stall_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags) {
  return prev_cpu;
}

void SCHED_OPS(stall_enqueue, struct task_struct *p, u64 enq_flags) {
  __sync_fetch_and_add(&nr_enqueued, 1);
  scx_bpf_dsq_insert(p, BLACKHOLE_DSQ, SCX_SLICE_DFL, enq_flags);
}

void SCHED_OPS(stall_dispatch, s32 cpu, struct task_struct *prev) {
}

s32 SCHED_OPS_SLEEPABLE(stall_init) {
  return scx_bpf_create_dsq(BLACKHOLE_DSQ, -1);
}

void SCHED_OPS(stall_exit, struct scx_exit_info *ei) {
  RECORD_EXIT_INFO(ei);
}

SEC(".struct_ops.link")
struct sched_ext_ops stall_ops = {
    .select_cpu = (void *)stall_select_cpu,
    .enqueue = (void *)stall_enqueue,
    .dispatch = (void *)stall_dispatch,
    .init = (void *)stall_init,
    .exit = (void *)stall_exit,
    .timeout_ms = 2000,
    .name = "stall_test",
};
