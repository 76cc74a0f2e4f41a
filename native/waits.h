// Asynchronous waits that hold no libuv threadpool thread (native/waits.cc).
#pragma once

#include <napi.h>

#include <cstdint>

namespace multiproc {

enum class WaitResult { kOk, kNotEqual, kTimedOut, kError };

// As Atomics.wait names them: "ok", "not-equal", "timed-out".
const char* WaitResultName(WaitResult result);

int64_t MonotonicNs();

// Called once, on any thread, when a wait no longer needs its word's memory.
using ReleaseFn = void (*)(void* data);

// A Promise of the wait's result, settled by our one waiting thread. The word
// must stay mapped until release(release_data) is called.
Napi::Value FutexWaitAsync(Napi::Env env, int32_t* address, int32_t expected, double timeout_ms, ReleaseFn release, void* release_data);

// Adds pollFd to the addon's exports.
void InitWaits(Napi::Env env, Napi::Object exports);

}  // namespace multiproc
