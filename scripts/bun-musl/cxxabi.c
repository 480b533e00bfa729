// The Itanium C++ ABI's runtime functions Bun imports, apart from
// __dynamic_cast (dynamic_cast.c), for the musl test shim of libstdc++.
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "shim.h"

// ---- function-local statics: the first byte of the guard says "initialized" ----

static pthread_mutex_t guard_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t guard_done = PTHREAD_COND_INITIALIZER;

/** 1: the caller runs the initializer, then calls __cxa_guard_release; 0: it has run. */
int __cxa_guard_acquire (uint8_t *guard) __attribute__((visibility("default")));
int __cxa_guard_acquire (uint8_t *guard) {
  if (__atomic_load_n(&guard[0], __ATOMIC_ACQUIRE) != 0) return 0;
  pthread_mutex_lock(&guard_mutex);
  while (guard[1] != 0) pthread_cond_wait(&guard_done, &guard_mutex); // another thread is initializing
  int run = guard[0] == 0;
  if (run) guard[1] = 1;
  pthread_mutex_unlock(&guard_mutex);
  return run;
}

void __cxa_guard_release (uint8_t *guard) __attribute__((visibility("default")));
void __cxa_guard_release (uint8_t *guard) {
  pthread_mutex_lock(&guard_mutex);
  guard[1] = 0;
  __atomic_store_n(&guard[0], 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&guard_done);
  pthread_mutex_unlock(&guard_mutex);
}

// ---- handlers ----

typedef void (*handler) (void);
static handler terminate_handler;

handler set_terminate (handler next) SYMBOL("_ZSt13set_terminatePFvvE");
handler set_terminate (handler next) { return __atomic_exchange_n(&terminate_handler, next, __ATOMIC_ACQ_REL); }

void terminate (void) SYMBOL("_ZSt9terminatev");
void terminate (void) {
  handler h = __atomic_load_n(&terminate_handler, __ATOMIC_ACQUIRE);
  if (h != NULL) h();
  fatal("std::terminate", NULL);
}

/** Bun never sets a new-handler (it does not import std::set_new_handler). */
handler get_new_handler (void) SYMBOL("_ZSt15get_new_handlerv");
handler get_new_handler (void) { return NULL; }

void __cxa_pure_virtual (void) __attribute__((visibility("default")));
void __cxa_pure_virtual (void) { fatal("pure virtual function called", NULL); }

void __cxa_bad_typeid (void) __attribute__((visibility("default")));
void __cxa_bad_typeid (void) { fatal("std::bad_typeid", NULL); }

/** Names are left mangled: status -2 tells the caller this is not a name it can demangle. */
char *__cxa_demangle (const char *mangled, char *buffer, size_t *length, int *status) __attribute__((visibility("default")));
char *__cxa_demangle (const char *mangled, char *buffer, size_t *length, int *status) {
  (void)mangled; (void)buffer; (void)length;
  if (status != NULL) *status = -2;
  return NULL;
}
