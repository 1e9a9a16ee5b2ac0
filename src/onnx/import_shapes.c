/* The integer tensors a graph computes, evaluated while importing: shapes (constants, or
 * Shape/Gather/Concat/Unsqueeze of the chain's tensor) and the Pad amounts of PyTorch's LRN. */
#include "import.h"

/* An integer constant (a shape, axes, indices): up to IMAX values; -1 when it is not one. */
static int tensor_ints(const Onnx__TensorProto *t, int64_t *out) {
    int64_t c = t ? onnx_tensor_count(t) : -1;
    if (c < 0 || c > IMAX || !t->has_data_type) return -1;
    int wide = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    if (!wide && t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT32) return -1;
    size_t size = wide ? 8 : 4;
    if (t->has_raw_data) {
        if (t->raw_data.len != (size_t)c * size) return -1;
        for (int64_t i = 0; i < c; i++) {
            int64_t v64 = 0;
            int32_t v32 = 0;
            memcpy(wide ? (void *)&v64 : (void *)&v32, t->raw_data.data + i * (int64_t)size, size);
            out[i] = wide ? v64 : v32;
        }
        return (int)c;
    }
    if ((wide ? t->n_int64_data : t->n_int32_data) != (size_t)c) return -1;
    for (int64_t i = 0; i < c; i++) out[i] = wide ? t->int64_data[i] : t->int32_data[i];
    return (int)c;
}

int onnx_eval_ints(importer *im, const char *name, int64_t *out, int depth) {
    if (++im->evals > 10000) return -1;
    int c = tensor_ints(onnx_constant(im, name), out);
    int p = c >= 0 || depth > 16 ? -1 : onnx_producer(im, name);
    if (c >= 0 || p < 0) return c;
    const Onnx__NodeProto *n = im->g->node[p];
    const char *op = onnx_op_of(n);
    int64_t a[IMAX], b[IMAX];
    if (!strcmp(op, "Shape") && n->n_input == 1 && onnx_tensor_is(n->input[0], im->cur)) {
        int64_t dims[4] = {BATCH, im->shape.c, im->shape.h, im->shape.w};
        if (im->rank == 2) dims[1] = (int64_t)im->shape.c * im->shape.h * im->shape.w;
        int64_t start = onnx_attr_i(n, "start", 0), end = onnx_attr_i(n, "end", im->rank);
        start = start < 0 ? start + im->rank : start, end = end < 0 ? end + im->rank : end;
        for (c = 0; start >= 0 && start + c < end && start + c < im->rank; c++)
            out[c] = dims[start + c];
    } else if (!strcmp(op, "Gather") && n->n_input == 2 && !onnx_attr_i(n, "axis", 0)) {
        int na = onnx_eval_ints(im, n->input[0], a, depth + 1);
        int nb = onnx_eval_ints(im, n->input[1], b, depth + 1);
        for (c = 0; na > 0 && c < nb; c++) {
            int64_t i = b[c] < 0 ? b[c] + na : b[c];
            if (i < 0 || i >= na) return -1;
            out[c] = a[i];
        }
        c = na > 0 && nb >= 0 ? c : -1;
    } else if (!strcmp(op, "Concat") && !onnx_attr_i(n, "axis", 0)) {
        c = 0;
        for (size_t i = 0; i < n->n_input && c >= 0; i++) {
            int k = onnx_eval_ints(im, n->input[i], a, depth + 1);
            if (k < 0 || c + k > IMAX) return -1;
            memcpy(out + c, a, (size_t)k * sizeof *a), c += k;
        }
    } else if ((!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze") || !strcmp(op, "Cast") ||
                !strcmp(op, "Identity")) &&
               n->n_input >= 1) {
        c = onnx_eval_ints(im, n->input[0], out, depth + 1);
    } else
        return -1;
    if (c >= 0) im->visited[p] = 1;
    return c;
}

int onnx_eval_mat(importer *im, const char *name, imat *m, uint8_t *set, int depth) {
    int n = tensor_ints(onnx_constant(im, name), m->v), p = n < 0 ? onnx_producer(im, name) : -1;
    if (n >= 0 || p < 0 || depth > 16 || ++im->evals > 10000) {
        m->rows = n, m->cols = 1;
        return n;
    }
    const Onnx__NodeProto *nd = im->g->node[p];
    const char *op = onnx_op_of(nd);
    imat a = {0}, b = {0};
    int k = nd->n_input ? onnx_eval_mat(im, nd->input[0], &a, set, depth + 1) : -1;
    if (k < 0) return -1;
    set[p] = 1, *m = a;
    if (!strcmp(op, "Cast") || (!strcmp(op, "Reshape") && nd->n_input == 2 &&
                                onnx_eval_mat(im, nd->input[1], &b, set, depth + 1) >= 1)) {
        if (!strcmp(op, "Reshape")) /* [-1, 2] or [-1] */
            m->cols = b.rows == 2 && b.v[1] > 0 && k % b.v[1] == 0 ? (int)b.v[1] : 1,
            m->rows = k / m->cols;
        return k;
    }
    if (!strcmp(op, "ConstantOfShape") && k == 1 && a.v[0] >= 0 && a.v[0] <= IMAX) {
        const Onnx__AttributeProto *v = onnx_attr(nd, "value");
        int64_t z[IMAX];
        if (v && v->t && (tensor_ints(v->t, z) != 1 || z[0])) return -1;
        memset(m->v, 0, sizeof m->v), m->rows = (int)a.v[0], m->cols = 1;
        return m->rows;
    }
    if (!strcmp(op, "Concat") && !onnx_attr_i(nd, "axis", 0) && a.cols == 1) {
        for (size_t i = 1; i < nd->n_input; i++) {
            int kb = onnx_eval_mat(im, nd->input[i], &b, set, depth + 1);
            if (kb < 0 || b.cols != 1 || m->rows + kb > IMAX) return -1;
            memcpy(m->v + m->rows, b.v, (size_t)kb * sizeof *b.v), m->rows += kb;
        }
        return m->rows;
    }
    if (!strcmp(op, "Transpose") && a.cols > 1) {
        for (int r = 0; r < a.rows; r++)
            for (int c = 0; c < a.cols; c++) m->v[c * a.rows + r] = a.v[r * a.cols + c];
        m->rows = a.cols, m->cols = a.rows;
        return k;
    }
    if (!strcmp(op, "Slice") && nd->n_input == 5) { /* all rows reversed: starts -1, steps -1 */
        int64_t st[IMAX], en[IMAX], ax[IMAX], sp[IMAX];
        if (onnx_eval_ints(im, nd->input[1], st, 0) != 1 ||
            onnx_eval_ints(im, nd->input[2], en, 0) != 1 ||
            onnx_eval_ints(im, nd->input[3], ax, 0) != 1 ||
            onnx_eval_ints(im, nd->input[4], sp, 0) != 1 || st[0] != -1 || en[0] > -a.rows - 1 ||
            ax[0] != 0 || sp[0] != -1)
            return -1;
        for (int r = 0; r < a.rows; r++)
            memcpy(m->v + r * a.cols, a.v + (a.rows - 1 - r) * a.cols, (size_t)a.cols * 8);
        return k;
    }
    return -1;
}
