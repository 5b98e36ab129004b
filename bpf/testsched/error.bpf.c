/* error_test: schedules like fifo_test until it has seen `error_after` enqueues, then calls
 * scx_bpf_error(), which ejects it with SCX_EXIT_ERROR_BPF ("scx_bpf_error") and the message
 * "test error after <n> enqueues".
 */
#include "testsched.bpf.h"

char _license[] SEC("license") = "GPL";

#define FIFO_DSQ 0

DEFINE_EXIT_INFO();

/* Set between open and load (runner: --set error_after=N). */
const volatile __u64 error_after = 1000;

__u64 nr_enqueued;

static void report_error(u64 n) {
  static char fmt[] = "test error after %llu enqueues";
  unsigned long long args[] = {n};

  scx_bpf_error_bstr(fmt, args, sizeof(args));
}

s32 SCHED_OPS(error_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags) {
  bool idle = false;
  s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &idle);

  if (idle)
    scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
  return cpu;
}

void SCHED_OPS(error_enqueue, struct task_struct *p, u64 enq_flags) {
  u64 n = __sync_add_and_fetch(&nr_enqueued, 1);

  if (n == error_after)
    report_error(n);
  scx_bpf_dsq_insert(p, FIFO_DSQ, SCX_SLICE_DFL, enq_flags);
}

void SCHED_OPS(error_dispatch, s32 cpu, struct task_struct *prev) {
  scx_bpf_dsq_move_to_local(FIFO_DSQ);
}

s32 SCHED_OPS_SLEEPABLE(error_init) {
  return scx_bpf_create_dsq(FIFO_DSQ, -1);
}

void SCHED_OPS(error_exit, struct scx_exit_info *ei) {
  RECORD_EXIT_INFO(ei);
}

SEC(".struct_ops.link")
struct sched_ext_ops error_ops = {
    .select_cpu = (void *)error_select_cpu,
    .enqueue = (void *)error_enqueue,
    .dispatch = (void *)error_dispatch,
    .init = (void *)error_init,
    .exit = (void *)error_exit,
    .name = "error_test",
};
