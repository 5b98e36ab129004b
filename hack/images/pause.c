// schedkit-pause: the process that holds a Kubernetes pod sandbox's namespaces open. It does
// nothing else: SIGINT and SIGTERM end it with status 0 (the kubelet stopping the sandbox), every
// other signal stays blocked, and as PID 1 of a shared PID namespace it reaps the zombies that
// get reparented to it. Built static by hack/images.sh (gcc -static -Os), so its image holds
// this one file.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PAUSE_VERSION
#define PAUSE_VERSION "0.1.0"
#endif

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

int main(int argc, char** argv) {
  if (argc > 1) {
    if (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0) {
      printf("schedkit-pause %s\n", PAUSE_VERSION);
      return 0;
    }
    fprintf(stderr, "usage: %s [--version]\n", argv[0]);
    return 2;
  }
  if (getpid() != 1) fprintf(stderr, "schedkit-pause: warning: not PID 1, zombies may pile up\n");

  // Everything blocked, always; sigsuspend() below lets only these three in, and only while it
  // waits, so no handler ever interrupts anything.
  sigset_t all, wait_for;
  sigfillset(&all);
  if (sigprocmask(SIG_BLOCK, &all, NULL) != 0) {
    perror("schedkit-pause: sigprocmask");
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigfillset(&sa.sa_mask);
  sa.sa_handler = stop;
  if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
    perror("schedkit-pause: sigaction");
    return 1;
  }
  sa.sa_handler = reap;
  sa.sa_flags = SA_NOCLDSTOP;
  if (sigaction(SIGCHLD, &sa, NULL) != 0) {
    perror("schedkit-pause: sigaction");
    return 1;
  }
  wait_for = all;
  sigdelset(&wait_for, SIGINT);
  sigdelset(&wait_for, SIGTERM);
  sigdelset(&wait_for, SIGCHLD);
  for (;;) sigsuspend(&wait_for);
}
