// The physical floor: the same lock operations as the benchmark's scenarios,
// made as raw system calls from C. Compiled at bench time (bench/baseline.ts).
//
//   baseline clock                                     CLOCK_MONOTONIC now, in ns
//   baseline try     KIND PATH BATCHES BATCH           try-lock + unlock on an open file (ns/op per batch)
//   baseline cycle   KIND PATH BATCHES BATCH           open + try-lock + unlock + close (ns/op per batch)
//   baseline checked KIND PATH BATCHES BATCH           what a Lock makes: open + try-lock + the check that the
//                                                      path still names the locked file (fstat + stat) + close,
//                                                      which gives the lock back without an unlock
//   baseline handoff KIND PATH ROUNDS MIN_US MAX_US    two processes pass the lock back and forth (ns per hand-off)
//   baseline handoff-loop KIND PATH ROUNDS MIN_US MAX_US  the same, each process waiting as a Node addon must: a
//                                                      thread blocked in the lock wakes the process's event loop
//                                                      (a thread in epoll_wait) through an eventfd
//   baseline counter KIND PATH COUNTER START_NS END_NS increment a counter file under the lock until END_NS
//   baseline hold    KIND PATH                         take the lock, print "held", keep it until stdin closes
//   baseline cancel  KIND PATH ROUNDS                  interrupt a thread blocked in the lock (pthread_kill + join)
//
// KIND is flock, ofd (Linux open-file-description locks) or posix (classic fcntl).
// Times come from CLOCK_MONOTONIC, the clock Node's process.hrtime reads on Linux,
// so stamps taken here and in Node processes are comparable.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum kind { KIND_FLOCK, KIND_OFD, KIND_POSIX };

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "baseline: %s: %s\n", what, strerror(errno));
  exit(2);
}

static enum kind parse_kind(const char *name) {
  if (strcmp(name, "flock") == 0) return KIND_FLOCK;
  if (strcmp(name, "ofd") == 0) return KIND_OFD;
  if (strcmp(name, "posix") == 0) return KIND_POSIX;
  fprintf(stderr, "baseline: unknown lock kind %s\n", name);
  exit(2);
}

static int open_lock_file(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) die("open");
  return fd;
}

static int fcntl_lock(int fd, enum kind kind, short type, int wait) {
  struct flock l;
  memset(&l, 0, sizeof l);
  l.l_type = type;
  l.l_whence = SEEK_SET;
  int cmd = kind == KIND_OFD ? (wait ? F_OFD_SETLKW : F_OFD_SETLK) : (wait ? F_SETLKW : F_SETLK);
  return fcntl(fd, cmd, &l);
}

// 0 when locked, -1 with errno (EWOULDBLOCK/EAGAIN/EACCES when busy, EINTR when interrupted).
static int lock_fd(int fd, enum kind kind, int wait) {
  if (kind == KIND_FLOCK) return flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
  return fcntl_lock(fd, kind, F_WRLCK, wait);
}

static int unlock_fd(int fd, enum kind kind) {
  if (kind == KIND_FLOCK) return flock(fd, LOCK_UN);
  return fcntl_lock(fd, kind, F_UNLCK, 0);
}

static void sleep_until(int64_t when) {
  struct timespec t = {(time_t)(when / 1000000000), (long)(when % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
}

static void sleep_us(long us) {
  sleep_until(now_ns() + (int64_t)us * 1000);
}

// The check after the grant: the open file is linked and the path names it.
static int is_current(int fd, const char *path) {
  struct stat opened, named;
  if (fstat(fd, &opened) != 0 || stat(path, &named) != 0) return 0;
  return opened.st_nlink > 0 && opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

// try / cycle / checked: per-op nanoseconds of each batch, on one line.
static int run_micro(int cycle, int checked, enum kind kind, const char *path, long batches, long batch) {
  int fd = cycle ? -1 : open_lock_file(path);
  for (long b = 0; b < batches; b++) {
    int64_t start = now_ns();
    for (long i = 0; i < batch; i++) {
      if (cycle) fd = open_lock_file(path);
      if (lock_fd(fd, kind, 0) != 0) die("lock");
      if (checked && !is_current(fd, path)) die("check");
      if (!checked && unlock_fd(fd, kind) != 0) die("unlock");
      if (cycle) close(fd);
    }
    printf("%s%.1f", b == 0 ? "" : " ", (double)(now_ns() - start) / (double)batch);
  }
  printf("\n");
  return 0;
}

static void write_byte(int fd, char c) {
  while (write(fd, &c, 1) != 1) {
    if (errno != EINTR) die("write");
  }
}

static void read_byte(int fd) {
  char c;
  for (;;) {
    ssize_t n = read(fd, &c, 1);
    if (n == 1) return;
    if (n == 0) { fprintf(stderr, "baseline: peer exited\n"); exit(2); }
    if (errno != EINTR) die("read");
  }
}

// The model of a Node addon's wait: a thread of its own blocks in the lock call
// and, once granted, wakes the event loop, a thread asleep in epoll_wait on an
// eventfd (as libuv's uv_async_send does). Two wake-ups per hand-off, where a
// C process blocked in the lock itself needs one: the floor for any Node design.
struct loop_waiter {
  int fd;
  enum kind kind;
  int go[2];    // the loop asks the thread to wait for the lock ('w') or to end ('q')
  int granted;  // eventfd the thread signals once it holds the lock
  int epoll;
  pthread_t thread;
};

static void *loop_waiter_main(void *raw) {
  struct loop_waiter *w = raw;
  for (;;) {
    char c;
    if (read(w->go[0], &c, 1) != 1 || c == 'q') return NULL;
    while (lock_fd(w->fd, w->kind, 1) != 0) {
      if (errno != EINTR) die("lock");
    }
    uint64_t one = 1;
    if (write(w->granted, &one, sizeof one) != sizeof one) die("eventfd write");
  }
}

static void loop_waiter_start(struct loop_waiter *w, int fd, enum kind kind) {
  w->fd = fd;
  w->kind = kind;
  if (pipe(w->go) != 0) die("pipe");
  w->granted = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  w->epoll = epoll_create1(EPOLL_CLOEXEC);
  if (w->granted < 0 || w->epoll < 0) die("eventfd/epoll");
  struct epoll_event event = {.events = EPOLLIN, .data = {.fd = w->granted}};
  if (epoll_ctl(w->epoll, EPOLL_CTL_ADD, w->granted, &event) != 0) die("epoll_ctl");
  if (pthread_create(&w->thread, NULL, loop_waiter_main, w) != 0) die("pthread_create");
}

// Asks the thread to wait, then sleeps in epoll_wait until it says it holds the lock.
static void loop_waiter_lock(struct loop_waiter *w) {
  write_byte(w->go[1], 'w');
  struct epoll_event event;
  for (;;) {
    int n = epoll_wait(w->epoll, &event, 1, -1);
    if (n == 1) break;
    if (n < 0 && errno != EINTR) die("epoll_wait");
  }
  uint64_t count;
  if (read(w->granted, &count, sizeof count) != sizeof count) die("eventfd read");
}

static void loop_waiter_stop(struct loop_waiter *w) {
  write_byte(w->go[1], 'q');
  pthread_join(w->thread, NULL);
}

// Round i: the holder waits until the waiter is about to block, holds a random
// while longer (so the waiter is asleep in the kernel), stamps t0 and unlocks;
// the waiter stamps t1 as soon as it has the lock. Then the roles swap.
// With via_loop, each process waits through a loop_waiter.
static int run_handoff(enum kind kind, const char *path, long rounds, long min_us, long max_us, int via_loop) {
  int64_t *stamps = mmap(NULL, sizeof(int64_t) * 2 * (size_t)rounds, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (stamps == MAP_FAILED) die("mmap");
  int to_parent[2], to_child[2];
  if (pipe(to_parent) != 0 || pipe(to_child) != 0) die("pipe");
  int fd = open_lock_file(path);
  if (lock_fd(fd, kind, 1) != 0) die("lock");  // the parent holds first
  pid_t pid = fork();
  if (pid < 0) die("fork");
  int is_child = pid == 0;
  // The child opens its own file description (a forked copy would share the
  // parent's flock and OFD locks; classic POSIX locks are not inherited at all).
  if (is_child) fd = open_lock_file(path);
  struct loop_waiter waiter;
  if (via_loop) loop_waiter_start(&waiter, fd, kind);  // after fork: threads do not survive it
  int in = is_child ? to_child[0] : to_parent[0];
  int out = is_child ? to_parent[1] : to_child[1];
  unsigned seed = (unsigned)getpid();
  for (long i = 0; i < rounds; i++) {
    int holder_is_child = (i % 2) == 1;
    if (holder_is_child == is_child) {
      read_byte(in);  // the waiter is about to block
      long span = max_us > min_us ? max_us - min_us : 0;
      sleep_us(min_us + (span > 0 ? (long)(rand_r(&seed) % (span + 1)) : 0));
      stamps[2 * i] = now_ns();
      if (unlock_fd(fd, kind) != 0) die("unlock");
      read_byte(in);  // the waiter has it: only now may this side queue up again
    } else {
      write_byte(out, 'w');
      if (via_loop) {
        loop_waiter_lock(&waiter);
      } else {
        while (lock_fd(fd, kind, 1) != 0) {
          if (errno != EINTR) die("lock");
        }
      }
      stamps[2 * i + 1] = now_ns();
      write_byte(out, 'a');
    }
  }
  unlock_fd(fd, kind);
  if (via_loop) loop_waiter_stop(&waiter);
  if (is_child) _exit(0);
  int status;
  waitpid(pid, &status, 0);
  for (long i = 0; i < rounds; i++) printf("%s%lld", i == 0 ? "" : " ", (long long)(stamps[2 * i + 1] - stamps[2 * i]));
  printf("\n");
  return 0;
}

// One of the contended-throughput workers: read, increment and write a decimal
// counter under the lock until END_NS. Prints "OPS MAX_WAIT_NS".
static int run_counter(enum kind kind, const char *path, const char *counter, int64_t start, int64_t end) {
  int fd = open_lock_file(path);
  int cfd = open(counter, O_RDWR | O_CLOEXEC);
  if (cfd < 0) die("open counter");
  sleep_until(start);
  long ops = 0;
  int64_t max_wait = 0;
  for (;;) {
    int64_t asked = now_ns();
    if (asked >= end) break;
    while (lock_fd(fd, kind, 1) != 0) {
      if (errno != EINTR) die("lock");
    }
    int64_t waited = now_ns() - asked;
    if (waited > max_wait) max_wait = waited;
    char text[32];
    ssize_t n = pread(cfd, text, sizeof text - 1, 0);
    if (n < 0) die("pread");
    text[n] = 0;
    long long value = strtoll(text, NULL, 10) + 1;
    int len = snprintf(text, sizeof text, "%lld", value);
    if (pwrite(cfd, text, (size_t)len, 0) != len) die("pwrite");
    ops++;
    if (unlock_fd(fd, kind) != 0) die("unlock");
  }
  printf("%ld %lld\n", ops, (long long)max_wait);
  return 0;
}

static int run_hold(enum kind kind, const char *path) {
  int fd = open_lock_file(path);
  while (lock_fd(fd, kind, 1) != 0) {
    if (errno != EINTR) die("lock");
  }
  printf("held\n");
  fflush(stdout);
  char buffer[64];
  while (read(0, buffer, sizeof buffer) > 0) {}  // until stdin closes
  unlock_fd(fd, kind);
  return 0;
}

struct cancel_arg {
  int fd;
  enum kind kind;
  int result;
  int done[2];  // a pipe written when the lock call has returned
};

static void on_interrupt(int signal) { (void)signal; }

static void *blocked_waiter(void *raw) {
  struct cancel_arg *arg = raw;
  arg->result = lock_fd(arg->fd, arg->kind, 1) == 0 ? 0 : errno;
  write_byte(arg->done[1], 'd');
  return NULL;
}

// The floor for cancelling a wait: a thread blocked in the lock call is
// interrupted with a signal (no SA_RESTART, so the call fails with EINTR) and joined.
static int run_cancel(enum kind kind, const char *path, long rounds) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGUSR1, &action, NULL);
  int fd = open_lock_file(path);
  long resent = 0;
  for (long i = 0; i < rounds; i++) {
    struct cancel_arg arg = {fd, kind, 0, {-1, -1}};
    if (pipe(arg.done) != 0) die("pipe");
    pthread_t thread;
    if (pthread_create(&thread, NULL, blocked_waiter, &arg) != 0) die("pthread_create");
    sleep_us(2000);  // long enough to be asleep in the kernel
    int64_t start = now_ns();
    // A signal that lands just before the thread enters the call is lost, so
    // keep interrupting until it has returned (as any correct canceller must).
    struct pollfd done = {arg.done[0], POLLIN, 0};
    for (;;) {
      pthread_kill(thread, SIGUSR1);
      if (poll(&done, 1, 1) == 1) break;
      resent++;
    }
    pthread_join(thread, NULL);
    int64_t took = now_ns() - start;
    close(arg.done[0]);
    close(arg.done[1]);
    if (arg.result != EINTR) { fprintf(stderr, "baseline: cancel: the lock was not held elsewhere\n"); return 2; }
    printf("%s%lld", i == 0 ? "" : " ", (long long)took);
  }
  printf("\n");
  if (resent > 0) fprintf(stderr, "baseline: cancel: %ld interrupts had to be sent again\n", resent);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "clock") == 0) {
    printf("%lld\n", (long long)now_ns());
    return 0;
  }
  if (argc < 4) {
    fprintf(stderr, "usage: baseline clock | try|cycle|checked|handoff|handoff-loop|counter|hold|cancel KIND PATH ...\n");
    return 2;
  }
  const char *command = argv[1];
  enum kind kind = parse_kind(argv[2]);
  const char *path = argv[3];
  if ((strcmp(command, "try") == 0 || strcmp(command, "cycle") == 0 || strcmp(command, "checked") == 0) && argc == 6) {
    int checked = strcmp(command, "checked") == 0;
    return run_micro(command[0] == 'c', checked, kind, path, atol(argv[4]), atol(argv[5]));
  }
  if ((strcmp(command, "handoff") == 0 || strcmp(command, "handoff-loop") == 0) && argc == 7) {
    return run_handoff(kind, path, atol(argv[4]), atol(argv[5]), atol(argv[6]), command[7] == '-');
  }
  if (strcmp(command, "counter") == 0 && argc == 7) {
    return run_counter(kind, path, argv[4], atoll(argv[5]), atoll(argv[6]));
  }
  if (strcmp(command, "hold") == 0) return run_hold(kind, path);
  if (strcmp(command, "cancel") == 0 && argc == 5) return run_cancel(kind, path, atol(argv[4]));
  fprintf(stderr, "baseline: bad arguments for %s\n", command);
  return 2;
}
