#include "waiter.h"

#include <cerrno>
#include <chrono>
#include <vector>

namespace locksmith {

namespace {

// Waiter threads are kept between waits, up to kMaxIdle of them for up to
// kIdleLifetime each. Starting a thread per wait cost a thread start before
// each wait and a thread exit and join on the JavaScript thread after it; and a
// thread that has just started has no recent CPU, so the kernel tends to wake it
// on an idle one, which on a virtual machine costs the most (measured: the
// bench's hand-off). The most recently used thread is reused first.
constexpr size_t kMaxIdle = 4;
constexpr auto kIdleLifetime = std::chrono::seconds(2);
constexpr const char* kBusyName = "locksmith-wait";
constexpr const char* kIdleName = "locksmith-idle";

struct Worker {
  Thread* thread = nullptr;
  Waiter* job = nullptr;  // set by Assign, cleared by the worker when done
  std::condition_variable assigned;
};

// Process-wide and never destroyed: idle workers may still be waiting on its
// mutex when the process exits.
struct Pool {
  std::mutex mutex;
  std::vector<Worker*> idle;
};

Pool& ThePool() {
  static Pool* pool = new Pool();
  return *pool;
}

void WorkerMain(void* raw) {
  auto* worker = static_cast<Worker*>(raw);
  Pool& pool = ThePool();
  std::unique_lock<std::mutex> guard(pool.mutex);
  for (;;) {
    Waiter* job = worker->job;
    guard.unlock();
    NameThread(kBusyName);
    job->Run(worker->thread);  // the job is let go of before Run returns
    guard.lock();
    worker->job = nullptr;
    if (pool.idle.size() >= kMaxIdle) break;
    pool.idle.push_back(worker);
    NameThread(kIdleName);
    bool has_job = worker->assigned.wait_for(guard, kIdleLifetime, [worker] { return worker->job != nullptr; });
    if (has_job) continue;  // Assign took it off the idle list
    for (auto it = pool.idle.begin(); it != pool.idle.end(); ++it) {
      if (*it == worker) {
        pool.idle.erase(it);
        break;
      }
    }
    break;
  }
  guard.unlock();
  DetachThread(worker->thread);
  delete worker;
}

// Runs the job on an idle worker, or on a new one. 0 or -errno.
int Assign(Waiter* job, Thread** thread) {
  Pool& pool = ThePool();
  {
    std::lock_guard<std::mutex> guard(pool.mutex);
    if (!pool.idle.empty()) {
      Worker* worker = pool.idle.back();
      pool.idle.pop_back();
      worker->job = job;
      *thread = worker->thread;
      ClearInterrupt(worker->thread);
      worker->assigned.notify_one();
      return 0;
    }
  }
  auto* worker = new Worker();
  worker->job = job;
  // The worker reads its thread only after Assign's caller has it too: both
  // under the pool's mutex, which the new thread takes first.
  std::lock_guard<std::mutex> guard(pool.mutex);
  int error = StartThread(&WorkerMain, worker, &worker->thread);
  if (error != 0) {
    delete worker;
    return error;
  }
  *thread = worker->thread;
  return 0;
}

}  // namespace

Waiter::Waiter(file_t file, LockRequest request, std::function<void()> on_finish,
               std::string path_to_check, bool try_first)
    : file_(file),
      request_(request),
      on_finish_(std::move(on_finish)),
      path_to_check_(std::move(path_to_check)),
      try_first_(try_first) {}

Waiter::~Waiter() {
  Cancel();
  Join();
}

int Waiter::Start() {
  std::lock_guard<std::mutex> guard(mutex_);
  int error = Assign(this, &thread_);
  if (error != 0) {
    thread_ = nullptr;
    finished_ = true;
    let_go_ = true;
    result_ = error;
  }
  return error;
}

void Waiter::Run(Thread* thread) {
  FileIdentity identity;  // read now, so the check after the grant is shorter
  if (!path_to_check_.empty()) (void)ReadFileIdentity(file_, &identity);  // unknown: the full check
  // The attempt without blocking tells whether another holder was in the way
  // (Waited), which Lock's fair hand-off relies on.
  int result = try_first_ ? TryLock(file_, request_) : kBusy;
  const bool waited = result == kBusy;
  while (result == kBusy || result == -EINTR) {
    if (result == -EINTR) ClearInterrupt(thread);
    {
      std::lock_guard<std::mutex> guard(mutex_);
      if (cancel_requested_) {
        result = -ECANCELED;
        break;
      }
    }
    // A cancel that lands between the check above and the system call below
    // is not lost: Cancel() keeps interrupting until finished_ is set. An
    // interrupt meant for an earlier wait on this thread only costs a retry.
    result = WaitLock(file_, request_);
  }
  // The JavaScript thread is told first and the path checked while its event
  // loop wakes: waking a loop asleep on another CPU takes longer than the check
  // (measured on the bench's hand-off). Told before the check has ended, it is
  // told again once it has (see Checked()).
  const bool check = result == 0 && !path_to_check_.empty();
  {
    std::lock_guard<std::mutex> guard(mutex_);
    waited_ = waited;
    result_ = result;
    finished_ = true;
    checked_ = !check;
    finished_changed_.notify_all();
  }
  if (on_finish_) on_finish_();
  if (check) {
    int current = -1;
    bool is_current = false;
    if (IsCurrentKnownFile(file_, identity, path_to_check_.c_str(), &is_current) == 0) {
      current = is_current ? 1 : 0;
    }
    bool tell_again;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      current_ = current;
      checked_ = true;
      tell_again = tell_again_;
    }
    if (tell_again && on_finish_) on_finish_();
  }
  std::lock_guard<std::mutex> guard(mutex_);
  let_go_ = true;
  // Notified under the mutex: once Join() sees let_go_ this object may be
  // destroyed, so nothing here may touch it after the mutex is released.
  finished_changed_.notify_all();
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

bool Waiter::Checked() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (!checked_) tell_again_ = true;
  return checked_;
}

int Waiter::Current() {
  std::lock_guard<std::mutex> guard(mutex_);
  return current_;
}

bool Waiter::Waited() {
  std::lock_guard<std::mutex> guard(mutex_);
  return waited_;
}

bool Waiter::Cancel() {
  std::unique_lock<std::mutex> guard(mutex_);
  if (claimed_) return false;
  if (!cancel_requested_) {
    cancel_requested_ = true;
    // Interrupts only while this wait runs (under the mutex, before finished_):
    // the thread goes on to serve other waits afterwards.
    while (!finished_) {
      InterruptThread(thread_);
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
  std::unique_lock<std::mutex> guard(mutex_);
  finished_changed_.wait(guard, [this] { return let_go_; });
}

}  // namespace locksmith
