// A stand-in libstdc++.so.6 for Bun's musl build, so that the musl prebuilds
// can be loaded and tested on a Debian machine (Debian has musl's C library
// but no libstdc++ built against it). It defines only what that Bun binary
// imports from libstdc++, in C: this file has the GNU library's own parts;
// rbtree.c std::map's tree, cxxabi.c and dynamic_cast.c the C++ ABI's. Errors
// Bun would throw through these functions end the process with a message: Bun
// is built without exceptions, so it could not catch them anyway.
//
// Built by scripts/bun-musl/build.sh with zig for x86_64-linux-musl. A test
// tool only: it is never shipped.
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shim.h"

_Noreturn void fatal (const char *what, const char *detail) {
  fprintf(stderr, "libstdc++ (musl test shim): %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  abort();
}

// ---- errors (std::__throw_*) ----

void throw_bad_alloc (void) SYMBOL("_ZSt17__throw_bad_allocv");
void throw_bad_alloc (void) { fatal("std::bad_alloc", NULL); }
void throw_bad_array_new_length (void) SYMBOL("_ZSt28__throw_bad_array_new_lengthv");
void throw_bad_array_new_length (void) { fatal("std::bad_array_new_length", NULL); }
void throw_bad_function_call (void) SYMBOL("_ZSt25__throw_bad_function_callv");
void throw_bad_function_call (void) { fatal("std::bad_function_call", NULL); }
void throw_length_error (const char *what) SYMBOL("_ZSt20__throw_length_errorPKc");
void throw_length_error (const char *what) { fatal("std::length_error", what); }
void throw_logic_error (const char *what) SYMBOL("_ZSt19__throw_logic_errorPKc");
void throw_logic_error (const char *what) { fatal("std::logic_error", what); }
void throw_system_error (int code) SYMBOL("_ZSt20__throw_system_errori");
void throw_system_error (int code) { fatal("std::system_error", strerror(code)); }
void throw_out_of_range_fmt (const char *format, ...) SYMBOL("_ZSt24__throw_out_of_range_fmtPKcz");
void throw_out_of_range_fmt (const char *format, ...) { fatal("std::out_of_range", format); }
void glibcxx_assert_fail (const char *file, int line, const char *function, const char *condition)
  SYMBOL("_ZSt21__glibcxx_assert_failPKciS0_S0_");
void glibcxx_assert_fail (const char *file, int line, const char *function, const char *condition) {
  fprintf(stderr, "%s:%d: %s: assertion '%s' failed\n", file, line, function, condition);
  abort();
}

// ---- std::chrono::steady_clock::now(): nanoseconds since an unspecified start ----

int64_t steady_clock_now (void) SYMBOL("_ZNSt6chrono3_V212steady_clock3nowEv");
int64_t steady_clock_now (void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

// ---- std::condition_variable: a pthread_cond_t; std::unique_lock<std::mutex> starts with the mutex's address ----

void condvar_init (pthread_cond_t *cv) SYMBOL("_ZNSt18condition_variableC1Ev");
void condvar_init (pthread_cond_t *cv) { pthread_cond_init(cv, NULL); }
void condvar_destroy (pthread_cond_t *cv) SYMBOL("_ZNSt18condition_variableD1Ev");
void condvar_destroy (pthread_cond_t *cv) { pthread_cond_destroy(cv); }
void condvar_notify_one (pthread_cond_t *cv) SYMBOL("_ZNSt18condition_variable10notify_oneEv");
void condvar_notify_one (pthread_cond_t *cv) { pthread_cond_signal(cv); }
void condvar_notify_all (pthread_cond_t *cv) SYMBOL("_ZNSt18condition_variable10notify_allEv");
void condvar_notify_all (pthread_cond_t *cv) { pthread_cond_broadcast(cv); }
void condvar_wait (pthread_cond_t *cv, pthread_mutex_t **lock) SYMBOL("_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE");
void condvar_wait (pthread_cond_t *cv, pthread_mutex_t **lock) {
  int error = pthread_cond_wait(cv, *lock);
  if (error != 0) fatal("std::condition_variable::wait", strerror(error));
}

// ---- std::call_once: pthread_once runs __once_proxy, which runs the thread's pending call ----

__thread void *once_callable SYMBOL("_ZSt15__once_callable");
__thread void (*once_call)(void) SYMBOL("_ZSt11__once_call");
void __once_proxy (void) __attribute__((visibility("default")));
void __once_proxy (void) { once_call(); }

// ---- std::_Hash_bytes: any good hash will do, as long as it is the same within a process ----

size_t hash_bytes (const void *data, size_t length, size_t seed) SYMBOL("_ZSt11_Hash_bytesPKvmm");
size_t hash_bytes (const void *data, size_t length, size_t seed) {
  const unsigned char *bytes = data;
  uint64_t hash = 0xcbf29ce484222325u ^ seed;
  for (size_t i = 0; i < length; i++) hash = (hash ^ bytes[i]) * 0x100000001b3u;
  hash ^= hash >> 33; // spread the low bits, which pick the bucket
  hash *= 0xff51afd7ed558ccdu;
  return hash ^ (hash >> 33);
}

// ---- std::__detail::_Prime_rehash_policy: the bucket counts of unordered containers ----

// next_resize is `mutable` there: the const member functions update it.
struct rehash_policy { float max_load_factor; size_t next_resize; };
struct rehash_answer { bool rehash; size_t buckets; }; // std::pair<bool, size_t>: two registers

static bool is_prime (size_t n) {
  if (n < 2) return false;
  for (size_t d = 2; d <= n / d; d++) if (n % d == 0) return false;
  return true;
}

size_t next_bucket_count (const struct rehash_policy *policy, size_t wanted) SYMBOL("_ZNKSt8__detail20_Prime_rehash_policy11_M_next_bktEm");
size_t next_bucket_count (const struct rehash_policy *policy, size_t wanted) {
  size_t buckets = wanted < 2 ? 2 : wanted;
  while (!is_prime(buckets)) buckets++;
  ((struct rehash_policy *)policy)->next_resize = (size_t)((double)buckets * policy->max_load_factor);
  return buckets;
}

struct rehash_answer need_rehash (const struct rehash_policy *policy, size_t buckets, size_t elements, size_t inserting)
  SYMBOL("_ZNKSt8__detail20_Prime_rehash_policy14_M_need_rehashEmmm");
struct rehash_answer need_rehash (const struct rehash_policy *policy, size_t buckets, size_t elements, size_t inserting) {
  struct rehash_answer none = { false, 0 };
  if (elements + inserting <= policy->next_resize) return none;
  double least = (double)(elements + inserting) / policy->max_load_factor;
  if (least < (double)buckets) {
    ((struct rehash_policy *)policy)->next_resize = (size_t)((double)buckets * policy->max_load_factor);
    return none;
  }
  size_t wanted = (size_t)least + 1;
  if (wanted < buckets * 2) wanted = buckets * 2;
  struct rehash_answer grow = { true, next_bucket_count(policy, wanted) };
  return grow;
}

// ---- std::__detail::_List_node_base: std::list's links ----

struct list_node { struct list_node *next, *prev; };

void list_hook (struct list_node *node, struct list_node *position) SYMBOL("_ZNSt8__detail15_List_node_base7_M_hookEPS0_");
void list_hook (struct list_node *node, struct list_node *position) {
  node->next = position;
  node->prev = position->prev;
  position->prev->next = node;
  position->prev = node;
}

void list_unhook (struct list_node *node) SYMBOL("_ZNSt8__detail15_List_node_base9_M_unhookEv");
void list_unhook (struct list_node *node) {
  node->prev->next = node->next;
  node->next->prev = node->prev;
}
