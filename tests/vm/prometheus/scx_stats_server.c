// A stand-in for a Rust scx scheduler's scx_stats server, for the Prometheus VM test: the test
// schedulers (fifo_test) serve no statistics, and the dashboard's scx_stats panels need some.
// Listens on a unix socket and answers each request line as scx_stats does, with scx_lavd's
// SysStats shape ("stats_meta" → the struct descriptions, "stats" → the top struct).
//   scx_stats_server PATH          answer every request
//   scx_stats_server PATH --hang   accept and read, never answer (the agent's reads time out)
// Static (gcc -static) so the guest needs no libraries. One client at a time, like scx_lavd.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char kMeta[] =
    "{\"errno\":0,\"args\":{\"resp\":{"
    "\"SysStats\":{\"name\":\"SysStats\",\"top\":\"true\",\"fields\":{"
    "\"mseq\":{\"datum\":\"u64\",\"desc\":\"Sequence ID of this message\"},"
    "\"nr_queued_task\":{\"datum\":\"u64\",\"desc\":\"Number of runnable tasks in runqueues\"},"
    "\"nr_active\":{\"datum\":\"u64\",\"desc\":\"Number of active CPUs when core compaction is enabled\"},"
    "\"nr_sched\":{\"datum\":\"u64\",\"desc\":\"Number of context switches\"},"
    "\"pc_pc\":{\"datum\":\"float\",\"desc\":\"% of performance-critical tasks\"},"
    "\"power_mode\":{\"datum\":\"string\",\"desc\":\"Current power mode\"}}}}}}\n";

static void serve(int c, int hang, unsigned long *seq) {
  char buf[4096];
  size_t used = 0;
  for (;;) {
    ssize_t n = read(c, buf + used, sizeof buf - 1 - used);
    if (n <= 0) return;
    used += (size_t)n;
    buf[used] = 0;
    char *nl;
    while ((nl = strchr(buf, '\n')) != NULL) {
      *nl = 0;
      if (!hang) {
        char out[1024];
        const char *reply = kMeta;
        if (strstr(buf, "stats_meta") == NULL) {
          ++*seq;
          snprintf(out, sizeof out,
                   "{\"errno\":0,\"args\":{\"resp\":{\"mseq\":%lu,\"nr_queued_task\":%lu,"
                   "\"nr_active\":2,\"nr_sched\":%lu,\"pc_pc\":12.5,\"power_mode\":\"balanced\"}}}\n",
                   *seq, *seq % 4, 1000 + *seq * 37);
          reply = out;
        }
        if (write(c, reply, strlen(reply)) < 0) return;
      }
      used -= (size_t)(nl + 1 - buf);
      memmove(buf, nl + 1, used + 1);
    }
    if (used == sizeof buf - 1) used = 0;  // an overlong line: drop it
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PATH [--hang]\n", argv[0]);
    return 2;
  }
  int hang = argc > 2 && strcmp(argv[2], "--hang") == 0;
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
  unlink(argv[1]);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 4) < 0) {
    perror(argv[1]);
    return 1;
  }
  printf("serving%s on %s\n", hang ? " (never answering)" : "", argv[1]);
  fflush(stdout);
  unsigned long seq = 0;
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    serve(c, hang, &seq);
    close(c);
  }
}
