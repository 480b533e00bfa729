// dynamic_cast for the musl test shim of libstdc++: the Itanium C++ ABI's
// __dynamic_cast, over the class type_info records the compiler emits, which
// say how each class's bases sit in it. The three kinds are told apart by
// their vtables, which Bun copies into itself at load time (copy relocations)
// from the definitions in type_info_vtables.c.
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include "shim.h"

struct type_info { const void *vtable; const char *name; };
/** A class with one public, non-virtual base at offset 0. */
struct si_type_info { struct type_info info; const struct type_info *base; };
struct base_info { const struct type_info *type; long offset_flags; };
/** Any other class with bases. */
struct vmi_type_info { struct type_info info; unsigned flags, count; struct base_info bases[]; };

enum { BASE_VIRTUAL = 1, BASE_PUBLIC = 2, OFFSET_SHIFT = 8 };

// Declared here, defined in another file: reached through the GOT, so these are Bun's copies.
extern void *si_class_type_info_vtable[] __asm__("_ZTVN10__cxxabiv120__si_class_type_infoE");
extern void *vmi_class_type_info_vtable[] __asm__("_ZTVN10__cxxabiv121__vmi_class_type_infoE");

/** As std::type_info::operator== in libstdc++: a name starting with '*' is only equal to itself. */
static bool same_type (const struct type_info *a, const struct type_info *b) {
  return a == b || a->name == b->name || (a->name[0] != '*' && b->name[0] != '*' && strcmp(a->name, b->name) == 0);
}

typedef bool (*visitor) (const char *object, const struct type_info *type, bool reachable_publicly, void *context);

/** Visits `object` and each of its base subobjects, depth first, until `visit` returns true. */
static bool walk (const char *object, const struct type_info *type, bool reachable_publicly, visitor visit, void *context) {
  if (visit(object, type, reachable_publicly, context)) return true;
  if (type->vtable == &si_class_type_info_vtable[2]) {
    return walk(object, ((const struct si_type_info *)type)->base, reachable_publicly, visit, context);
  }
  if (type->vtable != &vmi_class_type_info_vtable[2]) return false; // no bases
  const struct vmi_type_info *vmi = (const struct vmi_type_info *)type;
  for (unsigned i = 0; i < vmi->count; i++) {
    long flags = vmi->bases[i].offset_flags;
    ptrdiff_t offset = flags >> OFFSET_SHIFT;
    // A virtual base's offset is read from the object's vtable, at that (negative) position.
    if (flags & BASE_VIRTUAL) offset = *(const ptrdiff_t *)(*(const char *const *)object + offset);
    bool is_public = reachable_publicly && (flags & BASE_PUBLIC) != 0;
    if (walk(object + offset, vmi->bases[i].type, is_public, visit, context)) return true;
  }
  return false;
}

struct target { const char *object; const struct type_info *type; bool found; };

/** Finds one subobject, reached by a public path. */
static bool find_public (const char *object, const struct type_info *type, bool reachable_publicly, void *context) {
  struct target *t = context;
  if (object == t->object && reachable_publicly && same_type(type, t->type)) t->found = true;
  return t->found;
}

struct candidates {
  const struct type_info *type;
  struct target source; // for down-casts: the subobject the cast starts from
  const char *found;
  bool found_publicly, ambiguous;
};

static void note (struct candidates *c, const char *object, bool reachable_publicly) {
  if (c->found != NULL && c->found != object) c->ambiguous = true;
  c->found = object;
  c->found_publicly = c->found_publicly || reachable_publicly;
}

/** Down-cast: subobjects of the wanted type that have the source among their public bases. */
static bool find_derived (const char *object, const struct type_info *type, bool reachable_publicly, void *context) {
  struct candidates *c = context;
  (void)reachable_publicly;
  if (!same_type(type, c->type)) return false;
  struct target source = c->source;
  walk(object, type, true, find_public, &source);
  if (source.found) note(c, object, true);
  return c->ambiguous;
}

/** Cross-cast: every subobject of the wanted type in the whole object. */
static bool find_any (const char *object, const struct type_info *type, bool reachable_publicly, void *context) {
  struct candidates *c = context;
  if (same_type(type, c->type)) note(c, object, reachable_publicly);
  return c->ambiguous;
}

void *__dynamic_cast (const void *source, const struct type_info *source_type, const struct type_info *wanted, ptrdiff_t hint)
  __attribute__((visibility("default")));
void *__dynamic_cast (const void *source, const struct type_info *source_type, const struct type_info *wanted, ptrdiff_t hint) {
  (void)hint; // where the compiler knows the answer's offset: only a shortcut
  const void *const *vtable = *(const void *const *const *)source;
  const char *whole = (const char *)source + ((const ptrdiff_t *)vtable)[-2];
  const struct type_info *whole_type = vtable[-1];
  struct candidates down = { wanted, { source, source_type, false }, NULL, false, false };
  walk(whole, whole_type, true, find_derived, &down);
  if (down.found != NULL && !down.ambiguous) return (void *)down.found;
  // Otherwise, from a public base of the whole object to the one public base of the wanted type.
  struct target from = { source, source_type, false };
  walk(whole, whole_type, true, find_public, &from);
  if (!from.found) return NULL;
  struct candidates across = { wanted, { NULL, NULL, false }, NULL, false, false };
  walk(whole, whole_type, true, find_any, &across);
  return across.found != NULL && !across.ambiguous && across.found_publicly ? (void *)across.found : NULL;
}
