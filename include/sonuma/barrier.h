/* SPDX-License-Identifier: MIT */
/*
 * The only memory-ordering helpers of sonuma.  Installed with the API, so
 * every name carries the project's prefix (as liburing's IO_URING_READ_ONCE
 * does) and cannot clash with a program's own READ_ONCE or cpu_relax.
 *
 * Every load or store that synchronises the application with the RMC goes
 * through one of these, and each use names the access it pairs with.  They
 * are built on the compiler's __atomic builtins so that the public header
 * compiles as C11 and as C++17 alike.
 */
#ifndef SONUMA_BARRIER_H
#define SONUMA_BARRIER_H

/* Plain single-copy-atomic access, no ordering: for fields whose ordering is
 * provided by a later release or an earlier acquire. */
#define SONUMA_READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define SONUMA_WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* Publish: every store before it is visible to whoever acquires the value. */
#define sonuma_smp_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
/* Observe: every load after it sees what the releasing side wrote before. */
#define sonuma_smp_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
/* Full fence, for the rare store-then-load ordering.  ThreadSanitizer does
 * not model fences (gcc refuses them under -fsanitize=thread): there, a
 * sequentially consistent read-modify-write, a full barrier on every
 * architecture we run on, stands in for it. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SONUMA_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(SONUMA_TSAN)
#define sonuma_smp_mb()                                                         \
	do {                                                                    \
		static unsigned sonuma_smp_mb_word__;                           \
		__atomic_fetch_add(&sonuma_smp_mb_word__, 0, __ATOMIC_SEQ_CST); \
	} while (0)
#else
#define sonuma_smp_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

static inline void sonuma_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#endif /* SONUMA_BARRIER_H */
