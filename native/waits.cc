// Asynchronous waits without libuv's threadpool. A threadpool job that sleeps
// in a futex or a blocking read has no end: four of them starve fs, dns and
// crypto, and process.exit() joins the threadpool, so it never returns. Here,
// instead:
//
// - Futex words: one thread of our own per process sleeps on every pending
//   word at once with futex_waitv (Linux >= 5.16), plus a private control word
//   that the JS thread bumps whenever the set changes. Results reach JS
//   through a threadsafe function. The thread is detached and touches only
//   memory that is never freed, so exit never waits for it.
// - File descriptors: readiness comes from the event loop itself (uv_poll),
//   with no thread at all; JS then reads or writes without blocking.

#include "waits.h"

#include <uv.h>

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#ifdef __linux__
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449  // the same number on every architecture
#endif
#endif

namespace multiproc {

const char* WaitResultName(WaitResult result) {
  switch (result) {
    case WaitResult::kOk:
      return "ok";
    case WaitResult::kNotEqual:
      return "not-equal";
    default:
      return "timed-out";
  }
}

int64_t MonotonicNs() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

#ifdef __linux__
namespace {

struct timespec TimespecOf(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  return ts;
}

// The kernel's struct futex_waitv, spelled out: older headers lack it.
struct WaitvEntry {
  uint64_t value;
  uint64_t address;
  uint32_t flags;
  uint32_t reserved;
};
constexpr uint32_t kFutexSize32 = 2;        // FUTEX2_SIZE_U32
constexpr uint32_t kFutexPrivate = 128;     // FUTEX2_PRIVATE
constexpr size_t kWaitvMax = 128;           // FUTEX_WAITV_MAX
// Words the thread sleeps on for real; one slot is the control word. Past
// that many distinct words (or with no futex_waitv at all, capacity 0), the
// rest are polled: the thread wakes every kPollNs and reports them as woken
// (a spurious wake-up, which every caller already re-checks).
constexpr size_t kCapacity = kWaitvMax - 1;
constexpr int64_t kPollNs = 10 * 1000000;

struct EnvState;

struct Pending {
  int32_t* address;
  int32_t expected;
  int64_t deadline;  // CLOCK_MONOTONIC ns; -1: none
  napi_deferred deferred;
  EnvState* env;
  ReleaseFn release;
  void* release_data;
  WaitResult result;
};

// Per JS environment (the main thread, or a worker_threads Worker).
struct EnvState {
  napi_env env;
  napi_threadsafe_function tsfn;
  int pending = 0;            // waits not yet settled (JS thread only): the tsfn is ref'ed while > 0
  std::vector<Pending*> done;  // settled by the thread, not yet delivered (under the mutex)
  bool signalled = false;      // a delivery is on its way (under the mutex)
};

// Never destroyed: the thread may run while static destructors do at exit.
std::mutex& mutex = *new std::mutex();
std::vector<Pending*>& waits = *new std::vector<Pending*>();
std::map<napi_env, EnvState*>& envs = *new std::map<napi_env, EnvState*>();
// Bumped (and woken) whenever the set of waits changes: the thread sleeps on it too.
std::atomic<int32_t> control{0};
bool thread_started = false;

void BumpControl() {
  control.fetch_add(1, std::memory_order_seq_cst);
  syscall(SYS_futex, reinterpret_cast<int32_t*>(&control), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// Whether futex_waitv can be used: it exists (ENOSYS before 5.16), and
// MULTIPROC_NO_FUTEX_WAITV=1 does not ask for the fallback (for its tests).
bool WaitvUsable() {
  const char* forced = std::getenv("MULTIPROC_NO_FUTEX_WAITV");
  if (forced != nullptr && std::strcmp(forced, "1") == 0) return false;
  long r = syscall(SYS_futex_waitv, nullptr, 0, 0, nullptr, 0);
  return !(r == -1 && errno == ENOSYS);
}

// Under the mutex: hands a settled wait to its environment's JS thread.
void Settle(Pending* wait, WaitResult result, std::vector<EnvState*>* to_signal) {
  wait->result = result;
  wait->env->done.push_back(wait);
  if (!wait->env->signalled) {
    wait->env->signalled = true;
    to_signal->push_back(wait->env);
  }
}

// Whether some wait on `address` has an entry of its own in `entries` (past the control word).
bool HasEntry(const std::vector<WaitvEntry>& entries, uint64_t address) {
  for (size_t i = 1; i < entries.size(); i++) {
    if (entries[i].address == address) return true;
  }
  return false;
}

// Under the mutex: settles as `result` the waits that `settle` picks.
template <typename Pick>
void SettleWhere(Pick settle, WaitResult result, std::vector<EnvState*>* to_signal) {
  std::vector<Pending*> kept;
  kept.reserve(waits.size());
  for (Pending* wait : waits) {
    if (settle(wait)) {
      Settle(wait, result, to_signal);
    } else {
      kept.push_back(wait);
    }
  }
  waits.swap(kept);
}

void ThreadMain() {
  bool waitv = WaitvUsable();
  size_t capacity = waitv ? kCapacity : 0;
  std::vector<WaitvEntry> entries;
  std::vector<EnvState*> to_signal;
  int64_t next_tick = -1;  // when the words without an entry are next reported as woken (-1: none)
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    // Settle what is decided already: a word that moved, a deadline passed.
    int64_t now = MonotonicNs();
    SettleWhere([](Pending* wait) { return __atomic_load_n(wait->address, __ATOMIC_SEQ_CST) != wait->expected; }, WaitResult::kNotEqual, &to_signal);
    SettleWhere([now](Pending* wait) { return wait->deadline >= 0 && wait->deadline <= now; }, WaitResult::kTimedOut, &to_signal);

    // One entry per distinct word (waiters on the same word share it).
    int32_t generation = control.load(std::memory_order_seq_cst);
    entries.clear();
    entries.push_back({static_cast<uint32_t>(generation), reinterpret_cast<uintptr_t>(&control), kFutexSize32 | kFutexPrivate, 0});
    bool overflow = false;
    for (Pending* wait : waits) {
      uint64_t address = reinterpret_cast<uintptr_t>(wait->address);
      if (HasEntry(entries, address)) continue;
      if (entries.size() - 1 >= capacity) {
        overflow = true;
      } else {
        entries.push_back({static_cast<uint32_t>(wait->expected), address, kFutexSize32, 0});
      }
    }
    // The words past capacity are polled: every kPollNs they report a
    // (possibly spurious) wake-up, which every caller re-checks.
    if (!overflow) {
      next_tick = -1;
    } else if (next_tick < 0) {
      next_tick = now + kPollNs;
    } else if (next_tick <= now) {
      SettleWhere([&entries](Pending* wait) { return !HasEntry(entries, reinterpret_cast<uintptr_t>(wait->address)); }, WaitResult::kOk, &to_signal);
      next_tick = now + kPollNs;
      continue;
    }
    for (EnvState* env : to_signal) napi_call_threadsafe_function(env->tsfn, nullptr, napi_tsfn_nonblocking);
    to_signal.clear();
    int64_t earliest = next_tick;
    for (Pending* wait : waits) {
      if (wait->deadline >= 0 && (earliest < 0 || wait->deadline < earliest)) earliest = wait->deadline;
    }
    lock.unlock();

    struct timespec until;
    if (earliest >= 0) until = TimespecOf(earliest);
    long woken;
    if (waitv) {
      woken = syscall(SYS_futex_waitv, entries.data(), entries.size(), 0, earliest >= 0 ? &until : nullptr, CLOCK_MONOTONIC);
    } else {
      // No futex_waitv: sleep on the control word alone, with an absolute deadline.
      woken = syscall(SYS_futex, reinterpret_cast<int32_t*>(&control), FUTEX_WAIT_BITSET_PRIVATE, generation,
                      earliest >= 0 ? &until : nullptr, nullptr, FUTEX_BITSET_MATCH_ANY);
    }
    int err = woken == -1 ? errno : 0;
    if (waitv && woken == -1 && err != EAGAIN && err != ETIMEDOUT && err != EINTR) {
      // A refusal we do not expect would repeat at once: poll from now on rather than spin.
      waitv = false;
      capacity = 0;
    }
    lock.lock();
    if (waitv && woken >= 1 && static_cast<size_t>(woken) < entries.size()) {
      uint64_t address = entries[static_cast<size_t>(woken)].address;
      SettleWhere([address](Pending* wait) { return reinterpret_cast<uintptr_t>(wait->address) == address; }, WaitResult::kOk, &to_signal);
    }
    // Else EAGAIN (a word moved before the sleep), EINTR, a control bump, a
    // deadline or a poll tick: the top of the loop looks again.
  }
}

// Detached: exit never joins it, and it touches only memory that is never
// freed. Its signals are blocked, so that they go to the JS thread. An errno on failure.
int StartThread() {
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attributes, 256 * 1024);
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pthread_t thread;
  int err = pthread_create(&thread, &attributes, [](void*) -> void* {
    ThreadMain();
    return nullptr;
  }, nullptr);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  pthread_attr_destroy(&attributes);
  return err;
}

// On the JS thread: resolves the waits the thread settled for this environment.
void Deliver(napi_env env, napi_value /*callback*/, void* context, void* /*data*/) {
  auto* state = static_cast<EnvState*>(context);
  std::vector<Pending*> done;
  {
    std::lock_guard<std::mutex> lock(mutex);
    done.swap(state->done);
    state->signalled = false;
  }
  if (env == nullptr) return;  // the environment is going: Forget() frees them
  for (Pending* wait : done) {
    napi_value result;
    napi_create_string_utf8(env, WaitResultName(wait->result), NAPI_AUTO_LENGTH, &result);
    napi_resolve_deferred(env, wait->deferred, result);
    wait->release(wait->release_data);
    delete wait;
  }
  state->pending -= static_cast<int>(done.size());
  if (state->pending == 0) napi_unref_threadsafe_function(env, state->tsfn);
}

// An environment that ends (a Worker, or the process) drops its waits: no one is left to resolve them.
void Forget(void* context) {
  auto* state = static_cast<EnvState*>(context);
  std::lock_guard<std::mutex> lock(mutex);
  std::vector<Pending*> kept;
  for (Pending* wait : waits) {
    if (wait->env == state) {
      wait->release(wait->release_data);
      delete wait;
    } else {
      kept.push_back(wait);
    }
  }
  waits.swap(kept);
  for (Pending* wait : state->done) {
    wait->release(wait->release_data);
    delete wait;
  }
  state->done.clear();
  envs.erase(state->env);
  napi_release_threadsafe_function(state->tsfn, napi_tsfn_abort);
  // The state itself stays: a delivery may still be queued to the tsfn.
}

EnvState* StateOf(napi_env env) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = envs.find(env);
    if (it != envs.end()) return it->second;
  }
  auto* state = new EnvState();
  state->env = env;
  napi_value name;
  napi_create_string_utf8(env, "multiproc:futexWaitAsync", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, state, Deliver, &state->tsfn) != napi_ok) {
    delete state;
    return nullptr;
  }
  // Unref'ed while nothing waits: it never keeps the process alive by itself.
  napi_unref_threadsafe_function(env, state->tsfn);
  napi_add_env_cleanup_hook(env, Forget, state);
  std::lock_guard<std::mutex> lock(mutex);
  envs[env] = state;
  return state;
}

}  // namespace

Napi::Value FutexWaitAsync(Napi::Env env, int32_t* address, int32_t expected, double timeout_ms, ReleaseFn release, void* release_data) {
  napi_deferred deferred;
  napi_value promise;
  if (napi_create_promise(env, &deferred, &promise) != napi_ok) {
    release(release_data);
    return env.Undefined();
  }
  // Decided without the thread: the word already moved, or no time to wait.
  WaitResult now = __atomic_load_n(address, __ATOMIC_SEQ_CST) != expected ? WaitResult::kNotEqual
                   : timeout_ms == 0                                     ? WaitResult::kTimedOut
                                                                         : WaitResult::kError;
  EnvState* state = now == WaitResult::kError ? StateOf(env) : nullptr;
  if (now == WaitResult::kError && state == nullptr) {
    release(release_data);
    napi_reject_deferred(env, deferred, Napi::Error::New(env, "futexWaitAsync: could not create a threadsafe function").Value());
    return Napi::Value(env, promise);
  }
  if (now != WaitResult::kError) {
    release(release_data);
    napi_resolve_deferred(env, deferred, Napi::String::New(env, WaitResultName(now)));
    return Napi::Value(env, promise);
  }
  int64_t deadline = timeout_ms < 0 ? -1 : MonotonicNs() + static_cast<int64_t>(timeout_ms * 1e6);
  {
    std::lock_guard<std::mutex> lock(mutex);
    int err = thread_started ? 0 : StartThread();
    if (err != 0) {
      release(release_data);
      napi_reject_deferred(env, deferred, Napi::Error::New(env, std::string("futexWaitAsync: could not start the waiting thread: ") + std::strerror(err)).Value());
      return Napi::Value(env, promise);
    }
    thread_started = true;
    waits.push_back(new Pending{address, expected, deadline, deferred, state, release, release_data, WaitResult::kError});
  }
  // A pending wait keeps the event loop alive, as a pending socket read does.
  if (state->pending++ == 0) napi_ref_threadsafe_function(env, state->tsfn);
  BumpControl();
  return Napi::Value(env, promise);
}

#else

Napi::Value FutexWaitAsync(Napi::Env env, int32_t*, int32_t, double, ReleaseFn release, void* release_data) {
  release(release_data);
  Napi::Error::New(env, "futexWaitAsync is not supported on this platform").ThrowAsJavaScriptException();
  return env.Undefined();
}

#endif

// ---------------------------------------------------------------------------
// Readiness of a descriptor from the event loop: pollFd(fd, writable, onReady)
// calls onReady once, when fd is readable (or writable), or has an error or
// hang-up for the next read or write to report; it returns a function that
// cancels the watch. A pending watch keeps the event loop alive. Several
// watches of one fd in one environment share one uv_poll_t (libuv allows no
// more).

namespace {

struct Watch {
  uint64_t id;
  bool writable;
  Napi::FunctionReference callback;
};

struct Poller {
  napi_env env;
  int fd;
  uv_poll_t handle;
  std::vector<Watch*> watches;
  bool closing = false;
};

// Per environment: its pollers by fd; only its JS thread touches them.
std::map<std::pair<napi_env, int>, Poller*>& pollers = *new std::map<std::pair<napi_env, int>, Poller*>();
uint64_t next_watch_id = 1;

int EventsOf(const Poller* poller) {
  int events = 0;
  for (const Watch* watch : poller->watches) events |= watch->writable ? UV_WRITABLE : UV_READABLE;
  return events;
}

void ClosePoller(Poller* poller) {
  pollers.erase({poller->env, poller->fd});
  poller->closing = true;
  uv_poll_stop(&poller->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&poller->handle), [](uv_handle_t* handle) { delete static_cast<Poller*>(handle->data); });
}

// Restarts the poll for what is still watched, or closes it.
void Rearm(Poller* poller);

void OnPoll(uv_poll_t* handle, int status, int events) {
  auto* poller = static_cast<Poller*>(handle->data);
  napi_env env = poller->env;
  Napi::HandleScope scope(env);
  std::vector<Watch*> fired;
  std::vector<Watch*> kept;
  for (Watch* watch : poller->watches) {
    bool ready = status < 0 || (events & (watch->writable ? UV_WRITABLE : UV_READABLE)) != 0 || (events & UV_DISCONNECT) != 0;
    (ready ? fired : kept).push_back(watch);
  }
  poller->watches.swap(kept);
  Rearm(poller);
  for (Watch* watch : fired) {
    Napi::Function callback = watch->callback.Value();
    delete watch;
    napi_value global;
    napi_get_global(env, &global);
    napi_value ignored;
    napi_status s = napi_make_callback(env, nullptr, global, callback, 0, nullptr, &ignored);
    if (s == napi_pending_exception) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
    }
  }
}

void Rearm(Poller* poller) {
  if (poller->watches.empty()) {
    ClosePoller(poller);
  } else {
    uv_poll_start(&poller->handle, EventsOf(poller) | UV_DISCONNECT, OnPoll);
  }
}

void ClosePollersOf(void* env) {
  for (auto it = pollers.begin(); it != pollers.end();) {
    Poller* poller = it->second;
    ++it;
    if (poller->env != static_cast<napi_env>(env)) continue;
    for (Watch* watch : poller->watches) delete watch;
    poller->watches.clear();
    ClosePoller(poller);
  }
}

std::map<napi_env, bool>& poll_hooks = *new std::map<napi_env, bool>();

Napi::Value PollFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBoolean() || !info[2].IsFunction()) {
    Napi::TypeError::New(env, "pollFd(fd, writable, onReady): fd must be a number, writable a boolean and onReady a function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool writable = info[1].As<Napi::Boolean>().Value();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "pollFd: no event loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!poll_hooks[env]) {
    poll_hooks[env] = true;
    napi_add_env_cleanup_hook(env, ClosePollersOf, static_cast<void*>(static_cast<napi_env>(env)));
  }
  auto key = std::make_pair(static_cast<napi_env>(env), fd);
  Poller* poller;
  auto it = pollers.find(key);
  if (it != pollers.end()) {
    poller = it->second;
  } else {
    poller = new Poller();
    poller->env = env;
    poller->fd = fd;
    int r = uv_poll_init(loop, &poller->handle, fd);
    if (r != 0) {
      delete poller;
      Napi::Error error = Napi::Error::New(env, std::string("pollFd: ") + uv_strerror(r));
      error.Set("code", Napi::String::New(env, uv_err_name(r)));
      error.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    poller->handle.data = poller;
    pollers[key] = poller;
  }
  auto* watch = new Watch{next_watch_id++, writable, Napi::Persistent(info[2].As<Napi::Function>())};
  poller->watches.push_back(watch);
  Rearm(poller);
  uint64_t id = watch->id;
  return Napi::Function::New(env, [key, id](const Napi::CallbackInfo& cancel_info) {
    auto found = pollers.find(key);
    if (found == pollers.end()) return cancel_info.Env().Undefined();
    Poller* owner = found->second;
    auto at = std::find_if(owner->watches.begin(), owner->watches.end(), [id](const Watch* w) { return w->id == id; });
    if (at == owner->watches.end()) return cancel_info.Env().Undefined();
    delete *at;
    owner->watches.erase(at);
    Rearm(owner);
    return cancel_info.Env().Undefined();
  }, "cancelPollFd");
}

}  // namespace

// growPipe(fd, bytes): asks for a pipe of at least `bytes` (Linux's
// F_SETPIPE_SZ; unprivileged, up to /proc/sys/fs/pipe-max-size) and returns
// the capacity it has, which stays as it was when the kernel refuses: a
// larger pipe is only faster (whole items of a Queue fit in it), never needed.
Napi::Value GrowPipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "growPipe(fd, bytes): fd and bytes must be numbers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
#if defined(__linux__) && defined(F_SETPIPE_SZ)
  int fd = info[0].As<Napi::Number>().Int32Value();
  int bytes = info[1].As<Napi::Number>().Int32Value();
  int capacity = fcntl(fd, F_SETPIPE_SZ, bytes);
  if (capacity == -1) capacity = fcntl(fd, F_GETPIPE_SZ);
  return Napi::Number::New(env, capacity);
#else
  return Napi::Number::New(env, -1);
#endif
}

void InitWaits(Napi::Env env, Napi::Object exports) {
  exports.Set("pollFd", Napi::Function::New(env, PollFd, "pollFd"));
  exports.Set("growPipe", Napi::Function::New(env, GrowPipe, "growPipe"));
}


}  // namespace multiproc
