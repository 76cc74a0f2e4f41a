// The few system calls that Node.js exposes no synchronous API for. Pipe()
// must hand out both ends of a connection at once, before any child exists,
// and a child must be able to ask the kernel to signal it when its parent dies.

#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/prctl.h>
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

// The signal comes when the thread that spawned this process exits; Node spawns
// children from its main thread, so that is when the parent process exits. A
// parent that died before this call sends nothing: callers check getppid()
// afterwards. The setting survives exec, but not fork.
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "signal must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Int32Value() would wrap or truncate: 1.5, -1 or 2**32 must not become a real signal.
  double value = info[0].As<Napi::Number>().DoubleValue();
  if (!(value >= 0 && value <= 255) || value != static_cast<int>(value)) {
    Napi::RangeError::New(env, "signal must be an integer from 0 to 255").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int signal = static_cast<int>(value);
#ifdef __linux__
  if (prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(signal)) == -1) return ThrowErrno(env, "prctl", errno);
  return env.Undefined();
#else
  (void)signal;
#if defined(__APPLE__)
  const char* platform = "darwin";
#elif defined(__FreeBSD__)
  const char* platform = "freebsd";
#elif defined(__OpenBSD__)
  const char* platform = "openbsd";
#else
  const char* platform = "this platform";
#endif
  Napi::Error::New(env, std::string("setParentDeathSignal is not supported on ") + platform).ThrowAsJavaScriptException();
  return env.Undefined();
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("socketpair", Napi::Function::New(env, Socketpair, "socketpair"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal, "setParentDeathSignal"));
  return exports;
}

}  // namespace

NODE_API_MODULE(multiproc_native, Init)
