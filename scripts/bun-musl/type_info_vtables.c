// The vtables of the three kinds of class type_info (see dynamic_cast.c).
// Bun copies them into itself when it loads (copy relocations of 88 bytes:
// offset to top, type_info, nine virtual functions); it never calls those
// functions (they serve exception matching), so each one only reports the call.
#include "shim.h"

static void unsupported (void) { fatal("a virtual function of std::type_info", "not in this shim"); }

#define TYPE_INFO_VTABLE(name, mangled) \
  void *name[11] SYMBOL(mangled) = { 0, 0, unsupported, unsupported, unsupported, unsupported, \
    unsupported, unsupported, unsupported, unsupported, unsupported }

TYPE_INFO_VTABLE(class_type_info_vtable, "_ZTVN10__cxxabiv117__class_type_infoE");
TYPE_INFO_VTABLE(si_class_type_info_vtable, "_ZTVN10__cxxabiv120__si_class_type_infoE");
TYPE_INFO_VTABLE(vmi_class_type_info_vtable, "_ZTVN10__cxxabiv121__vmi_class_type_infoE");
