/* PyTorch's LRN read back as one [lrn] layer: torch.onnx.export (1.13) writes
 * nn.LocalResponseNorm as ~40 primitive nodes. Its data path is matched node by node:
 *   s = Mul(x, x) -> Unsqueeze(axis 1) -> Reshape(N, 1, C, H, -1) -> Pad(channels: size/2
 *   before, (size-1)/2 after; zeros) ... -> AveragePool(size, 1, 1) -> If(Squeeze | Identity)
 *   -> Reshape(N, C, H, W) -> Mul(alpha) -> Add(k) -> Pow(beta) -> Div(x, .)
 * with every shape and pad amount evaluated; the rest (Shape, Gather, Concat, Equal, ...) only
 * computes those shapes, pads and the If's condition. Nothing outside may read the pattern. */
#include "import.h"

#include <math.h>

/* the one node, not a Shape, that reads t (-1: none or several) */
static int sole_reader(const importer *im, const char *t) {
    int first;
    return t && onnx_readers(im, t, 1, &first) == 1 ? first : -1;
}

/* The pattern node reading t if it is an `op` (marked in set), else NULL. */
static const Onnx__NodeProto *next_op(importer *im, const char *t, const char *op, uint8_t *set) {
    int r = sole_reader(im, t);
    if (r < 0 || strcmp(onnx_op_of(im->g->node[r]), op) || !im->g->node[r]->n_output) return NULL;
    set[r] = 1;
    return im->g->node[r];
}

/* Pad nodes along the channels of the 5-D tensor: (before, after) summed; -1: other padding */
static const char *lrn_pads(importer *im, const char *t, uint8_t *set, int64_t *before,
                            int64_t *after) {
    const Onnx__NodeProto *pad;
    int r;
    *before = *after = 0;
    while ((r = sole_reader(im, t)) >= 0 && !strcmp(onnx_op_of(im->g->node[r]), "Pad")) {
        pad = next_op(im, t, "Pad", set);
        imat m = {0};
        int ok = pad && pad->n_input >= 2 &&
                 (!onnx_attr(pad, "mode") || onnx_attr_is(pad, "mode", "constant")) &&
                 onnx_eval_mat(im, pad->input[1], &m, set, 0) == 10;
        if (ok && pad->n_input > 2 && *pad->input[2]) ok = onnx_scalar(im, pad->input[2]) == 0;
        for (int i = 0; ok && i < 10; i++) ok = i == 2 || i == 7 ? m.v[i] >= 0 : m.v[i] == 0;
        if (!ok) return NULL;
        *before += m.v[2], *after += m.v[7], t = pad->output[0];
    }
    return t;
}

/* the node writing t when it is an `op` node of two inputs, else -1 */
static int made_by(const importer *im, const char *t, const char *op) {
    int p = onnx_producer(im, t);
    return p >= 0 && !strcmp(onnx_op_of(im->g->node[p]), op) && im->g->node[p]->n_input == 2 ? p
                                                                                             : -1;
}

/* The If torch writes after the AveragePool (its branches Squeeze or pass on `avg`), with the
 * nodes computing its condition from avg's shape; NULL: not that. */
static const Onnx__NodeProto *lrn_if(importer *im, const char *avg, uint8_t *set) {
    for (size_t i = 0; i < im->g->n_node; i++) {
        const Onnx__NodeProto *n = im->g->node[i];
        const Onnx__AttributeProto *b[2] = {onnx_attr(n, "then_branch"),
                                            onnx_attr(n, "else_branch")};
        if (im->visited[i] || strcmp(onnx_op_of(n), "If") || !b[0] || !b[1] || !b[0]->g ||
            !b[1]->g || n->n_input != 1 || n->n_output != 1)
            continue;
        int ok = 1;
        for (int k = 0; k < 2; k++) { /* (Constant +) Squeeze(avg, 1) or Identity(avg) */
            const Onnx__GraphProto *g = b[k]->g;
            const Onnx__NodeProto *last = g->n_node ? g->node[g->n_node - 1] : NULL;
            ok &= g->n_node >= 1 && g->n_node <= 2 && g->n_output == 1 && last->n_output == 1 &&
                  last->n_input >= 1 && onnx_tensor_is(last->input[0], avg) &&
                  onnx_tensor_is(last->output[0], g->output[0]->name) &&
                  (!strcmp(onnx_op_of(last), "Identity") || !strcmp(onnx_op_of(last), "Squeeze")) &&
                  (g->n_node == 1 || !strcmp(onnx_op_of(g->node[0]), "Constant"));
        }
        /* the condition: Equal(Gather(Shape(avg), 1), 1) */
        int eq = onnx_producer(im, n->input[0]);
        int ga = eq < 0 ? -1 : made_by(im, im->g->node[eq]->input[0], "Gather");
        int sh = ga < 0 ? -1 : onnx_producer(im, im->g->node[ga]->input[0]);
        if (!ok || eq < 0 || strcmp(onnx_op_of(im->g->node[eq]), "Equal") || ga < 0 || sh < 0 ||
            strcmp(onnx_op_of(im->g->node[sh]), "Shape") ||
            !onnx_tensor_is(im->g->node[sh]->input[0], avg))
            continue;
        set[i] = set[eq] = set[ga] = set[sh] = 1;
        return n;
    }
    return NULL;
}

/* Reshape(t) to the tensor x's own shape (N, C, H, W) */
static int back_to_x(importer *im, const Onnx__NodeProto *r) {
    int64_t v[IMAX];
    int n = r && r->n_input == 2 ? onnx_eval_ints(im, r->input[1], v, 0) : -1;
    return n == 4 && (v[0] == BATCH || (im->batch > 0 && v[0] == im->batch)) &&
           v[1] == im->shape.c && v[2] == im->shape.h && v[3] == im->shape.w;
}

/* Mul(alpha) -> Add(k) -> Pow(beta) -> Div(x, .) after t; the Div, or NULL */
static const Onnx__NodeProto *lrn_tail(importer *im, const char *t, uint8_t *set, double c[3]) {
    static const char *const ops[4] = {"Mul", "Add", "Pow", "Div"};
    const Onnx__NodeProto *n = NULL;
    for (int i = 0; i < 4; i++) {
        if (!(n = next_op(im, t, ops[i], set)) || n->n_input != 2) return NULL;
        if (i == 3)
            return onnx_tensor_is(n->input[0], im->cur) && onnx_tensor_is(n->input[1], t) ? n
                                                                                          : NULL;
        const char *other = onnx_tensor_is(n->input[0], t) ? n->input[1] : n->input[0];
        if (i == 2 && !onnx_tensor_is(n->input[0], t)) return NULL; /* Pow(t, beta) */
        if (isnan(c[i] = onnx_scalar(im, other))) return NULL;
        t = n->output[0];
    }
    return NULL;
}

/* Nothing outside the pattern reads what its nodes write (but the Div's output). */
static int lrn_closed(const importer *im, const uint8_t *set, int div) {
    for (size_t j = 0; j < im->g->n_node; j++) {
        const Onnx__NodeProto *r = im->g->node[j];
        for (size_t k = 0; !set[j] && (int)j != div && k < r->n_input; k++) {
            int p = onnx_producer(im, r->input[k]);
            if (p >= 0 && set[p] && p != div) return 0;
        }
    }
    for (size_t i = 0; i < im->g->n_output; i++) {
        int p = onnx_producer(im, im->g->output[i]->name);
        if (p >= 0 && set[p] && p != div) return 0;
    }
    return 1;
}

/* The data path from Mul(x, x) to the AveragePool; its output tensor, or NULL. *size: the
 * window, from the AveragePool, checked against the padding. */
static const char *lrn_head(importer *im, int square, uint8_t *set, int *size) {
    const Onnx__NodeProto *u = next_op(im, im->g->node[square]->output[0], "Unsqueeze", set);
    int64_t axes[IMAX], shape[IMAX], before, after;
    const Onnx__AttributeProto *ax = u ? onnx_attr(u, "axes") : NULL;
    int na = !u                ? -1
             : ax              ? (ax->n_ints == 1 ? (axes[0] = ax->ints[0], 1) : -1)
             : u->n_input == 2 ? onnx_eval_ints(im, u->input[1], axes, 0)
                               : -1;
    const Onnx__NodeProto *r =
        na == 1 && axes[0] == 1 ? next_op(im, u->output[0], "Reshape", set) : NULL;
    int ns = r && r->n_input == 2 ? onnx_eval_ints(im, r->input[1], shape, 0) : -1;
    if (ns != 5 || shape[1] != 1 || shape[2] != im->shape.c || shape[3] != im->shape.h ||
        (shape[4] != -1 && shape[4] != im->shape.w))
        return NULL;
    const char *t = lrn_pads(im, r->output[0], set, &before, &after);
    const Onnx__NodeProto *a = t ? next_op(im, t, "AveragePool", set) : NULL;
    const Onnx__AttributeProto *k = a ? onnx_attr(a, "kernel_shape") : NULL;
    int64_t st[IMAX], pd[IMAX];
    if (!k || k->n_ints != 3 || k->ints[1] != 1 || k->ints[2] != 1 || k->ints[0] < 1 ||
        k->ints[0] > 1023 || onnx_attr_i(a, "ceil_mode", 0) ||
        !onnx_attr_is(a, "auto_pad", "NOTSET"))
        return NULL;
    const Onnx__AttributeProto *sa = onnx_attr(a, "strides"), *pa = onnx_attr(a, "pads");
    for (size_t i = 0; sa && i < sa->n_ints && i < IMAX; i++) st[i] = sa->ints[i];
    for (size_t i = 0; pa && i < pa->n_ints && i < IMAX; i++) pd[i] = pa->ints[i];
    for (size_t i = 0; sa && i < sa->n_ints; i++)
        if (i >= IMAX || st[i] != 1) return NULL;
    for (size_t i = 0; pa && i < pa->n_ints; i++)
        if (i >= IMAX || pd[i] != 0) return NULL;
    *size = (int)k->ints[0];
    return before == *size / 2 && after == (*size - 1) / 2 ? a->output[0] : NULL;
}

zf_status onnx_torch_lrn(importer *im, int square) {
    const Onnx__NodeProto *sq = im->g->node[square];
    uint8_t *set = calloc(im->g->n_node, 1);
    if (!set) return zf_fail(im->err, ZF_ERR_NOMEM, "out of memory");
    set[square] = 1;
    int size = 0;
    double c[3] = {NAN, NAN, NAN};
    const char *avg = lrn_head(im, square, set, &size);
    const Onnx__NodeProto *cond = avg ? lrn_if(im, avg, set) : NULL;
    const Onnx__NodeProto *back = cond ? next_op(im, cond->output[0], "Reshape", set) : NULL;
    const Onnx__NodeProto *div =
        back && back_to_x(im, back) ? lrn_tail(im, back->output[0], set, c) : NULL;
    int di = -1;
    for (size_t i = 0; div && i < im->g->n_node; i++)
        if (im->g->node[i] == div) di = (int)i;
    int ok = div && lrn_closed(im, set, di);
    for (size_t i = 0; ok && i < im->g->n_node; i++) im->visited[i] |= set[i];
    free(set);
    if (!ok)
        return onnx_refuse(im, sq,
                           "x*x that is not PyTorch's LRN pattern (Div(x, Pow(Add(Mul("
                           "AveragePool(Pad(x*x)), alpha), k), beta)), centred): not read");
    zf_status st = onnx_lrn_layer(im, sq, size, c[0], c[2], c[1], 0);
    if (!st) onnx_advance(im, div);
    return st;
}
