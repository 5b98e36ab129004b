/* Exit information a schedkit test scheduler records in ops.exit(), shared with userspace.
 *
 * The BPF side defines one global `uei` of this type in .data and fills it in ops.exit(); kind is
 * written last, so a non-zero kind means the rest is complete. Userspace finds `uei` through the
 * object's BTF (a VAR in the .data DATASEC) and reads it from the mmapped .data map. The layout
 * (int kind; s64 exit_code; char reason[128]; char msg[1024]) is the one scx schedulers use for
 * their `uei`, so one reader serves both.
 *
 * Plain C types only: this header is included by BPF programs (after vmlinux.h) and by
 * userspace (C and C++) alike.
 */
#ifndef SCHEDKIT_BPF_SHARED_EXIT_INFO_H
#define SCHEDKIT_BPF_SHARED_EXIT_INFO_H

#define SCHEDKIT_EXIT_REASON_LEN 128
#define SCHEDKIT_EXIT_MSG_LEN 1024
#define SCHEDKIT_EXIT_INFO_VAR "uei"

struct schedkit_exit_info {
  int kind;            /* enum scx_exit_kind; 0 while the scheduler runs */
  long long exit_code; /* meaningful for UNREG_BPF / UNREG_KERN */
  char reason[SCHEDKIT_EXIT_REASON_LEN];
  char msg[SCHEDKIT_EXIT_MSG_LEN];
};

#endif
