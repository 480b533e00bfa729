// std::_Rb_tree's out-of-line functions (std::map, std::set) for the musl test
// shim of libstdc++ (see libstdcxx.c): a red-black tree whose nodes are
// { color, parent, left, right } and whose header node (red, to tell it from
// the root) points at the root (parent), the smallest node (left) and the
// largest (right); the root's parent is the header.
#include <stdbool.h>
#include <stddef.h>
#include "shim.h"

enum { RED = 0, BLACK = 1 };
struct node { int color; struct node *parent, *left, *right; };

static bool black (const struct node *n) { return n == NULL || n->color == BLACK; }

static struct node *leftmost (struct node *n) { while (n->left != NULL) n = n->left; return n; }
static struct node *rightmost (struct node *n) { while (n->right != NULL) n = n->right; return n; }

struct node *rb_increment (struct node *n) SYMBOL("_ZSt18_Rb_tree_incrementPSt18_Rb_tree_node_base");
struct node *rb_increment (struct node *n) {
  if (n->right != NULL) return leftmost(n->right);
  struct node *up = n->parent;
  while (n == up->right) { n = up; up = up->parent; }
  // Past the largest node of a tree whose root has no right child, n ends on
  // the header and up on the root: the header is the answer, which n is.
  return n->right != up ? up : n;
}

struct node *rb_decrement (struct node *n) SYMBOL("_ZSt18_Rb_tree_decrementPSt18_Rb_tree_node_base");
struct node *rb_decrement (struct node *n) {
  if (n->color == RED && n->parent->parent == n) return n->right; // the header (end()): the largest node
  if (n->left != NULL) return rightmost(n->left);
  struct node *up = n->parent;
  while (n == up->left) { n = up; up = up->parent; }
  return up;
}

static void replace_child (struct node *old, struct node *new, struct node **root) {
  if (old == *root) *root = new;
  else if (old == old->parent->left) old->parent->left = new;
  else old->parent->right = new;
}

static void rotate_left (struct node *n, struct node **root) {
  struct node *r = n->right;
  n->right = r->left;
  if (r->left != NULL) r->left->parent = n;
  r->parent = n->parent;
  replace_child(n, r, root);
  r->left = n;
  n->parent = r;
}

static void rotate_right (struct node *n, struct node **root) {
  struct node *l = n->left;
  n->left = l->right;
  if (l->right != NULL) l->right->parent = n;
  l->parent = n->parent;
  replace_child(n, l, root);
  l->right = n;
  n->parent = l;
}

void rb_insert (bool insert_left, struct node *n, struct node *parent, struct node *header)
  SYMBOL("_ZSt29_Rb_tree_insert_and_rebalancebPSt18_Rb_tree_node_baseS0_RS_");
void rb_insert (bool insert_left, struct node *n, struct node *parent, struct node *header) {
  struct node **root = &header->parent;
  n->parent = parent;
  n->left = n->right = NULL;
  n->color = RED;
  if (insert_left) {
    parent->left = n; // on the header: the first node, its leftmost
    if (parent == header) { header->parent = n; header->right = n; }
    else if (parent == header->left) header->left = n;
  } else {
    parent->right = n;
    if (parent == header->right) header->right = n;
  }
  while (n != *root && n->parent->color == RED) {
    struct node *p = n->parent, *g = p->parent;
    bool on_left = p == g->left;
    struct node *uncle = on_left ? g->right : g->left;
    if (!black(uncle)) {
      p->color = BLACK;
      uncle->color = BLACK;
      g->color = RED;
      n = g;
      continue;
    }
    if (n == (on_left ? p->right : p->left)) { // an inner grandchild: rotate it outward first
      n = p;
      if (on_left) rotate_left(n, root); else rotate_right(n, root);
      p = n->parent;
    }
    p->color = BLACK;
    g->color = RED;
    if (on_left) rotate_right(g, root); else rotate_left(g, root);
  }
  (*root)->color = BLACK;
}

/** Unlinks z from the tree and rebalances; returns z, which the caller frees. */
struct node *rb_erase (struct node *z, struct node *header) SYMBOL("_ZSt28_Rb_tree_rebalance_for_erasePSt18_Rb_tree_node_baseRS_");
struct node *rb_erase (struct node *z, struct node *header) {
  struct node **root = &header->parent;
  struct node *child, *child_parent; // the node that moves up into the removed place, and its new parent
  int removed_color;
  if (z->left != NULL && z->right != NULL) {
    // Two children: z's successor y (no left child) takes z's place and color.
    struct node *y = leftmost(z->right);
    child = y->right;
    removed_color = y->color;
    if (y->parent == z) {
      child_parent = y;
    } else {
      child_parent = y->parent;
      y->parent->left = child;
      if (child != NULL) child->parent = y->parent;
      y->right = z->right;
      z->right->parent = y;
    }
    y->left = z->left;
    z->left->parent = y;
    replace_child(z, y, root);
    y->parent = z->parent;
    y->color = z->color;
  } else {
    child = z->left != NULL ? z->left : z->right;
    child_parent = z->parent;
    removed_color = z->color;
    if (child != NULL) child->parent = z->parent;
    replace_child(z, child, root);
    // z may have been the smallest or the largest node (never both unless alone).
    if (header->left == z) header->left = z->right == NULL ? z->parent : leftmost(child);
    if (header->right == z) header->right = z->left == NULL ? z->parent : rightmost(child);
  }
  if (removed_color == BLACK) {
    // One black too few on child's side: push it up or rotate it in.
    while (child != *root && black(child)) {
      struct node *p = child_parent;
      bool on_left = child == p->left;
      struct node *sibling = on_left ? p->right : p->left;
      if (sibling->color == RED) {
        sibling->color = BLACK;
        p->color = RED;
        if (on_left) rotate_left(p, root); else rotate_right(p, root);
        sibling = on_left ? p->right : p->left;
      }
      if (black(sibling->left) && black(sibling->right)) {
        sibling->color = RED;
        child = p;
        child_parent = p->parent;
        continue;
      }
      struct node *far = on_left ? sibling->right : sibling->left;
      if (black(far)) {
        struct node *near = on_left ? sibling->left : sibling->right;
        near->color = BLACK;
        sibling->color = RED;
        if (on_left) rotate_right(sibling, root); else rotate_left(sibling, root);
        sibling = on_left ? p->right : p->left;
        far = on_left ? sibling->right : sibling->left;
      }
      sibling->color = p->color;
      p->color = BLACK;
      if (far != NULL) far->color = BLACK;
      if (on_left) rotate_left(p, root); else rotate_right(p, root);
      break;
    }
    if (child != NULL) child->color = BLACK;
  }
  return z;
}
