// Windows: LockFileEx byte-range locks on a handle of our own.
//
// Locks taken with LockFileEx are mandatory: while one handle holds an exclusive
// lock on a byte, reads and writes of that byte through every other handle fail,
// even in the same process. So the "whole file" lock is not the whole file but a
// single sentinel byte far beyond any real data (see WholeFileRange), and other
// handles keep reading and writing the file while it is locked.
//
// Waiting. A blocked LockFileEx cannot be interrupted portably:
//  - on a synchronous handle only CancelSynchronousIo could end it, and a blocked
//    synchronous LockFileEx also holds the handle's I/O lock, so tryLock, unlock
//    or isCurrent on the same handle from another thread would hang behind it;
//  - on an overlapped handle the wait would end with CancelIoEx, but Wine (8.0,
//    the only Windows this project can run in CI) never completes an overlapped
//    lock wait (its NtLockFile answers "pending" and drops the request) and
//    answers ERROR_NOT_FOUND to both CancelSynchronousIo and CancelIoEx.
// So WaitLock waits in slices: a LOCKFILE_FAIL_IMMEDIATELY attempt, then a sleep
// on the thread's interrupt event (1 ms, doubling up to kMaxSliceMs), which
// InterruptThread sets. One code path, the same on Windows and under Wine, and
// the handle never has a call blocked in the kernel. The price: a released lock
// is noticed up to kMaxSliceMs late (the timer resolution is about 15.6 ms
// unless someone raised it), and waiters are not served first come, first served.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#include <process.h>

#include <errno.h>

#include <cstdint>
#include <string>

#include "lock.h"

namespace locksmith {

namespace {

// Not in every mingw-w64 winerror.h.
#ifndef ERROR_STOPPED_ON_SYMLINK
#define ERROR_STOPPED_ON_SYMLINK 681L
#endif
#ifndef ERROR_ELEVATION_REQUIRED
#define ERROR_ELEVATION_REQUIRED 740L
#endif

constexpr DWORD kShareAll = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
constexpr DWORD kMaxSliceMs = 50;
constexpr DWORD kDeletePendingMaxMs = 1000;

// The whole-file sentinel byte: 2^62. Far beyond any file anyone writes, below
// 2^63 so that no layer that treats offsets as signed (LARGE_INTEGER, the host
// off_t under Wine) sees a negative number. Wine maps a Windows lock to a host
// fcntl() lock on the same range when it fits in off_t, which it does: Wine
// processes, and Linux processes using lockf/fcntl on byte 2^62, exclude each
// other.
constexpr int64_t kSentinelByte = int64_t{1} << 62;

// Win32 errors as errno codes, the same ones Node's fs reports for them (libuv's
// table) where it has them, so a LockSystemError reads like an fs error.
int ErrorFromWin32(DWORD error) {
  switch (error) {
    case ERROR_SUCCESS:
      return 0;
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME:
    case ERROR_BAD_PATHNAME:
    case ERROR_INVALID_DRIVE:
    case ERROR_BAD_NETPATH:
    case ERROR_BAD_NET_NAME:
    case ERROR_MOD_NOT_FOUND:
    // "The directory name is invalid": a path component that is not a
    // directory. Node's fs (libuv) says ENOENT for it too.
    case ERROR_DIRECTORY:
      return -ENOENT;
    case ERROR_ACCESS_DENIED:
    case ERROR_INVALID_ACCESS:
    case ERROR_CANT_ACCESS_FILE:
    case ERROR_ELEVATION_REQUIRED:
      return -EACCES;
    case ERROR_PRIVILEGE_NOT_HELD:
      return -EPERM;
    case ERROR_WRITE_PROTECT:
      return -EROFS;
    case ERROR_INVALID_HANDLE:
      return -EBADF;
    case ERROR_INVALID_PARAMETER:
    case ERROR_NEGATIVE_SEEK:
    case ERROR_NO_UNICODE_TRANSLATION:
      return -EINVAL;
    case ERROR_NOT_LOCKED:
      return -ENOLCK;
    case ERROR_LOCK_VIOLATION:
    case ERROR_SHARING_VIOLATION:
    case ERROR_DELETE_PENDING:
      return -EBUSY;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_NO_SYSTEM_RESOURCES:
      return -ENOMEM;
    case ERROR_TOO_MANY_OPEN_FILES:
      return -EMFILE;
    case ERROR_FILENAME_EXCED_RANGE:
    case ERROR_BUFFER_OVERFLOW:
      return -ENAMETOOLONG;
    case ERROR_CANT_RESOLVE_FILENAME:
    case ERROR_STOPPED_ON_SYMLINK:
      return -ELOOP;
    case ERROR_OPERATION_ABORTED:
      return -EINTR;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS:
      return -EEXIST;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
      return -ENOSPC;
    case ERROR_NOT_SUPPORTED:
    case ERROR_INVALID_FUNCTION:
    case ERROR_CALL_NOT_IMPLEMENTED:
      return -ENOTSUP;
    case ERROR_NOT_READY:
    case ERROR_DEV_NOT_EXIST:
      return -ENXIO;
    case ERROR_TIMEOUT:
    case WAIT_TIMEOUT:
      return -ETIMEDOUT;
    default:
      return -EIO;
  }
}

int LastError() { return ErrorFromWin32(GetLastError()); }

// A UTF-8 path as Windows wants it: UTF-16, made absolute, and with the
// \\?\ prefix when it is long (so MAX_PATH does not apply whatever the system's
// long-path setting).
int WidePath(const char* path, std::wstring* out) {
  if (path == nullptr || *path == '\0') return -ENOENT;
  int size = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, nullptr, 0);
  if (size <= 0) return -EINVAL;
  std::wstring wide(static_cast<size_t>(size), L'\0');
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, &wide[0], size);
  wide.resize(static_cast<size_t>(size - 1));
  if (wide.compare(0, 4, L"\\\\?\\") == 0 || wide.compare(0, 4, L"\\\\.\\") == 0) {
    *out = std::move(wide);
    return 0;
  }
  DWORD needed = GetFullPathNameW(wide.c_str(), 0, nullptr, nullptr);
  if (needed == 0) return LastError();
  std::wstring full(needed, L'\0');
  DWORD length = GetFullPathNameW(wide.c_str(), needed, &full[0], nullptr);
  if (length == 0 || length >= needed) return length == 0 ? LastError() : -ENAMETOOLONG;
  full.resize(length);
  // 248: CreateFileW's limit for a directory path, a little below MAX_PATH.
  if (full.size() >= 248 && full.compare(0, 4, L"\\\\.\\") != 0) {
    if (full.compare(0, 2, L"\\\\") == 0) {
      full = L"\\\\?\\UNC\\" + full.substr(2);
    } else {
      full = L"\\\\?\\" + full;
    }
  }
  *out = std::move(full);
  return 0;
}

// The attributes of what the path names (without following a final link), or
// INVALID_FILE_ATTRIBUTES.
DWORD PathAttributes(const std::wstring& path) {
  return GetFileAttributesW(path.c_str());
}

HANDLE Open(const std::wstring& path, DWORD access, DWORD disposition, DWORD flags) {
  SECURITY_ATTRIBUTES security = {};
  security.nLength = sizeof security;
  security.bInheritHandle = FALSE;  // a spawned program must not inherit our locks
  return CreateFileW(path.c_str(), access, kShareAll, &security, disposition, flags, nullptr);
}

// Whether the CreateFileW that just failed with ERROR_ACCESS_DENIED met a file
// that is being deleted (STATUS_DELETE_PENDING): deleted while other handles
// are open, on a file system or Windows version without POSIX delete semantics,
// the name stays until the last handle closes and cannot be opened meanwhile.
bool OpenMetDeletePending() {
  using GetStatus = LONG(WINAPI*)();
  static const GetStatus get_status = [] {
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    FARPROC proc = ntdll == nullptr ? nullptr : GetProcAddress(ntdll, "RtlGetLastNtStatus");
    return reinterpret_cast<GetStatus>(reinterpret_cast<void*>(proc));
  }();
  constexpr LONG kStatusDeletePending = static_cast<LONG>(0xC0000056L);
  return get_status != nullptr && get_status() == kStatusDeletePending;
}

// The range LockFileEx/UnlockFileEx get. Length 0 ("to the end of the file and
// beyond") becomes everything from start up to the last 64-bit offset; from 0
// that is the classic 0xFFFFFFFF:0xFFFFFFFF whole-file range.
int WinRange(const LockRequest& request, OVERLAPPED* overlapped, DWORD* low, DWORD* high) {
  if (request.start < 0 || request.length < 0) return -EINVAL;
  uint64_t start = static_cast<uint64_t>(request.start);
  uint64_t length = request.length == 0 ? UINT64_MAX - start : static_cast<uint64_t>(request.length);
  if (length == 0 || length > UINT64_MAX - start) return -EINVAL;
  *overlapped = OVERLAPPED{};
  overlapped->Offset = static_cast<DWORD>(start);
  overlapped->OffsetHigh = static_cast<DWORD>(start >> 32);
  *low = static_cast<DWORD>(length);
  *high = static_cast<DWORD>(length >> 32);
  return 0;
}

}  // namespace

bool BackendSupported(Backend backend) { return backend == Backend::Windows; }

void WholeFileRange(Backend backend, int64_t* start, int64_t* length) {
  if (backend == Backend::Windows) {
    *start = kSentinelByte;
    *length = 1;
  } else {
    *start = 0;
    *length = 0;
  }
}

int OpenLockFile(const char* path, const OpenOptions& options, file_t* out, bool* read_only) {
  *read_only = false;
  std::wstring wide;
  int error = WidePath(path, &wide);
  if (error != 0) return error;

  DWORD flags = FILE_ATTRIBUTE_NORMAL;
  // As Node's fs does: a new file without owner write permission is read-only.
  if ((options.permissions & 0200) == 0) flags = FILE_ATTRIBUTE_READONLY;
  if (options.no_follow) flags |= FILE_FLAG_OPEN_REPARSE_POINT;

  // OPEN_ALWAYS: create if missing, never truncate. A lock file being deleted
  // by its last holder (removeOnRelease) goes away as soon as that holder
  // closes it: wait for that, briefly, then open or create it anew.
  HANDLE file;
  DWORD failure;
  for (DWORD delay = 1, waited = 0;;) {
    file = Open(wide, GENERIC_READ | GENERIC_WRITE, OPEN_ALWAYS, flags);
    failure = file == INVALID_HANDLE_VALUE ? GetLastError() : ERROR_SUCCESS;
    if (failure != ERROR_ACCESS_DENIED || waited >= kDeletePendingMaxMs || !OpenMetDeletePending()) break;
    Sleep(delay);
    waited += delay;
    delay = delay * 2 < kMaxSliceMs ? delay * 2 : kMaxSliceMs;
  }
  if (file == INVALID_HANDLE_VALUE && failure == ERROR_ACCESS_DENIED) {
    DWORD attributes = PathAttributes(wide);
    if (attributes == INVALID_FILE_ATTRIBUTES || (attributes & FILE_ATTRIBUTE_DIRECTORY) == 0) {
      // A file we may only read still takes locks: LockFileEx needs read or
      // write access, not both.
      file = Open(wide, GENERIC_READ, OPEN_EXISTING, flags);
      failure = file == INVALID_HANDLE_VALUE ? GetLastError() : ERROR_SUCCESS;
      *read_only = file != INVALID_HANDLE_VALUE;
      if (failure == ERROR_FILE_NOT_FOUND || failure == ERROR_PATH_NOT_FOUND) {
        failure = ERROR_ACCESS_DENIED;
      }
    }
  }
  if (file == INVALID_HANDLE_VALUE) {
    if (failure == ERROR_ACCESS_DENIED || failure == ERROR_FILE_EXISTS) {
      // Windows says "access denied" for a directory; say what it is.
      DWORD attributes = PathAttributes(wide);
      if (attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_DIRECTORY) != 0) {
        bool link = (attributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0;
        return options.no_follow && link ? -ELOOP : -EISDIR;
      }
    }
    return ErrorFromWin32(failure);
  }

  if (options.no_follow) {
    // Opened with FILE_FLAG_OPEN_REPARSE_POINT, a link is opened itself rather
    // than followed: refuse it. Reparse points that are not links (cloud file
    // placeholders, deduplicated files) are the file itself and are kept.
    FILE_ATTRIBUTE_TAG_INFO info = {};
    if (!GetFileInformationByHandleEx(file, FileAttributeTagInfo, &info, sizeof info)) {
      int query_error = LastError();
      CloseHandle(file);
      return query_error;
    }
    if ((info.FileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0 &&
        IsReparseTagNameSurrogate(info.ReparseTag)) {
      CloseHandle(file);
      return -ELOOP;
    }
  }
  *out = file;
  return 0;
}

int AdoptDescriptor(int fd, file_t* out, bool* read_only) {
  // Node's descriptors are libuv's, whose table the C runtime this addon links
  // against does not share: ask libuv (exported by node.exe) for the handle.
  using GetOsfHandle = HANDLE (*)(int);
  static GetOsfHandle get_osfhandle = reinterpret_cast<GetOsfHandle>(
      reinterpret_cast<void*>(GetProcAddress(GetModuleHandleW(nullptr), "uv_get_osfhandle")));
  if (get_osfhandle == nullptr) return -ENOSYS;
  HANDLE handle = fd < 0 ? INVALID_HANDLE_VALUE : get_osfhandle(fd);
  if (handle == INVALID_HANDLE_VALUE || handle == nullptr) return -EBADF;
  *read_only = false;
  *out = handle;
  return 0;
}

int CloseLockFile(file_t file) {
  return CloseHandle(file) ? 0 : LastError();
}

int IsCurrentFile(file_t file, const char* path, bool* current) {
  BY_HANDLE_FILE_INFORMATION opened = {};
  if (!GetFileInformationByHandle(file, &opened)) return LastError();
  FILE_STANDARD_INFO standard = {};
  if (!GetFileInformationByHandleEx(file, FileStandardInfo, &standard, sizeof standard)) {
    return LastError();
  }
  if (standard.DeletePending || opened.nNumberOfLinks == 0) {
    *current = false;
    return 0;
  }

  std::wstring wide;
  int error = WidePath(path, &wide);
  if (error != 0) return error;
  // No access needed to read the identity; BACKUP_SEMANTICS lets a directory
  // that took the name open too (and compare as different).
  HANDLE named = Open(wide, 0, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS);
  if (named == INVALID_HANDLE_VALUE) {
    DWORD failure = GetLastError();
    if (failure == ERROR_FILE_NOT_FOUND || failure == ERROR_PATH_NOT_FOUND ||
        failure == ERROR_DELETE_PENDING ||
        (failure == ERROR_ACCESS_DENIED && OpenMetDeletePending())) {
      *current = false;
      return 0;
    }
    return ErrorFromWin32(failure);
  }
  BY_HANDLE_FILE_INFORMATION other = {};
  BOOL ok = GetFileInformationByHandle(named, &other);
  DWORD failure = ok ? ERROR_SUCCESS : GetLastError();
  CloseHandle(named);
  if (!ok) return ErrorFromWin32(failure);
  *current = opened.dwVolumeSerialNumber == other.dwVolumeSerialNumber &&
             opened.nFileIndexHigh == other.nFileIndexHigh &&
             opened.nFileIndexLow == other.nFileIndexLow;
  return 0;
}

// The full check needs the handle's own state (delete pending) after the grant.
int ReadFileIdentity(file_t, FileIdentity*) { return 0; }

int IsCurrentKnownFile(file_t file, const FileIdentity&, const char* path, bool* current) {
  return IsCurrentFile(file, path, current);
}

int TryLock(file_t file, const LockRequest& request) {
  if (request.backend != Backend::Windows) return -ENOTSUP;
  OVERLAPPED overlapped;
  DWORD low, high;
  int error = WinRange(request, &overlapped, &low, &high);
  if (error != 0) return error;
  DWORD flags = LOCKFILE_FAIL_IMMEDIATELY | (request.exclusive ? LOCKFILE_EXCLUSIVE_LOCK : 0);
  if (LockFileEx(file, flags, 0, low, high, &overlapped)) return 0;
  DWORD failure = GetLastError();
  // ERROR_IO_PENDING is how an overlapped handle would say "not now"; ours are
  // synchronous, so only ERROR_LOCK_VIOLATION is expected.
  if (failure == ERROR_LOCK_VIOLATION || failure == ERROR_IO_PENDING) return kBusy;
  return ErrorFromWin32(failure);
}

struct Thread {
  HANDLE handle;
  HANDLE interrupt;  // manual-reset: once interrupted, every later wait returns at once
  void (*entry)(void*);
  void* arg;
};

namespace {

// The Thread a waiter runs on (null on any other thread, whose waits cannot be
// interrupted and simply go on until the lock comes).
thread_local Thread* current_thread = nullptr;

unsigned __stdcall ThreadMain(void* raw) {
  auto* thread = static_cast<Thread*>(raw);
  current_thread = thread;
  thread->entry(thread->arg);
  current_thread = nullptr;
  return 0;
}

}  // namespace

int WaitLock(file_t file, const LockRequest& request) {
  HANDLE interrupt = current_thread != nullptr ? current_thread->interrupt : nullptr;
  DWORD slice = 1;
  for (;;) {
    int result = TryLock(file, request);
    if (result != kBusy) return result;
    if (interrupt != nullptr) {
      DWORD waited = WaitForSingleObject(interrupt, slice);
      if (waited == WAIT_OBJECT_0) return -EINTR;
      if (waited == WAIT_FAILED) return LastError();
    } else {
      Sleep(slice);
    }
    if (slice < kMaxSliceMs) slice = slice * 2 < kMaxSliceMs ? slice * 2 : kMaxSliceMs;
  }
}

int Unlock(file_t file, const LockRequest& request) {
  if (request.backend != Backend::Windows) return -ENOTSUP;
  OVERLAPPED overlapped;
  DWORD low, high;
  int error = WinRange(request, &overlapped, &low, &high);
  if (error != 0) return error;
  if (UnlockFileEx(file, 0, low, high, &overlapped)) return 0;
  DWORD failure = GetLastError();
  // Windows says ERROR_NOT_LOCKED when this handle holds no lock on exactly
  // this range; Wine (8.0) says ERROR_LOCK_VIOLATION.
  if (failure == ERROR_NOT_LOCKED || failure == ERROR_LOCK_VIOLATION) return -ENOLCK;
  return ErrorFromWin32(failure);
}

int StartThread(void (*entry)(void*), void* arg, Thread** out) {
  HANDLE interrupt = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (interrupt == nullptr) return LastError();
  auto* thread = new Thread{nullptr, interrupt, entry, arg};
  // A waiter only sleeps and calls LockFileEx: reserve a small stack so 1,000
  // of them stay cheap.
  uintptr_t handle = _beginthreadex(nullptr, 256 * 1024, ThreadMain, thread,
                                    STACK_SIZE_PARAM_IS_A_RESERVATION, nullptr);
  if (handle == 0) {
    int error = errno != 0 ? -errno : -EAGAIN;
    CloseHandle(interrupt);
    delete thread;
    return error;
  }
  thread->handle = reinterpret_cast<HANDLE>(handle);
  *out = thread;
  return 0;
}

void InterruptThread(Thread* thread) { SetEvent(thread->interrupt); }

void ClearInterrupt(Thread* thread) { ResetEvent(thread->interrupt); }

void DetachThread(Thread* thread) {
  CloseHandle(thread->handle);
  CloseHandle(thread->interrupt);
  delete thread;
}

// Thread descriptions need Windows 10 1607 and are not in Wine's headers here.
void NameThread(const char*) {}

void JoinThread(Thread* thread) {
  WaitForSingleObject(thread->handle, INFINITE);
  CloseHandle(thread->handle);
  CloseHandle(thread->interrupt);
  delete thread;
}

}  // namespace locksmith
