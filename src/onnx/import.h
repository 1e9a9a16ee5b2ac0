/* What the ONNX importer's files share: its state while a graph is read and the helpers on
 * nodes, attributes and constant tensors (import.c), what each node becomes (import_layers.c),
 * the integer tensors the graph computes (import_shapes.c) and PyTorch's LRN (import_lrn.c). */
#ifndef ZF_ONNX_IMPORT_H
#define ZF_ONNX_IMPORT_H

#include "onnx.h"

#include <string.h>

#define MAX_WEIGHTS 512
#define BATCH       INT64_MIN /* the symbolic batch dimension while evaluating shapes */
#define IMAX        16        /* integers in one evaluated shape or pads constant */

typedef struct weight {
    char name[80]; /* the zfnet parameter: LAYER.weight / LAYER.bias */
    float *data;
    size_t count;
} weight;

typedef struct importer {
    const char *path;
    const Onnx__GraphProto *g;
    int opset;
    zf_error *err;
    uint8_t *visited; /* per node */
    const char *cur;  /* the tensor the chain has reached */
    int rank;         /* its rank (2: a vector of c*h*w, 3 or 4) */
    zf_shape shape;   /* its extent per image */
    int64_t batch;    /* the input's batch dimension (0: symbolic) */
    char *text;       /* the model being written */
    size_t len, cap;
    weight w[MAX_WEIGHTS];
    int nw, nlayers, counter[ZF_LAYER_KIND_COUNT];
    char names[ZF_MAX_LAYERS][ZF_NAME_MAX];
    int classes, softmax_seen;
    int failed;      /* out of memory while writing the text */
    int evals;       /* shape evaluations so far (bounded: a hostile graph could nest them) */
    struct written { /* who writes each tensor, sorted by name */
        const char *name;
        int node;
    } * writers;
    size_t nwriters;
} importer;

/* ---- nodes, attributes and tensors (import.c) ---------------------------------------------- */

static inline const char *onnx_op_of(const Onnx__NodeProto *n) {
    return n->op_type ? n->op_type : "?";
}

/* the same tensor (an empty name is an absent optional input: never the same) */
static inline int onnx_tensor_is(const char *a, const char *b) {
    return a && b && *a && !strcmp(a, b);
}

/* The node's output becomes the chain's tensor. */
static inline void onnx_advance(importer *im, const Onnx__NodeProto *n) {
    im->cur = n->n_output ? n->output[0] : "";
}

/* "FILE: node 'NAME' (OP): why" (n NULL: "FILE: why"); returns the status. */
zf_status onnx_refuse(importer *im, const Onnx__NodeProto *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A node's attribute (NULL: absent); an int's or float's value (def: absent; a float as the
 * decimal it was); a string attribute equal to value (absent: "NOTSET"). */
const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name);
int64_t onnx_attr_i(const Onnx__NodeProto *n, const char *name, int64_t def);
double onnx_attr_f(const Onnx__NodeProto *n, const char *name, double def);
int onnx_attr_is(const Onnx__NodeProto *n, const char *name, const char *value);
/* The node writing `name` (-1: none) */
int onnx_producer(const importer *im, const char *name);
/* The nodes (not yet walked) that read tensor t; *count of them, the first in *first. */
int onnx_readers(const importer *im, const char *t, int skip_shape, int *first);
/* A constant tensor: an initializer or a Constant node's value (the node is then used). */
const Onnx__TensorProto *onnx_constant(importer *im, const char *name);
/* Elements a tensor's dims hold (-1: a negative dim or more than 2^31) */
int64_t onnx_tensor_count(const Onnx__TensorProto *t);
/* A float tensor's values (malloc'd, *count of them); NULL with the error set naming `what`. */
float *onnx_tensor_floats(importer *im, const Onnx__NodeProto *n, const char *what,
                          const Onnx__TensorProto *t, int64_t *count);
/* A float scalar constant (a Mul's, Pow's or Dropout's operand); NAN when it is not one. */
double onnx_scalar(importer *im, const char *name);

/* ---- what nodes become (import_layers.c) ----------------------------------------------------- */

/* The node (on the chain, its first input the chain's tensor) as a layer of the model text, or
 * refused when zfnet does not compute its op. */
zf_status onnx_read_node(importer *im, const Onnx__NodeProto *n);
/* An [lrn] layer (alpha already divided by size when not `absolute`); n names it. */
zf_status onnx_lrn_layer(importer *im, const Onnx__NodeProto *n, int64_t size, double alpha,
                         double beta, double bias, int absolute);

/* ---- integer tensors the graph computes (import_shapes.c) ------------------------------------ */

/* The integers of tensor `name` (a shape, axes, indices: up to IMAX, BATCH for the symbolic
 * batch); how many, or -1 when they cannot be evaluated. depth: 0 (bounds the recursion). */
int onnx_eval_ints(importer *im, const char *name, int64_t *out, int depth);

/* an integer matrix (rows x cols) while evaluating Pad's amounts */
typedef struct imat {
    int64_t v[IMAX];
    int rows, cols;
} imat;

/* The integer matrix `name` (Pad's amounts); its values, or -1. The nodes used are marked in
 * set (per node). */
int onnx_eval_mat(importer *im, const char *name, imat *m, uint8_t *set, int depth);

/* ---- PyTorch's LRN (import_lrn.c) ------------------------------------------------------------ */

/* The subgraph torch.onnx.export writes for nn.LocalResponseNorm, from its Mul(x, x) node
 * `square`, as one [lrn] layer; refused when it is not that pattern. */
zf_status onnx_torch_lrn(importer *im, int square);

#endif
