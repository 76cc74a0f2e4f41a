// The native half of the forking forkserver (src/launch/zygote.ts): fork(2) a
// warm node, the "zygote", and exit a forked child without Node's teardown.
// Node-API and libuv only (no node.h), so one binary serves every Node
// version; which versions may fork at all is decided in JavaScript.
//
// What a plainly forked node gets wrong, and where each is put right:
// - V8 maps its heap MADV_DONTFORK: the child would have no heap. Fork() marks
//   every mapping MADV_DOFORK again first.
// - libuv's epoll set, eventfd and signal pipe are the zygote's: the child's
//   first step is uv_loop_fork().
// - Requests in flight on the threadpool never complete in the child: fork()
//   refuses (returns -EBUSY) while the loop has any.
// - The signal mask is the zygote's: the child empties it.
// - Node's normal exit joins platform threads the child does not have: the
//   child leaves through _exit (Exit(), and a cleanup hook for a drained loop).

#include <node_api.h>
#include <uv.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif

namespace {

napi_value Undefined(napi_env env) {
  napi_value value;
  napi_get_undefined(env, &value);
  return value;
}

napi_value Int(napi_env env, int64_t number) {
  napi_value value;
  napi_create_int64(env, number, &value);
  return value;
}

napi_value Throw(napi_env env, const std::string& message) {
  napi_throw_error(env, nullptr, message.c_str());
  return nullptr;
}

bool Args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < want) return false;
  return true;
}

bool ToInt(napi_env env, napi_value value, int32_t* out) {
  return napi_get_value_int32(env, value, out) == napi_ok;
}

#ifdef __linux__
// The kernel's special mappings (vvar, vdso, vsyscall) refuse madvise and
// never move: found once, the user address space is advised around them.
struct Range {
  uintptr_t start;
  uintptr_t end;
};
std::vector<Range> advisable;

void FindAdvisableRanges() {
  if (!advisable.empty()) return;
  std::vector<Range> special;
  if (FILE* maps = std::fopen("/proc/self/maps", "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, maps) != nullptr) {
      unsigned long start = 0, end = 0;
      if (std::sscanf(line, "%lx-%lx", &start, &end) != 2) continue;
      if (std::strstr(line, "[vvar") != nullptr || std::strstr(line, "[vdso]") != nullptr || std::strstr(line, "[vsyscall]") != nullptr) {
        special.push_back({start, end});
      }
    }
    std::fclose(maps);
  }
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t top = uintptr_t{1} << 47;
  uintptr_t from = page;
  for (const Range& r : special) {
    if (r.start >= top) continue;
    if (r.start > from) advisable.push_back({from, r.start});
    from = r.end;
  }
  if (from < top) advisable.push_back({from, top});
}

// ENOMEM for the holes between mappings is expected: every mapped part is advised.
void MarkAllForkable() {
  for (const Range& r : advisable) madvise(reinterpret_cast<void*>(r.start), r.end - r.start, MADV_DOFORK);
}
#endif

int exit_code = 0;

void ExitNow(int code) {
  std::fflush(nullptr);
  _exit(code);
}

void ExitOnCleanup(void*) {
  ExitNow(exit_code);
}

// fork(daemon): the child's pid in the zygote, 0 in the child, -errno on failure
// (-EBUSY while requests are in flight). A daemonic child is killed by the
// kernel when the zygote dies.
napi_value Fork(napi_env env, napi_callback_info info) {
#ifndef __linux__
  return Int(env, -ENOSYS);
#else
  napi_value argv[1];
  bool daemon = false;
  if (!Args(env, info, 1, argv) || napi_get_value_bool(env, argv[0], &daemon) != napi_ok) return Throw(env, "fork(daemon): daemon must be a boolean");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return Throw(env, "fork: no event loop");
  if (loop->active_reqs.count != 0) return Int(env, -EBUSY);
  FindAdvisableRanges();
  MarkAllForkable();
  const pid_t zygote = getpid();
  const pid_t pid = fork();
  if (pid == -1) return Int(env, -errno);
  if (pid > 0) return Int(env, pid);
  // The child. The loop first: until then an epoll_ctl would edit the zygote's interest list.
  if (uv_loop_fork(loop) != 0) _exit(70);
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  if (daemon) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != zygote) _exit(70);
  }
  napi_add_env_cleanup_hook(env, ExitOnCleanup, nullptr);
  return Int(env, 0);
#endif
}

// setExitCode(code): what a drained loop exits with (Node's own exit path is never taken in a forked child).
napi_value SetExitCode(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t code;
  if (!Args(env, info, 1, argv) || !ToInt(env, argv[0], &code)) return Throw(env, "setExitCode(code): code must be an integer");
  exit_code = code;
  return Undefined(env);
}

// exit(code): leaves at once; the caller has flushed what JavaScript buffered.
napi_value Exit(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t code;
  if (!Args(env, info, 1, argv) || !ToInt(env, argv[0], &code)) return Throw(env, "exit(code): code must be an integer");
  ExitNow(code & 0xff);
  return nullptr;
}

napi_value Getpid(napi_env env, napi_callback_info) {
  return Int(env, getpid());
}

// reap(pids): [pid, code, pid, code...] for those of pids that have ended
// (code -N for signal N); only the zygote's own forks are waited for, never
// -1, so a child_process the main module started is left to libuv.
napi_value Reap(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bool is_array = false;
  if (!Args(env, info, 1, argv) || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) return Throw(env, "reap(pids): pids must be an array");
  uint32_t length = 0;
  napi_get_array_length(env, argv[0], &length);
  napi_value result;
  napi_create_array(env, &result);
  uint32_t out = 0;
  for (uint32_t i = 0; i < length; i++) {
    napi_value item;
    int32_t pid;
    if (napi_get_element(env, argv[0], i, &item) != napi_ok || !ToInt(env, item, &pid) || pid <= 0) continue;
    int status = 0;
    pid_t got;
    do got = waitpid(pid, &status, WNOHANG);
    while (got == -1 && errno == EINTR);
    if (got == 0) continue;
    // ECHILD: not ours any more; reported as Python's forkserver does a lost status.
    int code = got == -1 ? 255 : WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
    napi_set_element(env, result, out++, Int(env, pid));
    napi_set_element(env, result, out++, Int(env, code));
  }
  return result;
}

}  // namespace

namespace multiproc {

// Part of the one addon (multiproc.cc's Init calls it), so that one prebuilt binary carries it.
void InitZygote(napi_env env, napi_value exports) {
  const napi_property_descriptor functions[] = {
      {"fork", nullptr, Fork, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setExitCode", nullptr, SetExitCode, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"exit", nullptr, Exit, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"getpid", nullptr, Getpid, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reap", nullptr, Reap, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
}


}  // namespace multiproc
