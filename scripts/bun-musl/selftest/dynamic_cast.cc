// Self-test of the shim's __dynamic_cast (../dynamic_cast.c), run by
// ../build.sh: built like Bun (its type_info vtables copied in from the shim)
// and cast through single, multiple, virtual, ambiguous and private bases.
#include <stdio.h>

void operator delete (void *) noexcept {}
void operator delete (void *, unsigned long) noexcept {}

static int failures;
#define EXPECT(ok) do { if (!(ok)) { fprintf(stderr, "dynamic_cast self-test, line %d: %s\n", __LINE__, #ok); failures++; } } while (0)

struct A { virtual ~A () {} int a = 1; };
struct B : A { int b = 2; };
struct C { virtual ~C () {} int c = 3; };
struct D : B, C { int d = 4; };
struct V { virtual ~V () {} int v = 5; };
struct E : virtual V { int e = 6; };
struct F : virtual V { int f = 7; };
struct G : E, F { int g = 8; };
struct A1 : A {};
struct A2 : A {};
struct Twice : A1, A2, C {};
struct Hidden : A, private C { C *asC () { return this; } };
struct Unrelated { virtual ~Unrelated () {} };

int main () {
  B b;
  A *a = &b;
  EXPECT(dynamic_cast<B *>(a) == &b);
  EXPECT(dynamic_cast<D *>(a) == nullptr);
  EXPECT(dynamic_cast<C *>(a) == nullptr);

  D d;
  C *dc = &d;
  A *da = &d;
  EXPECT(dynamic_cast<D *>(dc) == &d);
  EXPECT(dynamic_cast<B *>(dc) == static_cast<B *>(&d));
  EXPECT(dynamic_cast<A *>(dc) == static_cast<A *>(&d)); // across
  EXPECT(dynamic_cast<C *>(da) == static_cast<C *>(&d));
  EXPECT(dynamic_cast<Unrelated *>(dc) == nullptr);

  G g;
  V *gv = &g;
  E *ge = &g;
  EXPECT(dynamic_cast<G *>(gv) == &g); // down from a virtual base
  EXPECT(dynamic_cast<E *>(gv) == static_cast<E *>(&g));
  EXPECT(dynamic_cast<F *>(gv) == static_cast<F *>(&g));
  EXPECT(dynamic_cast<F *>(ge) == static_cast<F *>(&g));
  E e;
  V *ev = &e;
  EXPECT(dynamic_cast<E *>(ev) == &e);
  EXPECT(dynamic_cast<G *>(ev) == nullptr);

  Twice t;
  C *tc = &t;
  A *ta = static_cast<A1 *>(&t);
  EXPECT(dynamic_cast<A *>(tc) == nullptr); // two A subobjects: ambiguous
  EXPECT(dynamic_cast<A1 *>(tc) == static_cast<A1 *>(&t));
  EXPECT(dynamic_cast<Twice *>(ta) == &t);
  EXPECT(dynamic_cast<A2 *>(ta) == static_cast<A2 *>(&t));

  Hidden h;
  A *ha = &h;
  C *hc = h.asC();
  EXPECT(dynamic_cast<C *>(ha) == nullptr); // to a private base
  EXPECT(dynamic_cast<Hidden *>(hc) == nullptr); // from a private base
  EXPECT(dynamic_cast<A *>(hc) == nullptr);
  return failures != 0;
}
