// The portable lock interface. Platform files implement it; nothing here knows
// about JavaScript. Every function returns 0 on success or a negative errno value.
#pragma once

#include <cstdint>

namespace locksmith {

#ifdef _WIN32
using file_t = void*;  // a Windows HANDLE
#else
using file_t = int;
#endif

enum class Backend : int { Flock = 0, Ofd = 1, Posix = 2, Windows = 3 };

struct LockRequest {
  Backend backend;
  bool exclusive;
  int64_t start;   // first byte
  int64_t length;  // 0 means "to end of file and beyond"
};

// Returned by TryLock when another holder conflicts. All platform spellings of
// "busy" (EAGAIN, EACCES from F_SETLK, EWOULDBLOCK, ERROR_LOCK_VIOLATION) map to it.
constexpr int kBusy = 1;

bool BackendSupported(Backend backend);

// The range that stands for "the whole file" on this backend. On Windows locks
// are mandatory, so the whole-file lock is one byte far beyond any real data.
void WholeFileRange(Backend backend, int64_t* start, int64_t* length);

struct OpenOptions {
  bool no_follow;    // refuse to open through a symbolic link
  int permissions;   // mode bits for a newly created file
};

// Opens (creating if missing, never truncating) with close-on-exec. Where
// read-write access is refused, opens read-only and says so in *read_only.
int OpenLockFile(const char* path, const OpenOptions& options, file_t* out, bool* read_only);
int CloseLockFile(file_t file);

// A descriptor someone else opened (a C runtime / libuv file descriptor) as a
// file_t to lock, without taking it over: the caller keeps closing it.
// -EBADF if it is not open. *read_only: opened for reading only, if known.
int AdoptDescriptor(int fd, file_t* out, bool* read_only);

// Whether the open file is still the one the path names: false when the path
// is gone or names another file, or the open file has been unlinked. A lock
// taken on a file that lost this race protects nothing.
int IsCurrentFile(file_t file, const char* path, bool* current);

// The open file's identity, read ahead of time (before a wait) so that the check
// after the grant, IsCurrentKnownFile, makes one system call instead of two where
// it can (Unix: the path's stat against the descriptor's device and inode; an
// inode cannot be reused while it is held open; IsCurrentFile is the two in a
// row). Where it cannot (Windows, or the read failed: 0 or -errno), `known`
// stays false and the full IsCurrentFile runs.
struct FileIdentity {
  uint64_t device = 0;
  uint64_t inode = 0;
  bool known = false;
};
int ReadFileIdentity(file_t file, FileIdentity* identity);
int IsCurrentKnownFile(file_t file, const FileIdentity& identity, const char* path, bool* current);

int TryLock(file_t file, const LockRequest& request);   // 0, kBusy or -errno
int WaitLock(file_t file, const LockRequest& request);  // 0, -EINTR when interrupted, or -errno
int Unlock(file_t file, const LockRequest& request);

// Whether closing a file that holds its whole-file flock or OFD lock gives the
// lock back, so a release that closes may skip the unlock. On Unix the kernel
// drops those locks with the last descriptor of the open file description; ours
// are close-on-exec and never duplicated, so the only other copy is in a child
// forked but not yet exec'ed (Node's spawns exec at once; a child that forked
// and never exec'ed would keep the lock until it exits): that delays the
// release and never lets a second holder in. Windows releases the locks of a
// closed handle only "eventually": unlock first.
#ifdef _WIN32
constexpr bool kCloseReleasesLock = false;
#else
constexpr bool kCloseReleasesLock = true;
#endif

// Waiter threads. A thread started here has every signal blocked except the one
// InterruptThread uses, so a blocked WaitLock on it returns -EINTR when interrupted.
struct Thread;
int StartThread(void (*entry)(void*), void* arg, Thread** out);
void InterruptThread(Thread* thread);
// Forgets an interrupt that came too late to matter (where an interrupt stays
// set until then, as on Windows), before the thread waits again.
void ClearInterrupt(Thread* thread);
void JoinThread(Thread* thread);  // also frees it
// Called by the thread itself as the last thing it does: nobody will join it.
void DetachThread(Thread* thread);  // also frees it
// Names the calling thread for ps, top and the tests (where the platform can).
void NameThread(const char* name);

}  // namespace locksmith
