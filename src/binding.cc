// Node-API glue: argument unpacking, errors shaped like Node's fs errors, and
// a per-environment table of open lock files, so a worker that exits mid-wait
// leaves nothing held and no file costs memory that waits for the collector.
#include <napi.h>

#include <cctype>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>

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
// Built with plain Node-API calls that report failure by status (nullptr
// here), never by a C++ exception or a fatal error: a grant's delivery builds
// one while its environment may be shutting down.
napi_value MakeSystemError(napi_env env, int error, const char* syscall, const std::string& path) {
  std::string code = ErrorName(-error);
  std::string text = std::strerror(-error);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  std::string message = code + ": " + text + ", " + syscall;
  if (!path.empty()) message += " '" + path + "'";
  napi_value code_value, message_value, errno_value, syscall_value, path_value, result;
  bool ok = napi_create_string_utf8(env, code.c_str(), code.size(), &code_value) == napi_ok &&
            napi_create_string_utf8(env, message.c_str(), message.size(), &message_value) == napi_ok &&
            napi_create_error(env, nullptr, message_value, &result) == napi_ok &&
            napi_set_named_property(env, result, "code", code_value) == napi_ok &&
            napi_create_int32(env, error, &errno_value) == napi_ok &&
            napi_set_named_property(env, result, "errno", errno_value) == napi_ok &&
            napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value) == napi_ok &&
            napi_set_named_property(env, result, "syscall", syscall_value) == napi_ok;
  if (ok && !path.empty()) {
    ok = napi_create_string_utf8(env, path.c_str(), path.size(), &path_value) == napi_ok &&
         napi_set_named_property(env, result, "path", path_value) == napi_ok;
  }
  return ok ? result : nullptr;
}

// The same, to throw from a call out of JavaScript.
Napi::Error SystemError(Napi::Env env, int error, const char* syscall, const std::string& path) {
  napi_value result = MakeSystemError(env, error, syscall, path);
  if (result == nullptr) return Napi::Error::New(env);
  return Napi::Error(env, result);
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

// The range from info[at] (start, undefined = whole file) and info[at + 1] (length).
void ReadRangeInto(const Napi::CallbackInfo& info, size_t at, LockRequest* request) {
  if (info[at].IsUndefined()) {
    WholeFileRange(request->backend, &request->start, &request->length);
  } else {
    request->start = info[at].As<Napi::Number>().Int64Value();
    request->length = info[at + 1].As<Napi::Number>().Int64Value();
  }
}

// Arguments from info[at]: (backend, start, length), for unlock.
LockRequest ReadRange(const Napi::CallbackInfo& info, size_t at) {
  LockRequest request{};
  request.backend = static_cast<Backend>(info[at].As<Napi::Number>().Int32Value());
  ReadRangeInto(info, at + 1, &request);
  return request;
}

// Arguments from info[at]: (backend, exclusive, start, length).
LockRequest ReadRequest(const Napi::CallbackInfo& info, size_t at) {
  LockRequest request{};
  request.backend = static_cast<Backend>(info[at].As<Napi::Number>().Int32Value());
  request.exclusive = info[at + 1].As<Napi::Boolean>().Value();
  ReadRangeInto(info, at + 2, &request);
  if (!BackendSupported(request.backend)) {
    throw CodedError(info.Env(), "ERR_LOCK_BACKEND_UNSUPPORTED",
                     "This lock backend is not available on this platform");
  }
  return request;
}

// A string argument as UTF-8 in one conversion for the usual length (a
// std::string's own way asks V8 for the length first, then converts).
std::string Utf8Argument(napi_env env, napi_value value) {
  char buffer[1024];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, buffer, sizeof buffer, &length) != napi_ok) return std::string();
  if (length + 1 < sizeof buffer) return std::string(buffer, length);
  return Napi::String(env, value).Utf8Value();  // may have been cut short: the full way
}

struct Wait;

// One open lock file, addressed from JavaScript by an integer id. It lives
// in its environment's table until close(id) frees it at once (or the
// environment ends): no per-file native object waits for the garbage collector,
// so open/lock/unlock/close cycles run in flat memory even when the event loop
// never turns.
struct OpenFile {
  std::string path;
  file_t file{};
  bool read_only = false;  // opened read-only because read-write was refused
  bool owned = true;       // false for an adopted descriptor: never closed here
  Wait* wait = nullptr;    // the wait in progress, if any
  // The last whole-file lock granted on it: when (ms since the epoch, as
  // Date.now()) and how, for holders(), which asks only about locks the kernel
  // lists as held; 0 when none was granted. Noted here, not in JavaScript,
  // where Date.now() allocated a number on every try-lock.
  double granted_ms = 0;
  Backend granted_backend = Backend::Flock;
  bool granted_exclusive = false;
};

// A small integer result, made without the double conversion of Napi::Number
// (the try-lock fast path returns one on every call).
Napi::Value SmallInt(Napi::Env env, int32_t value) {
  napi_value result;
  napi_create_int32(env, value, &result);
  return Napi::Value(env, result);
}

double NowMs() {
  using namespace std::chrono;
  return static_cast<double>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

// Notes a granted lock on the file if it is the whole-file one (see OpenFile).
void NoteGrant(OpenFile& file, const LockRequest& request) {
  int64_t start, length;
  WholeFileRange(request.backend, &start, &length);
  if (request.start != start || request.length != length) return;
  file.granted_ms = NowMs();
  file.granted_backend = request.backend;
  file.granted_exclusive = request.exclusive;
}

// One asynchronous wait: a waiter thread and the thread-safe function that
// brings its outcome to the JavaScript thread. Owned by that thread-safe
// function, whose finalizer deletes it; the file and the wait point at each
// other until either lets go (delivered, cancelled, closed, torn down).
struct Wait {
  OpenFile* file = nullptr;
  LockRequest request{};
  napi_threadsafe_function completion = nullptr;
  std::unique_ptr<Waiter> waiter;
};

// Stops a wait (if any) and detaches it from its file. Returns once no thread
// waits and no lock granted in the race is held; false if nothing was waiting.
bool CancelWait(OpenFile& file) {
  Wait* wait = file.wait;
  if (wait == nullptr) return false;
  file.wait = nullptr;
  wait->file = nullptr;
  return wait->waiter->Cancel();
}

// Calls back without letting a C++ exception out (one that leaves a
// thread-safe function's callback aborts the whole process) and with plain
// Node-API calls, whose failures in a dying environment are statuses, not
// node-addon-api's exceptions or fatal errors. True if the
// callback ran (an exception it threw stays pending and Node reports it as
// uncaught); false if this environment could not run it (being torn down).
bool Report(napi_env env, napi_value callback, const Wait& wait, const OpenFile& file,
            int result) noexcept {
  try {
    napi_value args[4];
    size_t count = 1;
    if (result == 0) {
      // The third argument: whether the path still named the file just after
      // the grant (undefined if that could not be told or was not asked); the
      // fourth: whether the wait had to block behind another holder.
      int current = wait.waiter->Current();
      count = 4;
      if (napi_get_null(env, &args[0]) != napi_ok || napi_get_boolean(env, true, &args[1]) != napi_ok) return false;
      napi_status status = current < 0 ? napi_get_undefined(env, &args[2]) : napi_get_boolean(env, current == 1, &args[2]);
      if (status != napi_ok || napi_get_boolean(env, wait.waiter->Waited(), &args[3]) != napi_ok) return false;
    } else {
      args[0] = MakeSystemError(env, result, LockSyscall(wait.request.backend), file.path);
      if (args[0] == nullptr) return false;
    }
    napi_value receiver, ignored;
    if (napi_get_undefined(env, &receiver) != napi_ok) return false;
    if (napi_call_function(env, receiver, callback, count, args, &ignored) == napi_ok) return true;
    bool pending = false;
    return napi_is_exception_pending(env, &pending) == napi_ok && pending;
  } catch (...) {  // std::bad_alloc from building the message
    return false;
  }
}

// The thread-safe function's call_js, on the JavaScript thread once the waiter
// thread has finished. Node also calls it with a null env while tearing the
// environment down, after the finalizer has deleted the wait: touch nothing then.
void Deliver(napi_env env, napi_value callback, void*, void* data) noexcept {
  if (env == nullptr) return;
  auto* wait = static_cast<Wait*>(data);
  if (!wait->waiter->Checked()) return;  // called again once it is
  // The waiter thread lets go of the wait on its own; the finalizer, which
  // deletes the wait, waits for that if need be (it rarely has to).
  napi_release_threadsafe_function(wait->completion, napi_tsfn_release);
  int result = wait->waiter->Claim();
  OpenFile* file = wait->file;
  if (file == nullptr || result == -ECANCELED) return;
  file->wait = nullptr;
  wait->file = nullptr;
  if (result == 0) NoteGrant(*file, wait->request);
  if (Report(env, callback, *wait, *file, result)) return;
  // Nobody can own this grant (a worker terminated just as it came): give it back.
  if (result == 0) Unlock(file->file, wait->request);
}

// The thread-safe function's finalizer. At teardown it may come before the
// table's own cleanup: the Waiter's destructor then cancels, gives back a
// grant while the file is still open, and waits until its thread lets go.
void FinalizeWait(napi_env, void* data, void*) noexcept {
  auto* wait = static_cast<Wait*>(data);
  if (wait->file != nullptr) wait->file->wait = nullptr;
  delete wait;
}

// Per-environment state: the table of open lock files, and the functions
// JavaScript calls on them. Its destructor runs when the environment ends (the
// process exiting, a worker thread ending).
class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  ~Addon();

 private:
  // open(path, noFollow, permissions) -> id. Throws a full system error.
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    OpenFile entry;
    entry.path = info[0].As<Napi::String>().Utf8Value();
    OpenOptions options{info[1].As<Napi::Boolean>().Value(), info[2].As<Napi::Number>().Int32Value()};
    int error = OpenLockFile(entry.path.c_str(), options, &entry.file, &entry.read_only);
    if (error != 0) throw SystemError(env, error, "open", entry.path);
    int64_t id = next_id_++;
    files_.emplace(id, std::move(entry));
    return Napi::Number::New(env, static_cast<double>(id));
  }

  // adopt(fd, label) -> id: a descriptor the program opened, locked through the
  // table like any other but never closed by it (close(id) only forgets it).
  Napi::Value Adopt(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    OpenFile entry;
    entry.path = info[1].As<Napi::String>().Utf8Value();
    entry.owned = false;
    int error = AdoptDescriptor(info[0].As<Napi::Number>().Int32Value(), &entry.file, &entry.read_only);
    if (error != 0) throw SystemError(env, error, "fstat", std::string());
    int64_t id = next_id_++;
    files_.emplace(id, std::move(entry));
    return Napi::Number::New(env, static_cast<double>(id));
  }

  // tryLock(id, backend, exclusive, start?, length?) -> true if locked, false if busy.
  Napi::Value TryLock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LockRequest request = ReadRequest(info, 1);
    OpenFile& file = Find(info, LockSyscall(request.backend));
    int result = locksmith::TryLock(file.file, request);
    if (result == kBusy) return Napi::Boolean::New(env, false);
    if (result != 0) throw SystemError(env, result, LockSyscall(request.backend), file.path);
    NoteGrant(file, request);
    return Napi::Boolean::New(env, true);
  }

  // lockSync(id, backend, exclusive, start, length, timeoutMs): blocks this
  // thread; timeoutMs < 0 waits forever. False when the time ran out.
  Napi::Value LockSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LockRequest request = ReadRequest(info, 1);
    int64_t timeout_ms = info[5].As<Napi::Number>().Int64Value();
    OpenFile& file = Find(info, LockSyscall(request.backend));
    EnsureNoWait(env, file);
    int result;
    if (timeout_ms < 0) {
      do result = WaitLock(file.file, request);
      while (result == -EINTR);
    } else {
      result = locksmith::TryLock(file.file, request);
      if (result == kBusy) {
        Waiter waiter(file.file, request, nullptr);
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
    if (result != 0) throw SystemError(env, result, LockSyscall(request.backend), file.path);
    NoteGrant(file, request);
    return Napi::Boolean::New(env, true);
  }

  // wait(id, backend, exclusive, start, length, callback, checkCurrent, tryFirst):
  // waits on a native thread of its own; callback(error) or callback(null, true,
  // current, waited) on the JavaScript thread. Until then the thread-safe function
  // keeps the event loop alive and holds the callback (and what it uses).
  void StartWait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LockRequest request = ReadRequest(info, 1);
    Napi::Function callback = info[5].As<Napi::Function>();
    bool check_current = info[6].ToBoolean().Value();
    bool try_first = info[7].ToBoolean().Value();
    OpenFile& file = Find(info, LockSyscall(request.backend));
    EnsureNoWait(env, file);

    auto owned = std::make_unique<Wait>();
    owned->request = request;
    napi_status status = napi_create_threadsafe_function(
        env, callback, nullptr, Napi::String::New(env, "locksmith.wait"), 0, 1, owned.get(),
        FinalizeWait, nullptr, Deliver, &owned->completion);
    if (status != napi_ok) throw Napi::Error::New(env);
    Wait* wait = owned.release();  // the thread-safe function's finalizer owns it now
    wait->waiter = std::make_unique<Waiter>(
        file.file, request,
        [wait] { napi_call_threadsafe_function(wait->completion, wait, napi_tsfn_nonblocking); },
        check_current ? file.path : std::string(), try_first);
    int error = wait->waiter->Start();
    if (error != 0) {
      napi_release_threadsafe_function(wait->completion, napi_tsfn_release);
      throw SystemError(env, error, kThreadSyscall, file.path);
    }
    wait->file = &file;
    file.wait = wait;
  }

  // cancel(id): stops the wait in progress. Returns once no thread waits and
  // no lock granted in the race is held; false if there was nothing to cancel.
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), CancelWait(Find(info, "cancel")));
  }

  // unlock(id, backend, start?, length?)
  void Unlock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LockRequest request = ReadRange(info, 1);
    const char* syscall = request.backend == Backend::Windows ? "UnlockFileEx" : LockSyscall(request.backend);
    OpenFile& file = Find(info, syscall);
    int result = locksmith::Unlock(file.file, request);
    if (result != 0) throw SystemError(env, result, syscall, file.path);
  }

  // close(id): cancels any wait, closes the file (the kernel drops its locks)
  // and frees the entry.
  void Close(const Napi::CallbackInfo& info) {
    OpenFile& file = Find(info, "close");
    CancelWait(file);
    int result = file.owned ? CloseLockFile(file.file) : 0;
    std::string path = std::move(file.path);
    files_.erase(info[0].As<Napi::Number>().Int64Value());
    if (result != 0) throw SystemError(info.Env(), result, "close", path);
  }

  // isCurrent(id): whether the path still names this open, linked file.
  Napi::Value IsCurrent(const Napi::CallbackInfo& info) {
    OpenFile& file = Find(info, "fstat");
    bool current = false;
    int result = IsCurrentFile(file.file, file.path.c_str(), &current);
    if (result != 0) throw SystemError(info.Env(), result, "fstat", file.path);
    return Napi::Boolean::New(info.Env(), current);
  }

  // fd(id): the descriptor (-1 on Windows, whose handles are no descriptors).
  Napi::Value Fd(const Napi::CallbackInfo& info) {
    OpenFile& file = Find(info, "fstat");
#ifdef _WIN32
    (void)file;
    return Napi::Number::New(info.Env(), -1);
#else
    return Napi::Number::New(info.Env(), file.file);
#endif
  }

  // readOnly(id): opened read-only because read-write was refused (a file we
  // may not write, a read-only file system, a directory).
  Napi::Value ReadOnly(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), Find(info, "open").read_only);
  }

  // openCount(): entries in this environment's table, for leak checks.
  Napi::Value OpenCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(files_.size()));
  }

  // The uncontended whole-file path, one call each way: no argument objects,
  // no exceptions. JavaScript calls the full method when these report an
  // error, which repeats the attempt and throws it in full.
  // tryLockWhole(id, backend, exclusive) -> 1 locked, 0 busy, or -errno.
  Napi::Value TryLockWhole(const Napi::CallbackInfo& info) {
    auto found = files_.find(info[0].As<Napi::Number>().Int64Value());
    int result = -EBADF;
    if (found != files_.end()) {
      LockRequest request{};
      request.backend = static_cast<Backend>(info[1].As<Napi::Number>().Int32Value());
      request.exclusive = info[2].As<Napi::Boolean>().Value();
      WholeFileRange(request.backend, &request.start, &request.length);
      result = locksmith::TryLock(found->second.file, request);
      if (result == 0) NoteGrant(found->second, request);
    }
    return SmallInt(info.Env(), result == 0 ? 1 : result == kBusy ? 0 : result);
  }

  // unlockWhole(id, backend) -> 0 or -errno.
  Napi::Value UnlockWhole(const Napi::CallbackInfo& info) {
    auto found = files_.find(info[0].As<Napi::Number>().Int64Value());
    int result = -EBADF;
    if (found != files_.end()) {
      LockRequest request{};
      request.backend = static_cast<Backend>(info[1].As<Napi::Number>().Int32Value());
      WholeFileRange(request.backend, &request.start, &request.length);
      result = locksmith::Unlock(found->second.file, request);
    }
    return SmallInt(info.Env(), result);
  }

  // The uncontended acquire and release of a Lock, one call each.
  // openLockCheck(path, noFollow, permissions, backend, exclusive) opens the
  // file, tries the whole-file lock and checks that the path still names the
  // locked file (a file replaced meanwhile is unlocked, closed and opened
  // again). Returns the new id (> 0) when locked; -id when busy (the entry
  // stays open for the caller to wait on); 0 for anything else, with nothing
  // left open: JavaScript then repeats the full way (open, tryLock,
  // isCurrent), which throws in full or creates missing directories. Never throws.
  Napi::Value OpenLockCheck(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    OpenFile entry;
    entry.path = Utf8Argument(env, info[0]);
    OpenOptions options{info[1].As<Napi::Boolean>().Value(), info[2].As<Napi::Number>().Int32Value()};
    LockRequest request{};
    request.backend = static_cast<Backend>(info[3].As<Napi::Number>().Int32Value());
    request.exclusive = info[4].As<Napi::Boolean>().Value();
    if (!BackendSupported(request.backend)) return Napi::Number::New(env, 0);
    WholeFileRange(request.backend, &request.start, &request.length);
    // Each retry means the file was replaced between open and lock; past a
    // few, the full way loops on.
    for (int attempt = 0; attempt < 8; attempt++) {
      if (OpenLockFile(entry.path.c_str(), options, &entry.file, &entry.read_only) != 0) break;
      int result = locksmith::TryLock(entry.file, request);
      bool current = false;
      int checked = result == 0 ? IsCurrentFile(entry.file, entry.path.c_str(), &current) : 0;
      if (result == 0 && checked == 0 && current) {
        NoteGrant(entry, request);
        return Napi::Number::New(env, static_cast<double>(Insert(std::move(entry))));
      }
      if (result == kBusy) return Napi::Number::New(env, -static_cast<double>(Insert(std::move(entry))));
      if (result == 0) locksmith::Unlock(entry.file, request);
      CloseLockFile(entry.file);
      if (result != 0 || checked != 0) break;  // an error (of the lock or of the check)
    }
    return Napi::Number::New(env, 0);
  }

  // unlockClose(id, backend, unlockFirst): gives back the whole-file lock,
  // closes the file and frees the entry (also when either call fails, which
  // then throws). Where the close alone gives the lock back (kCloseReleasesLock)
  // the unlock is left out unless asked for: a waiter it wakes gets in sooner.
  void UnlockClose(const Napi::CallbackInfo& info) {
    Backend backend = static_cast<Backend>(info[1].As<Napi::Number>().Int32Value());
    OpenFile& file = Find(info, backend == Backend::Windows ? "UnlockFileEx" : LockSyscall(backend));
    CancelWait(file);
    LockRequest request{};
    request.backend = backend;
    WholeFileRange(backend, &request.start, &request.length);
    bool unlock_first = info[2].As<Napi::Boolean>().Value();
    int unlocked = kCloseReleasesLock && file.owned && !unlock_first ? 0 : locksmith::Unlock(file.file, request);
    int closed = file.owned ? CloseLockFile(file.file) : 0;
    std::string path = std::move(file.path);
    files_.erase(info[0].As<Napi::Number>().Int64Value());
    if (unlocked != 0) {
      throw SystemError(info.Env(), unlocked, backend == Backend::Windows ? "UnlockFileEx" : LockSyscall(backend), path);
    }
    if (closed != 0) throw SystemError(info.Env(), closed, "close", path);
  }

  // grantedSince(fd, backend, exclusive) -> when a whole-file lock in that mode
  // was last granted on this descriptor (ms since the epoch), or -1. For
  // holders(), about a lock the kernel lists as held; a linear scan, off every
  // locking path.
  Napi::Value GrantedSince(const Napi::CallbackInfo& info) {
    double since = -1;
#ifndef _WIN32
    int fd = info[0].As<Napi::Number>().Int32Value();
    Backend backend = static_cast<Backend>(info[1].As<Napi::Number>().Int32Value());
    bool exclusive = info[2].As<Napi::Boolean>().Value();
    for (const auto& [id, file] : files_) {
      if (file.file == fd && file.granted_ms > 0 && file.granted_backend == backend &&
          file.granted_exclusive == exclusive) {
        since = file.granted_ms;
        break;
      }
    }
#endif
    return Napi::Number::New(info.Env(), since);
  }

  int64_t Insert(OpenFile&& entry) {
    int64_t id = next_id_++;
    files_.emplace(id, std::move(entry));
    return id;
  }

  // The entry for info[0]; a closed or unknown id is EBADF, as a closed
  // descriptor would be.
  OpenFile& Find(const Napi::CallbackInfo& info, const char* syscall) {
    auto found = files_.find(info[0].As<Napi::Number>().Int64Value());
    if (found == files_.end()) throw SystemError(info.Env(), -EBADF, syscall, std::string());
    return found->second;
  }

  static void EnsureNoWait(Napi::Env env, const OpenFile& file) {
    if (file.wait != nullptr) {
      throw CodedError(env, "ERR_LOCK_WAIT_PENDING", "A wait is already in progress on this lock file");
    }
  }

  // Ids are never reused: a stale id finds nothing rather than another file.
  // unordered_map keeps each entry at one address, which a wait points to.
  std::unordered_map<int64_t, OpenFile> files_;
  int64_t next_id_ = 1;
};

Addon::Addon(Napi::Env env, Napi::Object exports) {
  Napi::Object backends = Napi::Object::New(env);
  backends.Set("flock", BackendSupported(Backend::Flock));
  backends.Set("ofd", BackendSupported(Backend::Ofd));
  backends.Set("posix", BackendSupported(Backend::Posix));
  backends.Set("windows", BackendSupported(Backend::Windows));
  exports.Set("backends", backends);
  exports.Set("sourceHash", LOCKSMITH_SOURCE_HASH);
  DefineAddon(exports, {
                           InstanceMethod<&Addon::Open>("open"),
                           InstanceMethod<&Addon::Adopt>("adopt"),
                           InstanceMethod<&Addon::TryLock>("tryLock"),
                           InstanceMethod<&Addon::LockSync>("lockSync"),
                           InstanceMethod<&Addon::StartWait>("wait"),
                           InstanceMethod<&Addon::Cancel>("cancel"),
                           InstanceMethod<&Addon::Unlock>("unlock"),
                           InstanceMethod<&Addon::Close>("close"),
                           InstanceMethod<&Addon::IsCurrent>("isCurrent"),
                           InstanceMethod<&Addon::Fd>("fd"),
                           InstanceMethod<&Addon::ReadOnly>("readOnly"),
                           InstanceMethod<&Addon::OpenCount>("openCount"),
                           InstanceMethod<&Addon::TryLockWhole>("tryLockWhole"),
                           InstanceMethod<&Addon::UnlockWhole>("unlockWhole"),
                           InstanceMethod<&Addon::OpenLockCheck>("openLockCheck"),
                           InstanceMethod<&Addon::UnlockClose>("unlockClose"),
                           InstanceMethod<&Addon::GrantedSince>("grantedSince"),
                       });
}

// The environment is going away (process exit or a worker ending): stop every
// waiter thread, then close every file, so no lock outlives its owner. Waits
// are cancelled first: a grant that raced in is given back while its file is
// still open, never on a descriptor number that may be reused.
Addon::~Addon() {
  for (auto& [id, file] : files_) {
    CancelWait(file);
    if (file.owned) CloseLockFile(file.file);
  }
  files_.clear();
}

}  // namespace
}  // namespace locksmith

using locksmith::Addon;
NODE_API_ADDON(Addon)
