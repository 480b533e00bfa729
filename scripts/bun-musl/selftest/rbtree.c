// Self-test of the shim's red-black tree (../rbtree.c), run by ../build.sh:
// random inserts and erases, as std::multimap makes them, checked after each
// batch for order, parent links, colors, black heights, the header's ends and
// walks both ways.
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct node { int color; struct node *parent, *left, *right; int key; };
struct node *increment (struct node *) __asm__("_ZSt18_Rb_tree_incrementPSt18_Rb_tree_node_base");
struct node *decrement (struct node *) __asm__("_ZSt18_Rb_tree_decrementPSt18_Rb_tree_node_base");
void insert (bool, struct node *, struct node *, struct node *) __asm__("_ZSt29_Rb_tree_insert_and_rebalancebPSt18_Rb_tree_node_baseS0_RS_");
struct node *erase (struct node *, struct node *) __asm__("_ZSt28_Rb_tree_rebalance_for_erasePSt18_Rb_tree_node_baseRS_");

enum { RED = 0, BLACK = 1, MAX = 5000 };
static struct node header = { RED, NULL, &header, &header, 0 };
static int size;

#define REQUIRE(ok, what) do { if (!(ok)) { fprintf(stderr, "rbtree self-test: %s\n", what); exit(1); } } while (0)

/** Black height of the subtree, after checking it. */
static int check (const struct node *n, const struct node *parent, int low, int high) {
  if (n == NULL) return 1;
  REQUIRE(n->parent == parent, "parent link");
  REQUIRE(n->key >= low && n->key <= high, "order");
  REQUIRE(n->color == BLACK || ((n->left == NULL || n->left->color == BLACK) && (n->right == NULL || n->right->color == BLACK)), "a red node's child is red");
  int left = check(n->left, n, low, n->key), right = check(n->right, n, n->key, high);
  REQUIRE(left == right, "black height");
  return left + (n->color == BLACK);
}

static void verify (void) {
  struct node *root = header.parent;
  if (root == NULL) {
    REQUIRE(size == 0 && header.left == &header && header.right == &header, "empty tree");
    return;
  }
  REQUIRE(root->color == BLACK, "root is black");
  check(root, &header, -1, MAX);
  const struct node *end = root;
  while (end->left != NULL) end = end->left;
  REQUIRE(header.left == end, "header's leftmost");
  end = root;
  while (end->right != NULL) end = end->right;
  REQUIRE(header.right == end, "header's rightmost");
  int seen = 0, last = -1;
  for (struct node *n = header.left; n != &header; n = increment(n), seen++) {
    REQUIRE(n->key >= last, "increment walks in order");
    last = n->key;
  }
  REQUIRE(seen == size, "increment visits every node");
  seen = 0;
  for (struct node *n = &header; n != header.left; seen++) n = decrement(n);
  REQUIRE(seen == size, "decrement visits every node");
}

int main (void) {
  static struct node *nodes[MAX];
  srand(1);
  for (int step = 0; step < 300000; step++) {
    if (size == 0 || (size < MAX && rand() % 100 < 55)) {
      struct node *n = calloc(1, sizeof *n);
      n->key = rand() % 3000;
      struct node *parent = &header, *at = header.parent;
      bool left = true;
      while (at != NULL) { parent = at; left = n->key < at->key; at = left ? at->left : at->right; }
      insert(parent == &header || left, n, parent, &header);
      nodes[size++] = n;
    } else {
      int i = rand() % size;
      struct node *n = nodes[i];
      nodes[i] = nodes[--size];
      REQUIRE(erase(n, &header) == n, "erase returns the node to free");
      free(n);
    }
    if (step % 101 == 0 || size < 8) verify();
  }
  while (size > 0) { erase(nodes[--size], &header); verify(); } // down to the empty tree
  return 0;
}
