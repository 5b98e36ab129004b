/* Small helpers for schedkit's test schedulers (bpf/testsched/). Include after nothing else:
 * it pulls in the generated vmlinux.h (types and kfunc prototypes from the test kernel's BTF)
 * and libbpf's helper headers.
 */
#ifndef SCHEDKIT_BPF_TESTSCHED_BPF_H
#define SCHEDKIT_BPF_TESTSCHED_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "exit_info.h"

/* A sched_ext_ops callback: SCHED_OPS(name, args...) { body }. */
#define SCHED_OPS(name, args...) SEC("struct_ops/" #name) BPF_PROG(name, ##args)
/* The same for callbacks that may sleep (ops.init may call scx_bpf_create_dsq()). */
#define SCHED_OPS_SLEEPABLE(name, args...) SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

/* Defines the exit-info global userspace reads (see shared/exit_info.h). */
#define DEFINE_EXIT_INFO() struct schedkit_exit_info uei SEC(".data")

/* Copies the kernel's exit info into `uei`; call from ops.exit(). kind goes last, through an
 * atomic (a full barrier), so a reader that sees kind != 0 sees the strings too. */
#define RECORD_EXIT_INFO(ei)                                                     \
  do {                                                                           \
    bpf_probe_read_kernel_str(uei.reason, sizeof(uei.reason), (ei)->reason);    \
    bpf_probe_read_kernel_str(uei.msg, sizeof(uei.msg), (ei)->msg);             \
    uei.exit_code = (ei)->exit_code;                                             \
    __sync_val_compare_and_swap(&uei.kind, 0, (int)(ei)->kind);                  \
  } while (0)

#endif
