// Shared by the files of the musl test shim of libstdc++ (see libstdcxx.c).

// Gives a C function or variable the (mangled C++) name Bun links against.
#define SYMBOL(mangled) __asm__(mangled) __attribute__((visibility("default"), used))

/** Ends the process with a message: what Bun would have thrown cannot be caught there. */
_Noreturn void fatal (const char *what, const char *detail);
