// The few system calls that Node.js exposes no synchronous API for. Pipe()
// must hand out both ends of a connection at once, before any child exists,
// and a child must be able to ask the kernel to signal it when its parent dies.
// Shared memory (memfd + mmap) and futexes, below, have no JS API at all.

#include <napi.h>

#include "waits.h"

namespace multiproc {
// native/zygote.cc: fork for the forkserver's zygote.
void InitZygote(napi_env env, napi_value exports);
}  // namespace multiproc

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#endif

namespace {

// Errors carry the failing call's name, like Node's own system errors, so that
// "Too many open files" says where it came from.
Napi::Value ThrowErrno(Napi::Env env, const char* syscall, int err) {
  Napi::Error error = Napi::Error::New(env, std::string(syscall) + ": " + std::strerror(err));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.Set("errno", Napi::Number::New(env, err));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Pair(Napi::Env env, const int fds[2]) {
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::Number::New(env, fds[0]));
  pair.Set(1u, Napi::Number::New(env, fds[1]));
  return pair;
}

#ifndef __linux__
// Without SOCK_CLOEXEC or pipe2 the flag is set after the fact: a child spawned
// by another thread in between would inherit the fds, which only matters to
// the non-Linux platforms that take this path.
bool SetCloexec(const int fds[2]) {
  for (int i = 0; i < 2; i++) {
    if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) == -1) return false;
  }
  return true;
}
#endif

// Close-on-exec by default: the fds reach a child only when the caller passes
// them explicitly (spawn's stdio dup2s them, which clears the flag on the copy).
Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  int fds[2];
#ifdef __linux__
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == -1) return ThrowErrno(info.Env(), "socketpair", errno);
#else
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1) return ThrowErrno(info.Env(), "socketpair", errno);
  if (!SetCloexec(fds)) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return ThrowErrno(info.Env(), "fcntl", err);
  }
#endif
  return Pair(info.Env(), fds);
}

// [readFd, writeFd], in pipe(2)'s order.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int fds[2];
#ifdef __linux__
  if (pipe2(fds, O_CLOEXEC) == -1) return ThrowErrno(info.Env(), "pipe2", errno);
#else
  if (pipe(fds) == -1) return ThrowErrno(info.Env(), "pipe", errno);
  if (!SetCloexec(fds)) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return ThrowErrno(info.Env(), "fcntl", err);
  }
#endif
  return Pair(info.Env(), fds);
}

// ---------------------------------------------------------------------------
// Shared memory and futexes: the core of cross-process Locks, Semaphores,
// Events and Queues. A region is an anonymous memfd (no name in /dev/shm, so
// nothing can leak, even after kill -9: the kernel frees it with its last fd
// and mapping), mapped MAP_SHARED into each process as an external
// ArrayBuffer. Atomics on a view of it are real atomic instructions across
// processes; Atomics.wait/notify are not (V8 emulates them per process), so the
// blocking side is a real shared futex here.

const char* PlatformName() {
#if defined(__linux__)
  return "linux";
#elif defined(__APPLE__)
  return "darwin";
#elif defined(__FreeBSD__)
  return "freebsd";
#elif defined(__OpenBSD__)
  return "openbsd";
#else
  return "this platform";
#endif
}

[[maybe_unused]] Napi::Value ThrowNotSupported(Napi::Env env, const char* function) {
  Napi::Error::New(env, std::string(function) + " is not supported on " + PlatformName()).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowRange(Napi::Env env, const std::string& message) {
  Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// 2**53 - 1: sizes beyond it cannot be told apart as JS numbers.
constexpr double kMaxSafeInteger = 9007199254740991.0;

// Reads argument `i` as an integer in [min, max]. A TypeError when it is not a
// number and a RangeError when it is not such an integer, both naming `what`
// and what was received: Int32Value() would silently wrap 2**32 to 0 or
// truncate 1.5, and a wrong word or size is worse than an error.
bool ReadInteger(const Napi::CallbackInfo& info, size_t i, const char* what, double min, double max, double* out) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber()) {
    ThrowType(env, std::string(what) + " must be a number");
    return false;
  }
  double value = info[i].As<Napi::Number>().DoubleValue();
  if (!(value >= min && value <= max) || value != std::floor(value)) {
    ThrowRange(env, std::string(what) + " must be an integer from " + std::to_string(static_cast<long long>(min)) + " to " +
                        std::to_string(static_cast<long long>(max)) + ", not " + info[i].ToString().Utf8Value());
    return false;
  }
  *out = value;
  return true;
}

// Every live mapping made by mapFd, by start address. A futex needs to know
// its word is shared memory (on a private ArrayBuffer it could never be woken
// from another process), and an asynchronous wait must keep the pages mapped
// while a threadpool thread sleeps on them, even if the ArrayBuffer is
// detached or collected meanwhile: hence a count of holders per mapping.
struct Mapping {
  char* start;
  size_t length;
  int holders;
};

std::mutex mappings_mutex;
// Never destroyed: a threadpool thread may still release a mapping while the
// process exits and static destructors run.
auto* const mappings = new std::map<uintptr_t, Mapping*>();

// The mapping holding the 4 bytes at `address`, with one more holder, or null.
Mapping* HoldMappingAt(const void* address) {
  uintptr_t at = reinterpret_cast<uintptr_t>(address);
  std::lock_guard<std::mutex> lock(mappings_mutex);
  auto it = mappings->upper_bound(at);
  if (it == mappings->begin()) return nullptr;
  --it;
  Mapping* mapping = it->second;
  if (at + sizeof(int32_t) > it->first + mapping->length) return nullptr;
  mapping->holders++;
  return mapping;
}

void ReleaseMapping(Mapping* mapping) {
  {
    std::lock_guard<std::mutex> lock(mappings_mutex);
    if (--mapping->holders > 0) return;
    mappings->erase(reinterpret_cast<uintptr_t>(mapping->start));
  }
  munmap(mapping->start, mapping->length);
  delete mapping;
}

// The ArrayBuffer's finaliser: the buffer is one holder of its mapping.
void ReleaseMappingOfBuffer(napi_env /*env*/, void* /*data*/, void* hint) {
  ReleaseMapping(static_cast<Mapping*>(hint));
}

// memfdCreate(name, size): an anonymous, close-on-exec shared-memory file of
// `size` bytes (zero-filled); a child gets it only when it is passed
// explicitly (spawn's stdio dup2s it, which clears the flag on the copy).
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return ThrowType(env, "name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  // The kernel's limit (249 bytes after its "memfd:" prefix); a NUL would cut the name short.
  if (name.size() > 249 || name.find('\0') != std::string::npos) {
    return ThrowRange(env, "name must be at most 249 bytes long, without NUL characters");
  }
  double size;
  if (!ReadInteger(info, 1, "size", 1, kMaxSafeInteger, &size)) return env.Undefined();
#if defined(__linux__) && defined(SYS_memfd_create)
  // Through syscall(): glibc before 2.27 has no memfd_create() wrapper.
  int fd = static_cast<int>(syscall(SYS_memfd_create, name.c_str(), MFD_CLOEXEC));
  if (fd == -1) return ThrowErrno(env, "memfd_create", errno);
  if (ftruncate(fd, static_cast<off_t>(size)) == -1) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "ftruncate", err);
  }
  return Napi::Number::New(env, fd);
#else
  return ThrowNotSupported(env, "memfdCreate");
#endif
}

// mapFd(fd, size): the first `size` bytes of the file, mapped shared and
// writable, as an ArrayBuffer that unmaps when collected. The fd stays open
// (and the caller's): the mapping does not need it.
Napi::Value MapFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double fd_value;
  double size_value;
  if (!ReadInteger(info, 0, "fd", 0, INT_MAX, &fd_value)) return env.Undefined();
  if (!ReadInteger(info, 1, "size", 1, kMaxSafeInteger, &size_value)) return env.Undefined();
  int fd = static_cast<int>(fd_value);
  size_t size = static_cast<size_t>(size_value);
  // Pages past the end of the file would kill the process with SIGBUS when
  // touched, so a mapping larger than the file is refused up front.
  struct stat st;
  if (fstat(fd, &st) == -1) return ThrowErrno(env, "fstat", errno);
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) < size) {
    return ThrowRange(env, "size " + std::to_string(size) + " is larger than the file (" + std::to_string(st.st_size) + " bytes)");
  }
  void* start = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (start == MAP_FAILED) return ThrowErrno(env, "mmap", errno);
  // Two holders while the buffer is made: the buffer's, released by its
  // finaliser, and this call's, so that the mapping outlives a finaliser that
  // runs before napi_create_external_arraybuffer returns.
  auto* mapping = new Mapping{static_cast<char*>(start), size, 2};
  {
    std::lock_guard<std::mutex> lock(mappings_mutex);
    (*mappings)[reinterpret_cast<uintptr_t>(start)] = mapping;
  }
  napi_value buffer;
  napi_status status = napi_create_external_arraybuffer(env, start, size, ReleaseMappingOfBuffer, mapping, &buffer);
  if (status != napi_ok) {
    // Node refuses a buffer over buffer.constants.MAX_LENGTH with a pending
    // RangeError, and has already run the finaliser (the buffer's hold is
    // gone). A runtime that forbids external buffers (the V8 sandbox) never
    // runs it, so its hold is released here; any other failure leaves it to
    // the runtime, which owns the data once it was handed over: a mapping
    // left behind is better than one unmapped twice.
    if (status == napi_no_external_buffers_allowed) ReleaseMapping(mapping);
    ReleaseMapping(mapping);
    Napi::Error error = Napi::Error::New(env);
    // Node's own error for the size is a plain Error: a size out of range is a RangeError.
    Napi::Value code = error.Value().Get("code");
    if (code.IsString() && code.As<Napi::String>().Utf8Value() == "ERR_BUFFER_TOO_LARGE") {
      Napi::Error range = Napi::RangeError::New(env, "mapFd: size " + std::to_string(size) + ": " + error.Message());
      range.Set("code", code);
      range.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ReleaseMapping(mapping);
  return Napi::Value(env, buffer);
}

// fallocate(fd, size): reserves the file's first `size` bytes. On tmpfs
// (/dev/shm) ftruncate alone makes a sparse file, and a page that cannot be
// found when first touched kills the process with SIGBUS; reserved pages
// fail here instead, with ENOSPC, while the caller can still say no.
Napi::Value Fallocate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double fd_value;
  double size_value;
  if (!ReadInteger(info, 0, "fd", 0, INT_MAX, &fd_value)) return env.Undefined();
  if (!ReadInteger(info, 1, "size", 1, kMaxSafeInteger, &size_value)) return env.Undefined();
  int err;
  // posix_fallocate returns its error rather than setting errno; a signal may interrupt it.
  do {
    err = posix_fallocate(static_cast<int>(fd_value), 0, static_cast<off_t>(size_value));
  } while (err == EINTR);
  if (err != 0) return ThrowErrno(env, "posix_fallocate", err);
  return env.Undefined();
}

// A futex word given as (view, index): its address, and the mapping it lies
// in, held until released, so that the pages cannot go while someone waits.
struct Word {
  int32_t* address;
  Mapping* mapping;
};

// Validates (view, index) as arguments 0 and 1. `function` names the caller in errors.
bool ReadWord(const Napi::CallbackInfo& info, const char* function, Word* word) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowType(env, std::string(function) + ": view must be an Int32Array");
    return false;
  }
  Napi::TypedArray view = info[0].As<Napi::TypedArray>();
  size_t length = view.ElementLength();
  double index;
  if (length == 0) {
    ThrowRange(env, std::string(function) + ": the view is empty (or its buffer was detached): no index is in range");
    return false;
  }
  std::string what = std::string(function) + ": index (the view has " + std::to_string(length) + " elements)";
  if (!ReadInteger(info, 1, what.c_str(), 0, static_cast<double>(length - 1), &index)) return false;
  char* data = static_cast<char*>(view.ArrayBuffer().Data());
  word->address = reinterpret_cast<int32_t*>(data + view.ByteOffset()) + static_cast<size_t>(index);
  word->mapping = HoldMappingAt(word->address);
  if (word->mapping == nullptr) {
    ThrowType(env, std::string(function) +
                       ": view must be over shared memory from mapFd (a SharedRegion); another process can never wake a "
                       "futex on memory private to this one");
    return false;
  }
  return true;
}

bool ReadExpected(const Napi::CallbackInfo& info, double* expected) {
  return ReadInteger(info, 2, "expected", INT32_MIN, INT32_MAX, expected);
}

// A negative or infinite timeout means forever (returned as -1); NaN is an error.
bool ReadTimeout(const Napi::CallbackInfo& info, double* timeout_ms) {
  Napi::Env env = info.Env();
  if (info.Length() <= 3 || !info[3].IsNumber()) {
    ThrowType(env, "timeoutMs must be a number (negative for no timeout)");
    return false;
  }
  double value = info[3].As<Napi::Number>().DoubleValue();
  if (std::isnan(value)) {
    ThrowRange(env, "timeoutMs must be a number of milliseconds, not NaN");
    return false;
  }
  // Past ~31,700 years a timespec could overflow; no one waits that long.
  *timeout_ms = value < 0 || value > 1e15 ? -1 : value;
  return true;
}

using multiproc::MonotonicNs;
using multiproc::WaitResult;
using multiproc::WaitResultName;

#ifdef __linux__
// FUTEX_WAIT without FUTEX_PRIVATE_FLAG: the kernel keys a shared futex by
// the page's backing file and offset, so a wake from any process that maps the
// same memory reaches it. A signal (EINTR) resumes the wait for the time that
// is left; 'ok' may also be a spurious wake-up, so callers re-check the word.
WaitResult FutexWaitBlocking(int32_t* address, int32_t expected, double timeout_ms, int* err) {
  int64_t deadline = timeout_ms < 0 ? -1 : MonotonicNs() + static_cast<int64_t>(timeout_ms * 1e6);
  for (;;) {
    struct timespec remaining;
    struct timespec* timeout = nullptr;
    if (deadline >= 0) {
      // Zero when the time is up: the kernel still compares the word first.
      int64_t left = std::max<int64_t>(0, deadline - MonotonicNs());
      remaining.tv_sec = static_cast<time_t>(left / 1000000000);
      remaining.tv_nsec = static_cast<long>(left % 1000000000);
      timeout = &remaining;
    }
    if (syscall(SYS_futex, address, FUTEX_WAIT, expected, timeout, nullptr, 0) == 0) return WaitResult::kOk;
    if (errno == EAGAIN) return WaitResult::kNotEqual;
    if (errno == ETIMEDOUT) return WaitResult::kTimedOut;
    if (errno == EINTR) continue;
    *err = errno;
    return WaitResult::kError;
  }
}
#endif

// futexWait(view, index, expected, timeoutMs): blocks this thread while
// view[index] === expected, until a futexWake or the timeout.
Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef __linux__
  Word word;
  double expected;
  double timeout_ms;
  if (!ReadWord(info, "futexWait", &word)) return env.Undefined();
  // Nothing runs JS while this thread blocks, so the buffer cannot go: the hold ends here.
  ReleaseMapping(word.mapping);
  if (!ReadExpected(info, &expected) || !ReadTimeout(info, &timeout_ms)) return env.Undefined();
  int err = 0;
  WaitResult result = FutexWaitBlocking(word.address, static_cast<int32_t>(expected), timeout_ms, &err);
  if (result == WaitResult::kError) return ThrowErrno(env, "futex", err);
  return Napi::String::New(env, WaitResultName(result));
#else
  return ThrowNotSupported(env, "futexWait");
#endif
}

// futexWake(view, index, count): wakes up to `count` waiters on view[index]
// (Infinity for all), in any process; returns how many woke.
Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef __linux__
  Word word;
  if (!ReadWord(info, "futexWake", &word)) return env.Undefined();
  ReleaseMapping(word.mapping);
  int count;
  if (info.Length() > 2 && info[2].IsNumber() && info[2].As<Napi::Number>().DoubleValue() == INFINITY) {
    count = INT_MAX;
  } else {
    double value;
    if (!ReadInteger(info, 2, "count", 0, INT_MAX, &value)) return env.Undefined();
    count = static_cast<int>(value);
  }
  long woken = syscall(SYS_futex, word.address, FUTEX_WAKE, count, nullptr, nullptr, 0);
  if (woken == -1) return ThrowErrno(env, "futex", errno);
  return Napi::Number::New(env, static_cast<double>(woken));
#else
  return ThrowNotSupported(env, "futexWake");
#endif
}

// futexWaitAsync(view, index, expected, timeoutMs): a Promise of futexWait's result.
Napi::Value FutexWaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef __linux__
  Word word;
  double expected;
  double timeout_ms;
  if (!ReadWord(info, "futexWaitAsync", &word)) return env.Undefined();
  if (!ReadExpected(info, &expected) || !ReadTimeout(info, &timeout_ms)) {
    ReleaseMapping(word.mapping);
    return env.Undefined();
  }
  // Off the threadpool (native/waits.cc); the mapping is held until the wait ends.
  return multiproc::FutexWaitAsync(env, word.address, static_cast<int32_t>(expected), timeout_ms,
                                   [](void* mapping) { ReleaseMapping(static_cast<Mapping*>(mapping)); }, word.mapping);
#else
  return ThrowNotSupported(env, "futexWaitAsync");
#endif
}

// Descriptors to a running process, as Python's forkserver hands them over:
// SCM_RIGHTS on a Unix socket that libuv never owns (so no read of ours
// competes with it). One byte of payload, as a message must carry some.
constexpr size_t kMaxPassedFds = 64;

Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsArray()) return ThrowType(env, "sendFds(socket, fds): socket must be an fd and fds an array of fds");
  int sock = info[0].As<Napi::Number>().Int32Value();
  Napi::Array list = info[1].As<Napi::Array>();
  if (list.Length() == 0 || list.Length() > kMaxPassedFds) return ThrowRange(env, "sendFds: between 1 and 64 fds at a time");
  std::vector<int> fds(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value fd = list.Get(i);
    if (!fd.IsNumber()) return ThrowType(env, "sendFds: every fd must be a number");
    fds[i] = fd.As<Napi::Number>().Int32Value();
  }
  char byte = 'F';
  iovec iov = {&byte, 1};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()), 0);
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  ssize_t sent;
  do sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (sent == -1 && errno == EINTR);
  if (sent == -1) return ThrowErrno(env, "sendmsg", errno);
  return env.Undefined();
}

// Blocks until one message of descriptors arrives; they come close-on-exec.
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "recvFds(socket): socket must be an fd");
  int sock = info[0].As<Napi::Number>().Int32Value();
  char byte;
  iovec iov = {&byte, 1};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxPassedFds), 0);
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t got;
#ifdef MSG_CMSG_CLOEXEC
  const int flags = MSG_CMSG_CLOEXEC;
#else
  const int flags = 0;
#endif
  do got = recvmsg(sock, &msg, flags);
  while (got == -1 && errno == EINTR);
  if (got == -1) return ThrowErrno(env, "recvmsg", errno);
  if (got == 0) return ThrowErrno(env, "recvmsg", EPIPE);
  Napi::Array result = Napi::Array::New(env);
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    std::vector<int> fds(count);
    std::memcpy(fds.data(), CMSG_DATA(cmsg), sizeof(int) * count);
    for (int fd : fds) result.Set(result.Length(), Napi::Number::New(env, fd));
  }
  if ((msg.msg_flags & MSG_CTRUNC) != 0) return ThrowRange(env, "recvFds: more descriptors arrived than fit (64 at most)");
  return result;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("socketpair", Napi::Function::New(env, Socketpair, "socketpair"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
  exports.Set("mapFd", Napi::Function::New(env, MapFd, "mapFd"));
  exports.Set("fallocate", Napi::Function::New(env, Fallocate, "fallocate"));
  exports.Set("futexWait", Napi::Function::New(env, FutexWait, "futexWait"));
  exports.Set("futexWake", Napi::Function::New(env, FutexWake, "futexWake"));
  exports.Set("futexWaitAsync", Napi::Function::New(env, FutexWaitAsync, "futexWaitAsync"));
  exports.Set("sendFds", Napi::Function::New(env, SendFds, "sendFds"));
  exports.Set("recvFds", Napi::Function::New(env, RecvFds, "recvFds"));
  multiproc::InitWaits(env, exports);
  multiproc::InitZygote(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(multiproc_native, Init)
