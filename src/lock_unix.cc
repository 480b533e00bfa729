// Linux, macOS and other POSIX systems: flock(2), open-file-description locks
// (where the headers define them) and classic POSIX record locks.
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

namespace locksmith {

namespace {

#ifdef F_OFD_SETLK
constexpr bool kHaveOfd = true;
#else
constexpr bool kHaveOfd = false;
#endif

// The signal that interrupts a waiter thread. Realtime signals are not used by
// Node or libuv; systems without them get SIGURG, which is ignored by default.
int InterruptSignal() {
#ifdef SIGRTMIN
  return SIGRTMIN + 5;
#else
  return SIGURG;
#endif
}

void OnInterrupt(int) {}

// Installed once per process, without SA_RESTART, so the blocked flock()/fcntl()
// returns EINTR instead of being restarted.
void InstallInterruptHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action = {};
    action.sa_handler = OnInterrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    sigaction(InterruptSignal(), &action, nullptr);
  });
}

int Errno() { return -errno; }

int Fcntl(file_t file, int command, const LockRequest& request, short type) {
  struct flock lock = {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = static_cast<off_t>(request.start);
  lock.l_len = static_cast<off_t>(request.length);
  lock.l_pid = 0;  // required to be 0 for OFD commands
  return fcntl(file, command, &lock) == 0 ? 0 : Errno();
}

short LockType(const LockRequest& request) {
  return request.exclusive ? F_WRLCK : F_RDLCK;
}

int SetCommand(Backend backend, bool wait) {
#ifdef F_OFD_SETLK
  if (backend == Backend::Ofd) return wait ? F_OFD_SETLKW : F_OFD_SETLK;
#endif
  (void)backend;
  return wait ? F_SETLKW : F_SETLK;
}

int Lock(file_t file, const LockRequest& request, bool wait) {
  switch (request.backend) {
    case Backend::Flock: {
      int operation = (request.exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
      return flock(file, operation) == 0 ? 0 : Errno();
    }
    case Backend::Ofd:
    case Backend::Posix:
      if (request.backend == Backend::Ofd && !kHaveOfd) return -ENOTSUP;
      return Fcntl(file, SetCommand(request.backend, wait), request, LockType(request));
    default:
      return -ENOTSUP;
  }
}

// flock() says EWOULDBLOCK; fcntl(F_SETLK) may say EAGAIN or EACCES.
bool IsBusy(const LockRequest& request, int error) {
  return error == -EAGAIN || error == -EWOULDBLOCK ||
         (request.backend != Backend::Flock && error == -EACCES);
}

}  // namespace

bool BackendSupported(Backend backend) {
  return backend == Backend::Flock || backend == Backend::Posix ||
         (backend == Backend::Ofd && kHaveOfd);
}

void WholeFileRange(Backend, int64_t* start, int64_t* length) {
  *start = 0;
  *length = 0;
}

int OpenLockFile(const char* path, const OpenOptions& options, file_t* out, bool* read_only) {
  *read_only = false;
  int flags = O_RDWR | O_CREAT | O_CLOEXEC;
  if (options.no_follow) flags |= O_NOFOLLOW;
  int fd;
  do fd = open(path, flags, options.permissions);
  while (fd < 0 && errno == EINTR);
  if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EISDIR)) {
    // A file we may only read still takes shared locks (and flock exclusive
    // locks on local file systems). A directory can only be opened this way;
    // flock(1) locks directories too.
    int read_only_flags = (flags & ~(O_RDWR | O_CREAT)) | O_RDONLY;
    do fd = open(path, read_only_flags);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 && errno == ENOENT) errno = EACCES;
    *read_only = fd >= 0;
  }
  if (fd < 0) {
    if (options.no_follow && errno == ELOOP) return -ELOOP;
    return Errno();
  }
  *out = fd;
  return 0;
}

int AdoptDescriptor(int fd, file_t* out, bool* read_only) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return Errno();
  *read_only = (flags & O_ACCMODE) == O_RDONLY;
  *out = fd;
  return 0;
}

int ReadFileIdentity(file_t file, FileIdentity* identity) {
  struct stat opened;
  if (fstat(file, &opened) != 0) return Errno();
  identity->device = static_cast<uint64_t>(opened.st_dev);
  identity->inode = static_cast<uint64_t>(opened.st_ino);
  identity->known = true;
  return 0;
}

int IsCurrentKnownFile(file_t file, const FileIdentity& identity, const char* path, bool* current) {
  if (!identity.known) return IsCurrentFile(file, path, current);
  struct stat named;
  if (stat(path, &named) != 0) {
    if (errno != ENOENT) return Errno();
    *current = false;
    return 0;
  }
  // A path that names the open file is a link to it, so it was not unlinked.
  *current = static_cast<uint64_t>(named.st_dev) == identity.device &&
             static_cast<uint64_t>(named.st_ino) == identity.inode;
  return 0;
}

int IsCurrentFile(file_t file, const char* path, bool* current) {
  FileIdentity identity;
  int error = ReadFileIdentity(file, &identity);
  return error != 0 ? error : IsCurrentKnownFile(file, identity, path, current);
}

int CloseLockFile(file_t file) {
  // Linux releases the descriptor even when close() reports EINTR: never retry.
  return close(file) == 0 || errno == EINTR ? 0 : Errno();
}

int TryLock(file_t file, const LockRequest& request) {
  int result;
  do result = Lock(file, request, false);
  while (result == -EINTR);
  return IsBusy(request, result) ? kBusy : result;
}

int WaitLock(file_t file, const LockRequest& request) {
  return Lock(file, request, true);
}

int Unlock(file_t file, const LockRequest& request) {
  if (request.backend == Backend::Flock) {
    return flock(file, LOCK_UN) == 0 ? 0 : Errno();
  }
  int command = SetCommand(request.backend, false);
  return Fcntl(file, command, request, F_UNLCK);
}

struct Thread {
  pthread_t id;
  void (*entry)(void*);
  void* arg;
};

namespace {

void* ThreadMain(void* raw) {
  auto* thread = static_cast<Thread*>(raw);
  thread->entry(thread->arg);
  return nullptr;
}

}  // namespace

int StartThread(void (*entry)(void*), void* arg, Thread** out) {
  InstallInterruptHandler();
  auto* thread = new Thread{pthread_t(), entry, arg};

  // Signals meant for the process must not land on a waiter thread; only the
  // interrupt signal may.
  sigset_t all, previous;
  sigfillset(&all);
  sigdelset(&all, InterruptSignal());
  pthread_sigmask(SIG_SETMASK, &all, &previous);

  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  // A waiter only sits in one system call: a small stack keeps 1,000 of them cheap.
  pthread_attr_setstacksize(&attributes, 64 * 1024);
  int error = pthread_create(&thread->id, &attributes, ThreadMain, thread);
  pthread_attr_destroy(&attributes);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);

  if (error != 0) {
    delete thread;
    return -error;
  }
  *out = thread;
  return 0;
}

void InterruptThread(Thread* thread) {
  pthread_kill(thread->id, InterruptSignal());
}

// A signal is delivered once; nothing stays set.
void ClearInterrupt(Thread*) {}

void DetachThread(Thread* thread) {
  pthread_detach(thread->id);
  delete thread;
}

void NameThread(const char* name) {
#if defined(__linux__)
  pthread_setname_np(pthread_self(), name);
#elif defined(__APPLE__)
  pthread_setname_np(name);
#else
  (void)name;
#endif
}

void JoinThread(Thread* thread) {
  pthread_join(thread->id, nullptr);
  delete thread;
}

}  // namespace locksmith
