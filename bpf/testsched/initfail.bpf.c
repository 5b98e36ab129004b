/* initfail_test: ops.init() fails. Attaching still "succeeds" (the link is created) but the
 * kernel disables the scheduler before it is ever enabled: SCX_EXIT_ERROR ("runtime error")
 * with the message "ops.init() failed (<init_errno>)", and enable_seq does not move.
 */
#include "testsched.bpf.h"

char _license[] SEC("license") = "GPL";

DEFINE_EXIT_INFO();

/* Returned from ops.init(); set between open and load (runner: --set init_errno=-N). */
const volatile __s32 init_errno = -5; /* -EIO */

s32 SCHED_OPS(initfail_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags) {
  bool idle = false;

  return scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &idle);
}

void SCHED_OPS(initfail_enqueue, struct task_struct *p, u64 enq_flags) {
  scx_bpf_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

s32 SCHED_OPS_SLEEPABLE(initfail_init) {
  return init_errno;
}

void SCHED_OPS(initfail_exit, struct scx_exit_info *ei) {
  RECORD_EXIT_INFO(ei);
}

SEC(".struct_ops.link")
struct sched_ext_ops initfail_ops = {
    .select_cpu = (void *)initfail_select_cpu,
    .enqueue = (void *)initfail_enqueue,
    .init = (void *)initfail_init,
    .exit = (void *)initfail_exit,
    .name = "initfail_test",
};
