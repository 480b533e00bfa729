// Node-API glue: argument unpacking, errors shaped like Node's fs errors, and
// per-environment bookkeeping so a worker that exits mid-wait leaves nothing held.
#include <napi.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "lock.h"
#include "waiter.h"

#ifndef LOCKSMITH_SOURCE_HASH
#define LOCKSMITH_SOURCE_HASH "unknown"
#endif

namespace locksmith {
namespace {

#ifdef _WIN32
constexpr const char* kThreadSyscall = "CreateThread";
#else
constexpr const char* kThreadSyscall = "pthread_create";
#endif

const char* ErrorName(int error) {
  switch (error) {
#define LOCKSMITH_ERRNO(name) \
  case name:                  \
    return #name;
    LOCKSMITH_ERRNO(EACCES) LOCKSMITH_ERRNO(EAGAIN) LOCKSMITH_ERRNO(EBADF)
    LOCKSMITH_ERRNO(EBUSY) LOCKSMITH_ERRNO(ECANCELED) LOCKSMITH_ERRNO(EDEADLK)
    LOCKSMITH_ERRNO(EEXIST) LOCKSMITH_ERRNO(EFAULT) LOCKSMITH_ERRNO(EFBIG)
    LOCKSMITH_ERRNO(EINTR) LOCKSMITH_ERRNO(EINVAL) LOCKSMITH_ERRNO(EIO)
    LOCKSMITH_ERRNO(EISDIR) LOCKSMITH_ERRNO(ELOOP) LOCKSMITH_ERRNO(EMFILE)
    LOCKSMITH_ERRNO(ENAMETOOLONG) LOCKSMITH_ERRNO(ENFILE) LOCKSMITH_ERRNO(ENOENT)
    LOCKSMITH_ERRNO(ENOLCK) LOCKSMITH_ERRNO(ENOMEM) LOCKSMITH_ERRNO(ENOSPC)
    LOCKSMITH_ERRNO(ENOSYS) LOCKSMITH_ERRNO(ENOTDIR) LOCKSMITH_ERRNO(ENOTSUP)
    LOCKSMITH_ERRNO(ENXIO) LOCKSMITH_ERRNO(EOVERFLOW) LOCKSMITH_ERRNO(EPERM)
    LOCKSMITH_ERRNO(EROFS) LOCKSMITH_ERRNO(ETIMEDOUT) LOCKSMITH_ERRNO(ETXTBSY)
#ifdef ESTALE
    LOCKSMITH_ERRNO(ESTALE)
#endif
#if defined(EOPNOTSUPP) && EOPNOTSUPP != ENOTSUP
    LOCKSMITH_ERRNO(EOPNOTSUPP)
#endif
#undef LOCKSMITH_ERRNO
    default:
      return "EUNKNOWN";
  }
}

// An Error like Node's own fs errors: code, errno (negative), syscall, path.
Napi::Error SystemError(Napi::Env env, int error, const char* syscall,
                        const std::string& path) {
  std::string code = ErrorName(-error);
  std::string text = std::strerror(-error);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  std::string message = code + ": " + text + ", " + syscall;
  if (!path.empty()) message += " '" + path + "'";
  Napi::Error result = Napi::Error::New(env, message);
  result.Set("code", code);
  result.Set("errno", Napi::Number::New(env, error));
  result.Set("syscall", syscall);
  if (!path.empty()) result.Set("path", path);
  return result;
}

Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error result = Napi::Error::New(env, message);
  result.Set("code", code);
  return result;
}

const char* LockSyscall(Backend backend) {
  switch (backend) {
    case Backend::Flock:
      return "flock";
    case Backend::Windows:
      return "LockFileEx";
    default:
      return "fcntl";
  }
}

// Arguments (backend, exclusive, start, length); start undefined = whole file.
LockRequest ReadRequest(const Napi::CallbackInfo& info) {
  LockRequest request{};
  request.backend = static_cast<Backend>(info[0].As<Napi::Number>().Int32Value());
  request.exclusive = info[1].As<Napi::Boolean>().Value();
  if (info[2].IsUndefined()) {
    WholeFileRange(request.backend, &request.start, &request.length);
  } else {
    request.start = info[2].As<Napi::Number>().Int64Value();
    request.length = info[3].As<Napi::Number>().Int64Value();
  }
  if (!BackendSupported(request.backend)) {
    throw CodedError(info.Env(), "ERR_LOCK_BACKEND_UNSUPPORTED",
                     "This lock backend is not available on this platform");
  }
  return request;
}

class LockHandle;

// Per-environment state: the handles that are open in this environment.
class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  ~Addon();

  std::set<LockHandle*> handles;
};

// One asynchronous wait. Owned by its thread-safe function, whose finalizer
// deletes it once the completion has been delivered (or the environment ends).
struct PendingWait {
  LockHandle* handle = nullptr;  // null once detached (delivered or cancelled)
  Napi::ThreadSafeFunction completion;
  std::unique_ptr<Waiter> waiter;
};

class LockHandle : public Napi::ObjectWrap<LockHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LockHandle",
                       {
                           InstanceMethod<&LockHandle::TryLock>("tryLock"),
                           InstanceMethod<&LockHandle::LockSync>("lockSync"),
                           InstanceMethod<&LockHandle::Wait>("wait"),
                           InstanceMethod<&LockHandle::Cancel>("cancel"),
                           InstanceMethod<&LockHandle::Unlock>("unlock"),
                           InstanceMethod<&LockHandle::Close>("close"),
                           InstanceMethod<&LockHandle::IsCurrent>("isCurrent"),
                           InstanceAccessor<&LockHandle::Fd>("fd"),
                       });
  }

  // new LockHandle(path, noFollow, permissions)
  explicit LockHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LockHandle>(info) {
    Napi::Env env = info.Env();
    path_ = info[0].As<Napi::String>().Utf8Value();
    OpenOptions options{info[1].As<Napi::Boolean>().Value(),
                        info[2].As<Napi::Number>().Int32Value()};
    int error = OpenLockFile(path_.c_str(), options, &file_);
    if (error != 0) throw SystemError(env, error, "open", path_);
    open_ = true;
    addon_ = env.GetInstanceData<Addon>();
    addon_->handles.insert(this);
  }

  ~LockHandle() override {
    if (addon_ != nullptr) addon_->handles.erase(this);
    addon_ = nullptr;  // no reference counting while being destroyed
    Teardown();
  }

  // Cancels any wait and closes the file; the kernel drops this handle's locks.
  void Teardown() {
    CancelWait();
    if (open_) {
      CloseLockFile(file_);
      open_ = false;
    }
  }

  void Detach() { addon_ = nullptr; }

  // Called on the JavaScript thread when the waiter thread has finished. No
  // C++ exception may leave a thread-safe function's callback: the runtime
  // would abort the whole process. One arrives when the environment is being
  // torn down (a worker terminated just as the kernel granted its lock); a
  // grant that cannot be delivered is given back to the kernel.
  static void Deliver(Napi::Env env, Napi::Function callback, PendingWait* pending) noexcept {
    LockHandle* self = pending->handle;
    int result = pending->waiter->Claim();
    // The thread is parked; it exits and is joined when the finalizer deletes
    // the wait, so neither its exit nor the join delays the caller.
    pending->completion.Release();
    if (self == nullptr || result == -ECANCELED) return;
    self->pending_ = nullptr;
    pending->handle = nullptr;
    try {
      self->Unref();
      if (result == 0) {
        // The third argument: whether the path still named the file just after
        // the grant (undefined if that could not be told).
        int current = pending->waiter->Current();
        Napi::Value checked = current < 0 ? env.Undefined() : Napi::Boolean::New(env, current == 1);
        if (CallBack(env, callback, {env.Null(), Napi::Boolean::New(env, true), checked})) return;
      } else {
        Napi::Value error = SystemError(env, result, LockSyscall(self->last_request_.backend), self->path_).Value();
        CallBack(env, callback, {error});
        return;
      }
    } catch (...) {
    }
    // The environment can no longer run JavaScript: nobody owns the grant.
    if (result == 0 && self->open_) locksmith::Unlock(self->file_, self->last_request_);
  }

  // Calls without C++ exceptions. True if the callback ran (an exception it
  // threw stays pending, and Node reports it as uncaught once we return);
  // false if the environment could not run it (it is being torn down).
  static bool CallBack(Napi::Env env, Napi::Function callback, std::initializer_list<napi_value> args) {
    napi_value ignored;
    if (napi_call_function(env, env.Undefined(), callback, args.size(), args.begin(), &ignored) == napi_ok) return true;
    bool pending = false;
    return napi_is_exception_pending(env, &pending) == napi_ok && pending;
  }

  static void Finalize(Napi::Env, PendingWait* pending) {
    if (pending->handle != nullptr) pending->handle->pending_ = nullptr;
    delete pending;  // the Waiter's destructor cancels if still running, and joins
  }

 private:
  void EnsureOpen(Napi::Env env, const char* syscall) {
    if (!open_) throw SystemError(env, -EBADF, syscall, path_);
  }

  void EnsureNoWait(Napi::Env env) {
    if (pending_ != nullptr) {
      throw CodedError(env, "ERR_LOCK_WAIT_PENDING", "A wait is already in progress on this handle");
    }
  }

  // tryLock(backend, exclusive, start, length): true if locked, false if busy.
  Napi::Value TryLock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LockRequest request = ReadRequest(info);
    EnsureOpen(env, LockSyscall(request.backend));
    int result = locksmith::TryLock(file_, request);
    if (result == kBusy) return Napi::Boolean::New(env, false);
    if (result != 0) throw SystemError(env, result, LockSyscall(request.backend), path_);
    return Napi::Boolean::New(env, true);
  }

  // lockSync(backend, exclusive, start, length, timeoutMs): blocks this thread.
  // timeoutMs < 0 waits forever. Returns false when the time ran out.
  Napi::Value LockSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LockRequest request = ReadRequest(info);
    int64_t timeout_ms = info[4].As<Napi::Number>().Int64Value();
    EnsureOpen(env, LockSyscall(request.backend));
    EnsureNoWait(env);
    int result;
    if (timeout_ms < 0) {
      do result = WaitLock(file_, request);
      while (result == -EINTR);
    } else {
      result = locksmith::TryLock(file_, request);
      if (result == kBusy) {
        Waiter waiter(file_, request, nullptr);
        result = waiter.Start();
        if (result == 0) {
          if (!waiter.WaitFor(timeout_ms)) {
            waiter.Cancel();
            return Napi::Boolean::New(env, false);
          }
          result = waiter.Claim();
          waiter.Join();
        }
      }
    }
    if (result != 0) throw SystemError(env, result, LockSyscall(request.backend), path_);
    return Napi::Boolean::New(env, true);
  }

  // wait(backend, exclusive, start, length, callback, checkCurrent): waits on a
  // native thread of its own; callback(error) or callback(null, true, current)
  // on the JavaScript thread. `current` is only looked at when asked for.
  void Wait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LockRequest request = ReadRequest(info);
    Napi::Function callback = info[4].As<Napi::Function>();
    bool check_current = info[5].ToBoolean().Value();
    EnsureOpen(env, LockSyscall(request.backend));
    EnsureNoWait(env);

    auto* pending = new PendingWait();
    pending->completion = Napi::ThreadSafeFunction::New(
        env, callback, "locksmith.wait", 0, 1, pending,
        [](Napi::Env finalize_env, PendingWait* data) { Finalize(finalize_env, data); });
    pending->waiter = std::make_unique<Waiter>(
        file_, request,
        [pending] {
          pending->completion.NonBlockingCall([pending](Napi::Env call_env, Napi::Function cb) {
            Deliver(call_env, cb, pending);
          });
        },
        check_current ? path_ : std::string());
    int error = pending->waiter->Start();
    if (error != 0) {
      pending->completion.Release();
      throw SystemError(env, error, kThreadSyscall, path_);
    }
    pending->handle = this;
    pending_ = pending;
    last_request_ = request;
    Ref();  // keep this handle alive while its thread uses the file
  }

  // cancel(): stops the wait in progress. Returns once no thread waits and no
  // lock granted in the race is held; false if there was nothing to cancel.
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), CancelWait());
  }

  bool CancelWait() {
    PendingWait* pending = pending_;
    if (pending == nullptr) return false;
    pending_ = nullptr;
    pending->handle = nullptr;
    bool cancelled = pending->waiter->Cancel();
    if (addon_ != nullptr) Unref();
    return cancelled;
  }

  // unlock(backend, start, length)
  void Unlock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LockRequest request{};
    request.backend = static_cast<Backend>(info[0].As<Napi::Number>().Int32Value());
    if (info[1].IsUndefined()) {
      WholeFileRange(request.backend, &request.start, &request.length);
    } else {
      request.start = info[1].As<Napi::Number>().Int64Value();
      request.length = info[2].As<Napi::Number>().Int64Value();
    }
    const char* syscall = request.backend == Backend::Windows ? "UnlockFileEx" : LockSyscall(request.backend);
    EnsureOpen(env, syscall);
    int result = locksmith::Unlock(file_, request);
    if (result != 0) throw SystemError(env, result, syscall, path_);
  }

  void Close(const Napi::CallbackInfo& info) {
    EnsureOpen(info.Env(), "close");
    CancelWait();
    int result = CloseLockFile(file_);
    open_ = false;
    if (result != 0) throw SystemError(info.Env(), result, "close", path_);
  }

  // isCurrent(): whether the path still names this open, linked file.
  Napi::Value IsCurrent(const Napi::CallbackInfo& info) {
    EnsureOpen(info.Env(), "fstat");
    bool current = false;
    int result = IsCurrentFile(file_, path_.c_str(), &current);
    if (result != 0) throw SystemError(info.Env(), result, "fstat", path_);
    return Napi::Boolean::New(info.Env(), current);
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
#ifdef _WIN32
    return Napi::Number::New(info.Env(), -1);
#else
    return Napi::Number::New(info.Env(), open_ ? file_ : -1);
#endif
  }

  Addon* addon_ = nullptr;
  std::string path_;
  file_t file_{};
  bool open_ = false;
  PendingWait* pending_ = nullptr;
  LockRequest last_request_{};
};

#ifndef _WIN32
// The uncontended whole-file fast path: plain functions on a descriptor, free of
// the method dispatch and unwrapping that cost more than the system call itself.
// The JavaScript side passes only descriptors of its open lock files and takes
// the method path (which throws a full error) when these report an error.

// tryLockFd(fd, backend, exclusive): 1 locked, 0 busy, or -errno.
Napi::Value TryLockFd(const Napi::CallbackInfo& info) {
  LockRequest request{};
  request.backend = static_cast<Backend>(info[1].As<Napi::Number>().Int32Value());
  request.exclusive = info[2].As<Napi::Boolean>().Value();
  WholeFileRange(request.backend, &request.start, &request.length);
  int result = TryLock(info[0].As<Napi::Number>().Int32Value(), request);
  return Napi::Number::New(info.Env(), result == 0 ? 1 : result == kBusy ? 0 : result);
}

// unlockFd(fd, backend): 0 or -errno.
Napi::Value UnlockFd(const Napi::CallbackInfo& info) {
  LockRequest request{};
  request.backend = static_cast<Backend>(info[1].As<Napi::Number>().Int32Value());
  WholeFileRange(request.backend, &request.start, &request.length);
  return Napi::Number::New(info.Env(), Unlock(info[0].As<Napi::Number>().Int32Value(), request));
}
#endif

Addon::Addon(Napi::Env env, Napi::Object exports) {
  Napi::Function constructor = LockHandle::Define(env);
  Napi::Object backends = Napi::Object::New(env);
  backends.Set("flock", BackendSupported(Backend::Flock));
  backends.Set("ofd", BackendSupported(Backend::Ofd));
  backends.Set("posix", BackendSupported(Backend::Posix));
  backends.Set("windows", BackendSupported(Backend::Windows));
  exports.Set("LockHandle", constructor);
  exports.Set("backends", backends);
  exports.Set("sourceHash", LOCKSMITH_SOURCE_HASH);
#ifndef _WIN32
  exports.Set("tryLockFd", Napi::Function::New<TryLockFd>(env, "tryLockFd"));
  exports.Set("unlockFd", Napi::Function::New<UnlockFd>(env, "unlockFd"));
#endif
}

// The environment is going away (process exit or a worker ending): stop every
// waiter thread and close every file so no lock outlives its owner.
Addon::~Addon() {
  for (LockHandle* handle : handles) {
    handle->Detach();
    handle->Teardown();
  }
  handles.clear();
}

}  // namespace
}  // namespace locksmith

using locksmith::Addon;
NODE_API_ADDON(Addon)
