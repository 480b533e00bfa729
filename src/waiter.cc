#include "waiter.h"

#include <cerrno>
#include <chrono>

namespace locksmith {

Waiter::Waiter(file_t file, LockRequest request, std::function<void()> on_finish)
    : file_(file), request_(request), on_finish_(std::move(on_finish)) {}

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
  {
    std::lock_guard<std::mutex> guard(self->mutex_);
    self->result_ = result;
    self->finished_ = true;
  }
  self->finished_changed_.notify_all();
  if (self->on_finish_) self->on_finish_();
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
  JoinThread(thread_);
  thread_ = nullptr;
}

}  // namespace locksmith
