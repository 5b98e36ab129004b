/* Run-queue latency histogram, shared by bpf/telemetry/runqlat.bpf.c and the agent.
 *
 * One BPF_MAP_TYPE_PERCPU_ARRAY map (`runqlat_hist`, one entry, key 0) holds a struct
 * runqlat_hist per CPU; userspace sums the CPUs. Counts only grow while the object is loaded.
 *
 * Slot i counts wakeup → run latencies of `us` microseconds with bit_length(us) == i, clamped
 * to the last slot: slot 0 is [0, 1) µs, slot i is [2^(i-1), 2^i) µs, slot 31 is ≥ 2^30 µs.
 * So the upper bound of slot i < 31 is 2^i µs.
 *
 * Plain C types only: included by BPF programs (after vmlinux.h) and by userspace (C and C++).
 */
#ifndef SCHEDKIT_BPF_SHARED_RUNQLAT_H
#define SCHEDKIT_BPF_SHARED_RUNQLAT_H

#define RUNQLAT_SLOTS 32
#define RUNQLAT_HIST_MAP "runqlat_hist"

struct runqlat_hist {
  unsigned long long slots[RUNQLAT_SLOTS];
  unsigned long long total_ns; /* sum of the latencies counted, for the histogram's _sum */
};

#endif
