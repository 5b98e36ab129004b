// Compiles every test-scheduler skeleton against the system libbpf headers, so a skeleton that
// stops building (new bpftool, old libbpf) fails the build here rather than in a later user.
#include <bpf/libbpf.h>

#include "testsched_error.skel.h"
#include "testsched_fifo.skel.h"
#include "testsched_initfail.skel.h"
#include "testsched_slow.skel.h"
#include "testsched_stall.skel.h"

// The rodata knobs the VM tests set through the runner's --set exist under these names.
_Static_assert(sizeof(((struct testsched_error *)0)->rodata->error_after) == 8, "error_after");
_Static_assert(sizeof(((struct testsched_initfail *)0)->rodata->init_errno) == 4, "init_errno");
_Static_assert(sizeof(((struct testsched_slow *)0)->rodata->slice_ms) == 8, "slice_ms");
_Static_assert(sizeof(((struct testsched_fifo *)0)->data->uei) == sizeof(struct schedkit_exit_info),
               "uei");

int testsched_skel_check(void);
int testsched_skel_check(void) {
  struct testsched_fifo *fifo = testsched_fifo__open();
  if (!fifo) return -1;
  testsched_fifo__destroy(fifo);
  return 0;
}
