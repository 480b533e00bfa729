#include "waiter.h"

#include <cerrno>
#include <chrono>

namespace locksmith {

Waiter::Waiter(file_t file, LockRequest request, std::function<void()> on_finish,
               std::string path_to_check)
    : file_(file),
      request_(request),
      on_finish_(std::move(on_finish)),
      path_to_check_(std::move(path_to_check)) {}

Waiter::~Waiter() {
  Cancel();
  Join();
}

int Waiter::Start() {
  int error = StartThread(&Waiter::Run, this, &thread_);
  if (error != 0) {
    std::lock_guard<std::mutex> guard(mutex_);
    finished_ = true;
    result_ = error;
  }
  return error;
}

void Waiter::Run(void* raw) {
  auto* self = static_cast<Waiter*>(raw);
  int result;
  for (;;) {
    {
      std::lock_guard<std::mutex> guard(self->mutex_);
      if (self->cancel_requested_) {
        result = -ECANCELED;
        break;
      }
    }
    // A cancel that lands between the check above and the system call below
    // is not lost: Cancel() keeps interrupting until finished_ is set.
    result = WaitLock(self->file_, self->request_);
    if (result != -EINTR) break;
  }
  // Checked here, while this thread is awake anyway, instead of on the
  // JavaScript thread after the hand-off (about 15 us of it there).
  int current = -1;
  if (result == 0 && !self->path_to_check_.empty()) {
    bool is_current = false;
    if (IsCurrentFile(self->file_, self->path_to_check_.c_str(), &is_current) == 0) {
      current = is_current ? 1 : 0;
    }
  }
  {
    std::lock_guard<std::mutex> guard(self->mutex_);
    self->current_ = current;
    self->result_ = result;
    self->finished_ = true;
  }
  self->finished_changed_.notify_all();
  if (self->on_finish_) self->on_finish_();
  // Park until Join(): on a busy machine the event-loop thread just woken is
  // often placed on this CPU, and the thread exit would run ahead of it
  // (measured: 15-35 us of a hand-off).
  std::unique_lock<std::mutex> guard(self->mutex_);
  self->finished_changed_.wait(guard, [self] { return self->exit_allowed_; });
}

bool Waiter::WaitFor(int64_t timeout_ms) {
  std::unique_lock<std::mutex> guard(mutex_);
  return finished_changed_.wait_for(guard, std::chrono::milliseconds(timeout_ms),
                                    [this] { return finished_; });
}

int Waiter::Claim() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (cancel_requested_) return -ECANCELED;
  claimed_ = true;
  return result_;
}

int Waiter::Current() {
  std::lock_guard<std::mutex> guard(mutex_);
  return current_;
}

bool Waiter::Cancel() {
  std::unique_lock<std::mutex> guard(mutex_);
  if (claimed_) return false;
  if (!cancel_requested_) {
    cancel_requested_ = true;
    while (!finished_) {
      guard.unlock();
      InterruptThread(thread_);
      guard.lock();
      finished_changed_.wait_for(guard, std::chrono::microseconds(200),
                                 [this] { return finished_; });
    }
    if (result_ == 0) Unlock(file_, request_);  // granted in the race: give it back
  }
  guard.unlock();
  Join();
  return true;
}

void Waiter::Join() {
  if (thread_ == nullptr) return;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    exit_allowed_ = true;
  }
  finished_changed_.notify_all();
  JoinThread(thread_);
  thread_ = nullptr;
}

}  // namespace locksmith
