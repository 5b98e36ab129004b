/* fifo_test: the healthy test scheduler. A complete minimal FIFO that must survive long runs
 * under load, so that ejections seen in the other tests mean something.
 *
 *   select_cpu  the kernel's default idle-CPU pick; an idle CPU gets the task straight on its
 *               local DSQ (no trip through enqueue)
 *   enqueue     tail of one shared DSQ (made in init); kicks an idle CPU so none sleeps while
 *               work waits
 *   dispatch    moves the head of the shared DSQ to this CPU's local DSQ
 *
 * The shape matters: a FIFO that only inserts into SCX_DSQ_GLOBAL from enqueue was ejected for
 * a runnable task stall after ~45 s under two busy loops (notes/vm-sched-ext.md).
 */
#include "testsched.bpf.h"

char _license[] SEC("license") = "GPL";

#define FIFO_DSQ 0

DEFINE_EXIT_INFO();

/* Counters a test can read from the .bss map (bpftool map dump) to see the paths taken. */
__u64 nr_direct, nr_enqueued, nr_dispatched;

s32 SCHED_OPS(fifo_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags) {
  bool idle = false;
  s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &idle);

  if (idle) {
    __sync_fetch_and_add(&nr_direct, 1);
    scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
  }
  return cpu;
}

void SCHED_OPS(fifo_enqueue, struct task_struct *p, u64 enq_flags) {
  s32 cpu;

  __sync_fetch_and_add(&nr_enqueued, 1);
  scx_bpf_dsq_insert(p, FIFO_DSQ, SCX_SLICE_DFL, enq_flags);
  cpu = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
  if (cpu >= 0)
    scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
}

void SCHED_OPS(fifo_dispatch, s32 cpu, struct task_struct *prev) {
  if (scx_bpf_dsq_move_to_local(FIFO_DSQ))
    __sync_fetch_and_add(&nr_dispatched, 1);
}

s32 SCHED_OPS_SLEEPABLE(fifo_init) {
  return scx_bpf_create_dsq(FIFO_DSQ, -1);
}

void SCHED_OPS(fifo_exit, struct scx_exit_info *ei) {
  RECORD_EXIT_INFO(ei);
}

SEC(".struct_ops.link")
struct sched_ext_ops fifo_ops = {
    .select_cpu = (void *)fifo_select_cpu,
    .enqueue = (void *)fifo_enqueue,
    .dispatch = (void *)fifo_dispatch,
    .init = (void *)fifo_init,
    .exit = (void *)fifo_exit,
    .name = "fifo_test",
};
