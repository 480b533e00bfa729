// A blocking lock wait on a native thread of its own (never the libuv pool),
// which can be cancelled at any moment. One mechanism for every backend.
// Threads are kept for reuse between waits (see waiter.cc): a wait costs no
// thread start, and its end no thread exit on the JavaScript thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "lock.h"

namespace locksmith {

class Waiter {
 public:
  // on_finish runs on the waiter thread once the wait has ended for any reason,
  // and once more if Checked() was false (see there). With a path, a granted
  // lock is followed by IsCurrentKnownFile on it, on this thread (see
  // Current()). With try_first, the thread makes one attempt without blocking
  // before it waits (see Waited()); callers that have just found the lock busy
  // themselves leave it out.
  Waiter(file_t file, LockRequest request, std::function<void()> on_finish,
         std::string path_to_check = std::string(), bool try_first = false);
  ~Waiter();

  int Start();  // 0 or -errno if no thread could be started

  // Blocks the caller until the wait ends or timeout_ms passes; true if it ended.
  bool WaitFor(int64_t timeout_ms);

  // Takes the outcome of a finished wait: 0 (the lock is now the caller's) or
  // -errno. -ECANCELED if Cancel() came first.
  int Claim();

  // After on_finish: whether Current() is known. If not, on_finish runs again
  // once it is: a caller told too early returns and waits for that, rather
  // than block its thread on a check of the path (which can hang, on NFS).
  bool Checked();

  // Once Checked(), after a granted wait with a path to check: 1 if the path
  // still named the locked file right after the grant, 0 if not, -1 if that
  // could not be told.
  int Current();

  // After a granted wait: whether the lock was taken by someone else when the
  // wait began (its first attempt failed; always true without try_first).
  bool Waited();

  // Stops the wait. Returns once the thread has left the kernel and joined; a
  // lock granted in the race is released first. False if Claim() came first.
  bool Cancel();

  // Waits until the thread has let go of this wait (it then serves others or
  // ends); call after the wait has finished.
  void Join();

  // The wait itself, on a waiter thread.
  void Run(Thread* thread);

 private:
  file_t file_;
  LockRequest request_;
  std::function<void()> on_finish_;
  std::string path_to_check_;
  bool try_first_;
  Thread* thread_ = nullptr;

  std::mutex mutex_;
  std::condition_variable finished_changed_;
  bool finished_ = false;
  bool cancel_requested_ = false;
  bool claimed_ = false;
  bool checked_ = false;     // Current() is known
  bool tell_again_ = false;  // on_finish is to run again once it is
  bool let_go_ = false;  // the thread no longer touches this object
  int result_ = 0;
  int current_ = -1;
  bool waited_ = false;
};

}  // namespace locksmith
