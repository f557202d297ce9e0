// File: thread_annotations.h
// Clang thread-safety annotations (-Wthread-safety), in the LevelDB style.
// Mark each mutex-guarded field GUARDED_BY(mutex_), each method that needs the
// lock held REQUIRES(mutex_), each that takes it itself EXCLUDES(mutex_).
// GCC ignores them; `.ci/run` checks them with clang -fsyntax-only.
//
//   class Counter {
//    public:
//     void Add() EXCLUDES(mutex_) { MutexLock lock(mutex_); ++value_; }
//    private:
//     Mutex mutex_;
//     int value_ GUARDED_BY(mutex_) = 0;
//   };
#pragma once

#if defined(__clang__)
#define PACS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define PACS_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) PACS_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY PACS_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) PACS_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) PACS_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) PACS_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) PACS_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) PACS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) PACS_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) PACS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) PACS_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) PACS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) PACS_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) PACS_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) PACS_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) PACS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) PACS_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) PACS_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS PACS_THREAD_ANNOTATION(no_thread_safety_analysis)
