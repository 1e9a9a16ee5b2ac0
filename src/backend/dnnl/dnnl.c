/* The `dnnl` backend: oneDNN (Debian libdnnl-dev 2.6) primitives end to end, the CPU default.
 * Activations with 16 or more channels and a spatial extent stay in oneDNN's blocked nChw16c
 * layout from layer to layer (what its AVX-512 kernels run at full speed on); others are plain
 * NCHW. Conversions happen only at the edges (to_nchw / from_nchw). Primitives are created once
 * per descriptor (layer and batch size) and reused; weights are reordered from PyTorch's layout
 * into the primitive's preferred one at each call, since training changes them every step.
 *
 * The same code is the `dnnl_bf16` backend (ZF_PRECISION_BF16): there activations with a spatial
 * extent are held in bfloat16 (half the memory and traffic), convolutions multiply in bfloat16
 * and sum in float32, weights are rounded to bfloat16 by the reorder into the primitive's layout
 * and weight gradients come back in float32. Spatially 1x1 activations (fully connected
 * outputs, the scores the loss reads) stay float32. */
#include "../../internal.h"
#include "../ref/ref.h"
#include "bf16.h"

#include <oneapi/dnnl/dnnl.h>
#include <string.h>

#define DN(call)                                                                                   \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success) dnnl_die(#call, s_, __LINE__);                                     \
    } while (0)

static _Noreturn void dnnl_die(const char *what, dnnl_status_t s, int line) {
    fprintf(stderr, "zfnet: internal error: oneDNN call failed (status %d) at dnnl.c:%d: %s\n",
            (int)s, line, what);
    abort();
}

typedef struct dctx {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    int bf16; /* the dnnl_bf16 backend's context */
} dctx;

static void *ctx_create(void) {
    dctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (dnnl_engine_create(&c->eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&c->stream, c->eng, dnnl_stream_default_flags) != dnnl_success) {
        if (c->eng) dnnl_engine_destroy(c->eng);
        free(c);
        return NULL;
    }
    return c;
}

static void *ctx_create_bf16(void) {
    dctx *c = ctx_create();
    if (c) c->bf16 = 1;
    return c;
}

static void ctx_free(void *p) {
    dctx *c = p;
    dnnl_stream_destroy(c->stream);
    dnnl_engine_destroy(c->eng);
    free(c);
}

/* ---- layouts ---------------------------------------------------------------------------- */

static int blocked(int c, int h, int w) {
    return c >= 16 && (size_t)h * w > 1;
}

static int cpad(int c) {
    return (c + 15) / 16 * 16;
}

static size_t act_elems(int n, int c, int h, int w) {
    return (size_t)n * (blocked(c, h, w) ? cpad(c) : c) * h * w;
}

static size_t act_bytes(int n, int c, int h, int w) {
    return sizeof(float) * act_elems(n, c, h, w);
}

/* whether the bf16 backend holds an activation of this extent in bfloat16 */
static int half(int h, int w) {
    return (size_t)h * w > 1;
}

static size_t act_bytes_bf16(int n, int c, int h, int w) {
    return act_elems(n, c, h, w) * (half(h, w) ? sizeof(uint16_t) : sizeof(float));
}

/* nChw16c -> nchw */
static void to_nchw(float *dst, const float *src, int n, int c, int h, int w) {
    if (!blocked(c, h, w)) {
        memcpy(dst, src, act_bytes(n, c, h, w));
        return;
    }
    size_t hw = (size_t)h * w;
    int cb = cpad(c) / 16;
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int b = 0; b < cb; b++) {
            const float *s = src + ((size_t)i * cb + b) * hw * 16;
            for (int l = 0; l < 16 && b * 16 + l < c; l++) {
                float *d = dst + ((size_t)i * c + b * 16 + l) * hw;
                for (size_t j = 0; j < hw; j++) d[j] = s[j * 16 + l];
            }
        }
}

/* nchw -> nChw16c, padding channels zero */
static void from_nchw(float *dst, const float *src, int n, int c, int h, int w) {
    if (!blocked(c, h, w)) {
        memcpy(dst, src, act_bytes(n, c, h, w));
        return;
    }
    size_t hw = (size_t)h * w;
    int cb = cpad(c) / 16;
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int b = 0; b < cb; b++) {
            float *d = dst + ((size_t)i * cb + b) * hw * 16;
            for (int l = 0; l < 16; l++) {
                int ch = b * 16 + l;
                if (ch >= c) {
                    for (size_t j = 0; j < hw; j++) d[j * 16 + l] = 0;
                    continue;
                }
                const float *s = src + ((size_t)i * c + ch) * hw;
                for (size_t j = 0; j < hw; j++) d[j * 16 + l] = s[j];
            }
        }
}

static void to_nchw_bf16(float *dst, const float *src, int n, int c, int h, int w) {
    if (!half(h, w))
        to_nchw(dst, src, n, c, h, w);
    else
        zf_bf16_to_nchw(dst, (const uint16_t *)src, n, c, h, w, blocked(c, h, w));
}

static void from_nchw_bf16(float *dst, const float *src, int n, int c, int h, int w) {
    if (!half(h, w))
        from_nchw(dst, src, n, c, h, w);
    else
        zf_bf16_from_nchw((uint16_t *)dst, src, n, c, h, w, blocked(c, h, w));
}

/* ours <-> float NCHW, in this context's element types */
static void ours_to_nchw(const dctx *x, float *dst, const float *src, int n, int c, int h, int w) {
    (x->bf16 ? to_nchw_bf16 : to_nchw)(dst, src, n, c, h, w);
}

static void ours_from_nchw(const dctx *x, float *dst, const float *src, int n, int c, int h,
                           int w) {
    (x->bf16 ? from_nchw_bf16 : from_nchw)(dst, src, n, c, h, w);
}

/* the element type of an activation in this context's layout */
static dnnl_data_type_t act_type(const dctx *x, int h, int w) {
    return x->bf16 && half(h, w) ? dnnl_bf16 : dnnl_f32;
}

/* an activation in our layout with element type dt, as a oneDNN memory descriptor (4-D
 * always: convolution and pooling to a 1x1 extent want it so) */
static dnnl_memory_desc_t act_md_as(int n, int c, int h, int w, dnnl_data_type_t dt) {
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {n, c, h, w};
    DN(dnnl_memory_desc_init_by_tag(&md, 4, d, dt, blocked(c, h, w) ? dnnl_nChw16c : dnnl_nchw));
    return md;
}

/* our layout of an activation */
static dnnl_memory_desc_t act_md(const dctx *x, int n, int c, int h, int w) {
    return act_md_as(n, c, h, w, act_type(x, h, w));
}

static dnnl_memory_desc_t md_tag_as(int ndims, const dnnl_dim_t *dims, dnnl_data_type_t dt,
                                    dnnl_format_tag_t tag) {
    dnnl_memory_desc_t md;
    dnnl_dims_t d;
    memcpy(d, dims, sizeof(dnnl_dim_t) * (size_t)ndims);
    DN(dnnl_memory_desc_init_by_tag(&md, ndims, d, dt, tag));
    return md;
}

static dnnl_memory_desc_t md_tag(int ndims, const dnnl_dim_t *dims, dnnl_format_tag_t tag) {
    return md_tag_as(ndims, dims, dnnl_f32, tag);
}

/* ---- primitive helpers ---------------------------------------------------------------- */

static dnnl_primitive_attr_t user_scratchpad_attr(void) {
    dnnl_primitive_attr_t a;
    DN(dnnl_primitive_attr_create(&a));
    DN(dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user));
    return a;
}

/* the post-op dst += result */
static void add_sum(dnnl_primitive_attr_t a) {
    dnnl_post_ops_t po;
    DN(dnnl_post_ops_create(&po));
    DN(dnnl_post_ops_append_sum(po, 1.0f));
    DN(dnnl_primitive_attr_set_post_ops(a, po));
    dnnl_post_ops_destroy(po);
}

typedef struct prim {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    size_t scratch;
} prim;

/* a primitive for op_desc; with `sum` its output is added to what dst holds */
static prim make_prim_sum(dctx *c, const void *op_desc, const_dnnl_primitive_desc_t hint, int sum) {
    prim r = {0};
    dnnl_primitive_attr_t a = user_scratchpad_attr();
    if (sum) add_sum(a);
    DN(dnnl_primitive_desc_create(&r.pd, op_desc, a, c->eng, hint));
    dnnl_primitive_attr_destroy(a);
    DN(dnnl_primitive_create(&r.p, r.pd));
    r.scratch =
        dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(r.pd, dnnl_query_scratchpad_md, 0));
    return r;
}

static prim make_prim(dctx *c, const void *op_desc, const_dnnl_primitive_desc_t hint) {
    return make_prim_sum(c, op_desc, hint, 0);
}

static void prim_free(prim *r) {
    if (r->p) dnnl_primitive_destroy(r->p);
    if (r->pd) dnnl_primitive_desc_destroy(r->pd);
}

static dnnl_memory_desc_t query(const prim *r, dnnl_query_t what) {
    return *dnnl_primitive_desc_query_md(r->pd, what, 0);
}

/* A reorder between two layouts of the same tensor; with `sum`, dst += reorder(src). */
typedef struct reorder {
    dnnl_primitive_t p;
    dnnl_memory_t src, dst;
} reorder;

static reorder make_reorder(dctx *c, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst,
                            int sum) {
    reorder r;
    dnnl_primitive_attr_t a;
    DN(dnnl_primitive_attr_create(&a));
    if (sum) add_sum(a);
    dnnl_primitive_desc_t pd;
    DN(dnnl_reorder_primitive_desc_create(&pd, src, c->eng, dst, c->eng, a));
    dnnl_primitive_attr_destroy(a);
    DN(dnnl_primitive_create(&r.p, pd));
    dnnl_primitive_desc_destroy(pd);
    DN(dnnl_memory_create(&r.src, src, c->eng, DNNL_MEMORY_NONE));
    DN(dnnl_memory_create(&r.dst, dst, c->eng, DNNL_MEMORY_NONE));
    return r;
}

static void run_reorder(dctx *c, reorder *r, const void *src, void *dst) {
    DN(dnnl_memory_set_data_handle(r->src, (void *)src));
    DN(dnnl_memory_set_data_handle(r->dst, dst));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, r->src}, {DNNL_ARG_TO, r->dst}};
    DN(dnnl_primitive_execute(r->p, c->stream, 2, args));
    DN(dnnl_stream_wait(c->stream));
}

static void reorder_free(reorder *r) {
    if (!r->p) return;
    dnnl_primitive_destroy(r->p);
    dnnl_memory_destroy(r->src);
    dnnl_memory_destroy(r->dst);
}

/* A tensor kept in our layout (`user`: PyTorch's for weights, ours for activations) but
 * wanted in another (`prim`) by a primitive: a reorder and a buffer in the primitive's layout,
 * used only when the two differ (gradients always: they are summed into ours). */
enum relayout_dir { TO_PRIM, TO_USER, TO_USER_SUM };

typedef struct weights {
    int differ;
    reorder r;
    float *buf;
} weights;

static weights make_relayout(dctx *c, const dnnl_memory_desc_t *user,
                             const dnnl_memory_desc_t *theirs, enum relayout_dir dir) {
    weights w = {0};
    w.differ = dir == TO_USER_SUM || !dnnl_memory_desc_equal(user, theirs);
    if (!w.differ) return w;
    w.r = dir == TO_PRIM ? make_reorder(c, user, theirs, 0)
                         : make_reorder(c, theirs, user, dir == TO_USER_SUM);
    w.buf = aligned_alloc(64, (dnnl_memory_desc_get_size(theirs) + 63) / 64 * 64);
    ZF_ASSERT(w.buf);
    return w;
}

static void weights_free(weights *w) {
    reorder_free(&w->r);
    free(w->buf);
}

/* weights for a primitive: reordered into the buffer, or the user's own pointer */
static const float *weights_in(dctx *c, weights *w, const float *user) {
    if (!w->differ) return user;
    run_reorder(c, &w->r, user, w->buf);
    return w->buf;
}

/* A memory object per primitive argument; handles are set at each call. */
typedef struct margs {
    int n;
    dnnl_exec_arg_t a[8];
} margs;

static void marg(dctx *c, margs *m, int arg, const dnnl_memory_desc_t *md) {
    ZF_ASSERT(m->n < 8);
    m->a[m->n].arg = arg;
    DN(dnnl_memory_create(&m->a[m->n].memory, md, c->eng, DNNL_MEMORY_NONE));
    m->n++;
}

/* the primitive's scratchpad, bound to the net's workspace at each call */
static void marg_scratchpad(dctx *c, margs *m, const prim *p) {
    marg(c, m, DNNL_ARG_SCRATCHPAD,
         dnnl_primitive_desc_query_md(p->pd, dnnl_query_scratchpad_md, 0));
}

/* A primitive's arguments in order (an entry whose descriptor is NULL, such as an absent
 * bias, is left out), then its scratchpad: margs_of(c, m, p, ARGS(...), MDS(...)). */
#define ARGS(...) (int[]){__VA_ARGS__}, (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int))
#define MDS(...)                                                                                   \
    (const dnnl_memory_desc_t *[]) {                                                               \
        __VA_ARGS__                                                                                \
    }

static void margs_of(dctx *c, margs *m, const prim *p, const int *arg, int n,
                     const dnnl_memory_desc_t *const *md) {
    for (int i = 0; i < n; i++)
        if (md[i]) marg(c, m, arg[i], md[i]);
    marg_scratchpad(c, m, p);
}

static void margs_free(margs *m) {
    for (int i = 0; i < m->n; i++) dnnl_memory_destroy(m->a[i].memory);
}

/* Execute p with the handles given in argument order (as added with marg). */
static void run(dctx *c, const prim *p, margs *m, void *ws, ...) {
    va_list ap;
    va_start(ap, ws);
    for (int i = 0; i < m->n; i++) {
        if (m->a[i].arg == DNNL_ARG_SCRATCHPAD)
            DN(dnnl_memory_set_data_handle(m->a[i].memory, ws));
        else
            DN(dnnl_memory_set_data_handle(m->a[i].memory, va_arg(ap, void *)));
    }
    va_end(ap);
    DN(dnnl_primitive_execute(p->p, c->stream, m->n, m->a));
    DN(dnnl_stream_wait(c->stream));
}

/* ---- state of one op: every primitive it needs, made once ------------------------------- */

enum op_kind { OP_CONV, OP_POOL, OP_LRN, OP_LRN_REF, OP_FC };

typedef struct op_state {
    enum op_kind kind;
    prim fwd, bwd_data, bwd_w;
    margs m_fwd, m_bwd_data, m_bwd_w;
    weights w_fwd, w_bwd_data, w_grad; /* w_grad: diff weights -> user layout, summed */
    weights dx_out;                    /* conv diff_src, when its layout is not ours */
    weights x_in, dy_in, y_out;        /* src, diff_dst and dst, when the primitive computes
                                        * in another element type than ours holds them in */
    weights dyt_in;                    /* fc (bf16): diff_dst transposed, in bfloat16 */
    const float *wb_of;                /* fc (bf16): the float weights w_fwd.buf was made from */
    float *db;                         /* diff bias before it is added to the gradient */
    float *scratch_nchw[3];            /* NCHW copies: LRN with even sizes, fc inputs */
    size_t aux;                        /* pooling/LRN workspace bytes */
} op_state;

static void state_free(void *p) {
    op_state *s = p;
    prim_free(&s->fwd), prim_free(&s->bwd_data), prim_free(&s->bwd_w);
    margs_free(&s->m_fwd), margs_free(&s->m_bwd_data), margs_free(&s->m_bwd_w);
    weights_free(&s->w_fwd), weights_free(&s->w_bwd_data), weights_free(&s->w_grad);
    weights_free(&s->dx_out), weights_free(&s->x_in), weights_free(&s->dy_in);
    weights_free(&s->y_out), weights_free(&s->dyt_in);
    free(s->db);
    for (int i = 0; i < 3; i++) free(s->scratch_nchw[i]);
    free(s);
}

static op_state *new_state(enum op_kind kind) {
    op_state *s = calloc(1, sizeof *s);
    ZF_ASSERT(s);
    s->kind = kind;
    return s;
}

/* the scratch an op needs: the largest of its primitives' scratchpads */
static size_t state_scratch(const op_state *s) {
    size_t a = s->fwd.scratch, b = s->bwd_data.scratch, c = s->bwd_w.scratch;
    return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

/* oneDNN picks the algorithm: Winograd for ZFNet's 3x3 stride-1 layers (conv3-5), measured
 * here 1.7-2x faster than direct convolution at batch 32 on 2 threads; direct otherwise. */
static dnnl_alg_kind_t conv_alg(void) {
    return dnnl_convolution_auto;
}

/* ---- convolution ------------------------------------------------------------------------ */

static void conv_geometry(const conv_desc *d, dnnl_dims_t strides, dnnl_dims_t pl, dnnl_dims_t pr) {
    strides[0] = strides[1] = d->stride;
    pl[0] = pl[1] = d->pad;
    int rh = (d->h_out - 1) * d->stride + d->k - d->h - d->pad;
    int rw = (d->w_out - 1) * d->stride + d->k - d->w - d->pad;
    pr[0] = rh > 0 ? rh : 0, pr[1] = rw > 0 ? rw : 0;
}

static dnnl_memory_desc_t conv_user_weights(const conv_desc *d) {
    if (d->groups == 1) {
        dnnl_dim_t dims[4] = {d->c_out, d->c_in, d->k, d->k};
        return md_tag(4, dims, dnnl_oihw);
    }
    dnnl_dim_t dims[5] = {d->groups, d->c_out / d->groups, d->c_in / d->groups, d->k, d->k};
    return md_tag(5, dims, dnnl_goihw);
}

/* A tensor of ours for a primitive: as it is, or through a relayout into the primitive's. */
static const void *tensor_in(dctx *c, weights *w, const void *ours) {
    return weights_in(c, w, ours);
}

/* Where a primitive writes a tensor of ours: in place, or into the relayout's buffer. */
static void *tensor_out(weights *w, void *ours) {
    return w->differ ? (void *)w->buf : ours;
}

/* After the primitive: the relayout's buffer into ours (if it was used). */
static void tensor_done(dctx *c, weights *w, void *ours) {
    if (w->differ) run_reorder(c, &w->r, w->buf, ours);
}

static op_state *conv_state(conv_desc *d) {
    if (d->op.state) return d->op.state;
    dctx *c = d->op.ctx;
    op_state *s = new_state(OP_CONV);
    /* ours, and what the primitives compute in: bfloat16 where we hold both sides in it,
     * float32 otherwise (a conv to or from a 1x1 extent in the bf16 backend) */
    dnnl_memory_desc_t usrc = act_md(c, d->n, d->c_in, d->h, d->w);
    dnnl_memory_desc_t udst = act_md(c, d->n, d->c_out, d->h_out, d->w_out);
    dnnl_data_type_t dt =
        usrc.data_type == dnnl_bf16 && udst.data_type == dnnl_bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t src = act_md_as(d->n, d->c_in, d->h, d->w, dt);
    dnnl_memory_desc_t dst = act_md_as(d->n, d->c_out, d->h_out, d->w_out, dt);
    dnnl_memory_desc_t uw = conv_user_weights(d), anyw, anyg, bias;
    DN(dnnl_memory_desc_init_by_tag(&anyw, uw.ndims, uw.dims, dt, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&anyg, uw.ndims, uw.dims, dnnl_f32, dnnl_format_tag_any));
    dnnl_dim_t bd[1] = {d->c_out};
    bias = md_tag(1, bd, dnnl_x);
    dnnl_dims_t st, pl, pr;
    conv_geometry(d, st, pl, pr);
    dnnl_convolution_desc_t cd;
    DN(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, conv_alg(), &src, &anyw,
                                          d->bias ? &bias : NULL, &dst, st, pl, pr));
    s->fwd = make_prim(c, &cd, NULL);
    /* backward data picks its own diff_src layout: with few input channels (conv1) a plain
     * NCHW diff_src has only oneDNN's reference kernel, ~50x slower than the blocked one */
    dnnl_memory_desc_t anysrc;
    DN(dnnl_memory_desc_init_by_tag(&anysrc, src.ndims, src.dims, dt, dnnl_format_tag_any));
    DN(dnnl_convolution_backward_data_desc_init(&cd, conv_alg(), &anysrc, &anyw, &dst, st, pl, pr));
    s->bwd_data = make_prim(c, &cd, s->fwd.pd);
    DN(dnnl_convolution_backward_weights_desc_init(&cd, conv_alg(), &src, &anyg,
                                                   d->bias ? &bias : NULL, &dst, st, pl, pr));
    s->bwd_w = make_prim(c, &cd, s->fwd.pd);

    dnnl_memory_desc_t wf = query(&s->fwd, dnnl_query_weights_md);
    dnnl_memory_desc_t wd = query(&s->bwd_data, dnnl_query_weights_md);
    dnnl_memory_desc_t wg = query(&s->bwd_w, dnnl_query_diff_weights_md);
    dnnl_memory_desc_t dxmd = query(&s->bwd_data, dnnl_query_diff_src_md);
    s->w_fwd = make_relayout(c, &uw, &wf, TO_PRIM);
    s->w_bwd_data = make_relayout(c, &uw, &wd, TO_PRIM);
    s->w_grad = make_relayout(c, &uw, &wg, TO_USER_SUM);
    s->dx_out = make_relayout(c, &usrc, &dxmd, TO_USER);
    s->x_in = make_relayout(c, &usrc, &src, TO_PRIM);
    s->dy_in = make_relayout(c, &udst, &dst, TO_PRIM);
    s->y_out = make_relayout(c, &udst, &dst, TO_USER);
    if (d->bias) {
        s->db = malloc(sizeof(float) * (size_t)d->c_out);
        ZF_ASSERT(s->db);
    }
    const dnnl_memory_desc_t *b = d->bias ? &bias : NULL;
    margs_of(c, &s->m_fwd, &s->fwd,
             ARGS(DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST),
             MDS(&src, &wf, b, &dst));
    margs_of(c, &s->m_bwd_data, &s->bwd_data,
             ARGS(DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC), MDS(&dst, &wd, &dxmd));
    margs_of(c, &s->m_bwd_w, &s->bwd_w,
             ARGS(DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS),
             MDS(&src, &dst, &wg, b));
    d->op.state = s;
    return s;
}

static size_t conv_workspace(conv_desc *d) {
    return state_scratch(conv_state(d));
}

static void conv_forward(conv_desc *d, float *y, const float *x, const float *w, const float *b,
                         void *ws) {
    op_state *s = conv_state(d);
    dctx *c = d->op.ctx;
    const float *wp = weights_in(c, &s->w_fwd, w);
    const void *xp = tensor_in(c, &s->x_in, x);
    void *yp = tensor_out(&s->y_out, y);
    if (d->bias)
        run(c, &s->fwd, &s->m_fwd, ws, xp, wp, b, yp);
    else
        run(c, &s->fwd, &s->m_fwd, ws, xp, wp, yp);
    tensor_done(c, &s->y_out, y);
}

static void conv_backward_data(conv_desc *d, float *dx, const float *dy, const float *w, void *ws) {
    op_state *s = conv_state(d);
    dctx *c = d->op.ctx;
    const float *wp = weights_in(c, &s->w_bwd_data, w);
    const void *dyp = tensor_in(c, &s->dy_in, dy);
    run(c, &s->bwd_data, &s->m_bwd_data, ws, dyp, wp, tensor_out(&s->dx_out, dx));
    tensor_done(c, &s->dx_out, dx);
}

static void conv_backward_weights(conv_desc *d, float *dw, float *db, const float *dy,
                                  const float *x, void *ws) {
    op_state *s = conv_state(d);
    dctx *c = d->op.ctx;
    const void *xp = tensor_in(c, &s->x_in, x), *dyp = tensor_in(c, &s->dy_in, dy);
    if (d->bias)
        run(c, &s->bwd_w, &s->m_bwd_w, ws, xp, dyp, s->w_grad.buf, s->db);
    else
        run(c, &s->bwd_w, &s->m_bwd_w, ws, xp, dyp, s->w_grad.buf);
    run_reorder(c, &s->w_grad.r, s->w_grad.buf, dw); /* dw += */
    if (d->bias && db)
        for (int o = 0; o < d->c_out; o++) db[o] += s->db[o];
}

/* ---- max pooling: oneDNN's workspace is the switches ---------------------------------- */

/* A forward-training primitive with a workspace (pooling switches, LRN scales) and its backward
 * over the same shapes: their arguments, in the order `run` passes buffers (forward: src, dst,
 * workspace; backward: [src,] diff_dst, workspace, diff_src); the workspace's size is the op's
 * per-batch state (aux). */
static void workspace_args(dctx *c, op_state *s, const dnnl_memory_desc_t *src,
                           const dnnl_memory_desc_t *dst, int bwd_src) {
    dnnl_memory_desc_t wsmd = query(&s->fwd, dnnl_query_workspace_md);
    s->aux = dnnl_memory_desc_get_size(&wsmd);
    marg(c, &s->m_fwd, DNNL_ARG_SRC, src);
    marg(c, &s->m_fwd, DNNL_ARG_DST, dst);
    marg(c, &s->m_fwd, DNNL_ARG_WORKSPACE, &wsmd);
    marg_scratchpad(c, &s->m_fwd, &s->fwd);
    if (bwd_src) marg(c, &s->m_bwd_data, DNNL_ARG_SRC, src);
    marg(c, &s->m_bwd_data, DNNL_ARG_DIFF_DST, dst);
    marg(c, &s->m_bwd_data, DNNL_ARG_WORKSPACE, &wsmd);
    marg(c, &s->m_bwd_data, DNNL_ARG_DIFF_SRC, src);
    marg_scratchpad(c, &s->m_bwd_data, &s->bwd_data);
}

static op_state *pool_state(pool_desc *d) {
    if (d->op.state) return d->op.state;
    dctx *c = d->op.ctx;
    op_state *s = new_state(OP_POOL);
    /* the output in the input's element type (pooling to 1x1 in the bf16 backend relays it) */
    dnnl_memory_desc_t src = act_md(c, d->n, d->c, d->h, d->w);
    dnnl_memory_desc_t udst = act_md(c, d->n, d->c, d->h_out, d->w_out);
    dnnl_memory_desc_t dst = act_md_as(d->n, d->c, d->h_out, d->w_out, src.data_type);
    s->y_out = make_relayout(c, &udst, &dst, TO_USER);
    s->dy_in = make_relayout(c, &udst, &dst, TO_PRIM);
    dnnl_dims_t st = {d->stride, d->stride}, k = {d->k, d->k}, dil = {0, 0}, pl = {d->pad, d->pad};
    int rh = (d->h_out - 1) * d->stride + d->k - d->h - d->pad;
    int rw = (d->w_out - 1) * d->stride + d->k - d->w - d->pad;
    dnnl_dims_t pr = {rh > 0 ? rh : 0, rw > 0 ? rw : 0};
    dnnl_pooling_v2_desc_t pdsc;
    DN(dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_training, dnnl_pooling_max, &src, &dst,
                                         st, k, dil, pl, pr));
    s->fwd = make_prim(c, &pdsc, NULL);
    DN(dnnl_pooling_v2_backward_desc_init(&pdsc, dnnl_pooling_max, &src, &dst, st, k, dil, pl, pr));
    s->bwd_data = make_prim(c, &pdsc, s->fwd.pd);
    workspace_args(c, s, &src, &dst, 0);
    d->op.state = s;
    return s;
}

static size_t pool_aux_bytes(pool_desc *d) {
    return pool_state(d)->aux;
}

static size_t pool_workspace(pool_desc *d) {
    return state_scratch(pool_state(d));
}

static void pool_forward(pool_desc *d, float *y, void *sw, const float *x, void *ws) {
    op_state *s = pool_state(d);
    run(d->op.ctx, &s->fwd, &s->m_fwd, ws, x, tensor_out(&s->y_out, y), sw);
    tensor_done(d->op.ctx, &s->y_out, y);
}

/* unpooling through the switches; where windows overlap, contributions add up */
static void pool_backward(pool_desc *d, float *dx, const float *dy, const void *sw, void *ws) {
    op_state *s = pool_state(d);
    const void *dyp = tensor_in(d->op.ctx, &s->dy_in, dy);
    run(d->op.ctx, &s->bwd_data, &s->m_bwd_data, ws, dyp, sw, dx);
}

/* ---- LRN ---------------------------------------------------------------------------------
 * oneDNN's window for channel c is [c - (n-1)/2, c + n/2]; PyTorch's (ours) is
 * [c - n/2, c + (n-1)/2]. They agree for odd n; even n runs the reference kernels on NCHW
 * copies. oneDNN divides alpha by n itself, so it gets ours times n. */

static op_state *lrn_state(lrn_desc *d) {
    if (d->op.state) return d->op.state;
    dctx *c = d->op.ctx;
    if (d->size % 2 == 0) {
        op_state *s = new_state(OP_LRN_REF);
        size_t bytes = sizeof(float) * (size_t)d->n * d->c * d->h * d->w;
        for (int i = 0; i < 3; i++) ZF_ASSERT(s->scratch_nchw[i] = malloc(bytes));
        s->aux = bytes; /* the reference kernels' scale, NCHW */
        d->op.state = s;
        return s;
    }
    op_state *s = new_state(OP_LRN);
    dnnl_memory_desc_t md = act_md(c, d->n, d->c, d->h, d->w);
    dnnl_lrn_desc_t ld;
    float alpha = (float)(d->alpha * d->size);
    DN(dnnl_lrn_forward_desc_init(&ld, dnnl_forward_training, dnnl_lrn_across_channels, &md,
                                  d->size, alpha, (float)d->beta, (float)d->k));
    s->fwd = make_prim(c, &ld, NULL);
    DN(dnnl_lrn_backward_desc_init(&ld, dnnl_lrn_across_channels, &md, &md, d->size, alpha,
                                   (float)d->beta, (float)d->k));
    s->bwd_data = make_prim(c, &ld, s->fwd.pd);
    workspace_args(c, s, &md, &md, 1);
    d->op.state = s;
    return s;
}

static size_t lrn_aux_bytes(lrn_desc *d) {
    return lrn_state(d)->aux;
}

static size_t lrn_workspace(lrn_desc *d) {
    return state_scratch(lrn_state(d));
}

static void lrn_forward(lrn_desc *d, float *y, void *scale, const float *x, void *ws) {
    op_state *s = lrn_state(d);
    if (s->kind == OP_LRN_REF) {
        ours_to_nchw(d->op.ctx, s->scratch_nchw[0], x, d->n, d->c, d->h, d->w);
        zf_ref_lrn_forward_f32(d, s->scratch_nchw[1], scale, s->scratch_nchw[0]);
        ours_from_nchw(d->op.ctx, y, s->scratch_nchw[1], d->n, d->c, d->h, d->w);
        return;
    }
    run(d->op.ctx, &s->fwd, &s->m_fwd, ws, x, y, scale);
}

static void lrn_backward(lrn_desc *d, float *dx, const float *dy, const float *x, const void *scale,
                         void *ws) {
    op_state *s = lrn_state(d);
    if (s->kind == OP_LRN_REF) {
        ours_to_nchw(d->op.ctx, s->scratch_nchw[0], x, d->n, d->c, d->h, d->w);
        ours_to_nchw(d->op.ctx, s->scratch_nchw[2], dy, d->n, d->c, d->h, d->w);
        zf_ref_lrn_backward_f32(d, s->scratch_nchw[1], s->scratch_nchw[2], s->scratch_nchw[0],
                                scale);
        ours_from_nchw(d->op.ctx, dx, s->scratch_nchw[1], d->n, d->c, d->h, d->w);
        return;
    }
    run(d->op.ctx, &s->bwd_data, &s->m_bwd_data, ws, x, dy, scale, dx);
}

/* ---- fully connected: dnnl_sgemm on PyTorch's (out, in) weights, in place ----------------
 * Measured here (zfnet, batch 32, 2 threads): oneDNN's inner product needs the 151 MB fc6
 * weights reordered into its blocked layout at every call, which alone took ~200 ms of a
 * 1.2 s training step; sgemm reads them as they are, accumulates dW with beta = 1, and only
 * the (small) input is converted to NCHW. */

/* ---- fully connected in bfloat16: the bf16 backend at batches of FC_BF16_MIN_N or more -----
 * oneDNN matmuls of bfloat16 operands summing in float32. The forward rounds the float
 * weights to a bfloat16 copy (one reorder), which the backward of the same batch reuses;
 * inputs and output gradients are rounded by reorders; y, dx and dw come back float, dw summed
 * into the gradient by the matmul itself. Smaller batches read the float weights directly
 * (sgemm below): there the layer is bound by reading its weights, and a bfloat16 copy made at
 * every call costs more than it saves (measured, see docs/precision.md). */
#define FC_BF16_MIN_N 8

static int fc_bf16(const fc_desc *d) {
    const dctx *c = d->op.ctx;
    return c->bf16 && d->n >= FC_BF16_MIN_N;
}

/* a 2-D (rows, cols) matrix of type dt, row-major (ab) or column-major (ba) */
static dnnl_memory_desc_t mat_md(dnnl_dim_t rows, dnnl_dim_t cols, dnnl_data_type_t dt,
                                 dnnl_format_tag_t tag) {
    dnnl_dim_t dims[2] = {rows, cols};
    return md_tag_as(2, dims, dt, tag);
}

static prim matmul(dctx *c, const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b,
                   const dnnl_memory_desc_t *bias, const dnnl_memory_desc_t *dst, int sum) {
    dnnl_matmul_desc_t md;
    DN(dnnl_matmul_desc_init(&md, a, b, bias, dst));
    return make_prim_sum(c, &md, NULL, sum);
}

static void fc_state_bf16(fc_desc *d, op_state *s) {
    dctx *c = d->op.ctx;
    dnnl_dim_t n = d->n, in = d->in, out = d->out;
    dnnl_dim_t x4[4] = {d->n, d->c, d->h, d->w};
    dnnl_memory_desc_t ux = act_md(c, d->n, d->c, d->h, d->w);
    dnnl_memory_desc_t xb = md_tag_as(4, x4, dnnl_bf16, dnnl_nchw);
    dnnl_memory_desc_t xf = md_tag_as(4, x4, dnnl_f32, dnnl_nchw);
    dnnl_memory_desc_t uw = mat_md(out, in, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_t wb = mat_md(out, in, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_t udy = mat_md(n, out, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_t dyb = mat_md(n, out, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_t dytb = mat_md(n, out, dnnl_bf16, dnnl_ba);
    s->x_in = make_relayout(c, &ux, &xb, TO_PRIM);
    s->dx_out = make_relayout(c, &ux, &xf, TO_USER);
    s->w_fwd = make_relayout(c, &uw, &wb, TO_PRIM);
    s->dy_in = make_relayout(c, &udy, &dyb, TO_PRIM);
    s->dyt_in = make_relayout(c, &udy, &dytb, TO_PRIM);
    /* y (n, out) = x (n, in) w^T + b, w^T being the (out, in) copy read column-major */
    dnnl_memory_desc_t a = mat_md(n, in, dnnl_bf16, dnnl_ab),
                       wt = mat_md(in, out, dnnl_bf16, dnnl_ba);
    dnnl_memory_desc_t bias = mat_md(1, out, dnnl_f32, dnnl_ab);
    s->fwd = matmul(c, &a, &wt, d->bias ? &bias : NULL, &udy, 0);
    /* dx (n, in) = dy (n, out) w (out, in) */
    dnnl_memory_desc_t dx = mat_md(n, in, dnnl_f32, dnnl_ab);
    s->bwd_data = matmul(c, &dyb, &wb, NULL, &dx, 0);
    /* dw (out, in) += dy^T (out, n) x (n, in) */
    dnnl_memory_desc_t dyt = mat_md(out, n, dnnl_bf16, dnnl_ab);
    s->bwd_w = matmul(c, &dyt, &a, NULL, &uw, 1);
    margs_of(c, &s->m_fwd, &s->fwd,
             ARGS(DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST),
             MDS(&a, &wt, d->bias ? &bias : NULL, &udy));
    margs_of(c, &s->m_bwd_data, &s->bwd_data, ARGS(DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST),
             MDS(&dyb, &wb, &dx));
    margs_of(c, &s->m_bwd_w, &s->bwd_w, ARGS(DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST),
             MDS(&dyt, &a, &uw));
}

static void fc_forward_bf16(fc_desc *d, op_state *s, float *y, const float *x, const float *w,
                            const float *b, void *ws) {
    dctx *c = d->op.ctx;
    const void *wp = weights_in(c, &s->w_fwd, w);
    s->wb_of = w;
    const void *xp = tensor_in(c, &s->x_in, x);
    if (d->bias)
        run(c, &s->fwd, &s->m_fwd, ws, xp, wp, b, y);
    else
        run(c, &s->fwd, &s->m_fwd, ws, xp, wp, y);
}

/* the bfloat16 weights of the batch's forward (made again if the forward used others, or if
 * this batch's backward already ran) */
static void fc_backward_data_bf16(fc_desc *d, op_state *s, float *dx, const float *dy,
                                  const float *w, void *ws) {
    dctx *c = d->op.ctx;
    if (s->wb_of != w) weights_in(c, &s->w_fwd, w), s->wb_of = w;
    const void *dyp = tensor_in(c, &s->dy_in, dy);
    run(c, &s->bwd_data, &s->m_bwd_data, ws, dyp, s->w_fwd.buf, tensor_out(&s->dx_out, dx));
    tensor_done(c, &s->dx_out, dx);
    s->wb_of = NULL; /* a later backward (the weights updated in between) makes it afresh */
}

static void fc_backward_weights_bf16(fc_desc *d, op_state *s, float *dw, const float *dy,
                                     const float *x, void *ws) {
    dctx *c = d->op.ctx;
    const void *xp = tensor_in(c, &s->x_in, x), *dyt = tensor_in(c, &s->dyt_in, dy);
    run(c, &s->bwd_w, &s->m_bwd_w, ws, dyt, xp, dw);
}

/* ---- fully connected in float: sgemm ------------------------------------------------------ */

/* whether the input is held as a plain float (n, in) matrix */
static int fc_plain(const fc_desc *d) {
    return !blocked(d->c, d->h, d->w) && act_type(d->op.ctx, d->h, d->w) == dnnl_f32;
}

static op_state *fc_state(fc_desc *d) {
    if (d->op.state) return d->op.state;
    op_state *s = new_state(OP_FC);
    if (fc_bf16(d)) {
        fc_state_bf16(d, s);
    } else if (!fc_plain(d)) {
        size_t bytes = sizeof(float) * (size_t)d->n * d->in;
        ZF_ASSERT(s->scratch_nchw[0] = malloc(bytes));
        ZF_ASSERT(s->scratch_nchw[1] = malloc(bytes));
    }
    d->op.state = s;
    return s;
}

static size_t fc_workspace(fc_desc *d) {
    return state_scratch(fc_state(d));
}

/* the input as a plain (n, in) matrix */
static const float *fc_plain_input(fc_desc *d, op_state *s, const float *x) {
    if (fc_plain(d)) return x;
    ours_to_nchw(d->op.ctx, s->scratch_nchw[0], x, d->n, d->c, d->h, d->w);
    return s->scratch_nchw[0];
}

/* y: (n, out) = x (n, in) w^T + b */
static void fc_forward(fc_desc *d, float *y, const float *x, const float *w, const float *b,
                       void *ws) {
    op_state *s = fc_state(d);
    if (fc_bf16(d)) {
        fc_forward_bf16(d, s, y, x, w, b, ws);
        return;
    }
    const float *xp = fc_plain_input(d, s, x);
    for (int i = 0; i < d->n; i++)
        for (int o = 0; o < d->out; o++) y[(size_t)i * d->out + o] = b ? b[o] : 0;
    DN(dnnl_sgemm('N', 'T', d->n, d->out, d->in, 1.0f, xp, d->in, w, d->in, 1.0f, y, d->out));
}

/* dx: (n, in) = dy (n, out) w (out, in) */
static void fc_backward_data(fc_desc *d, float *dx, const float *dy, const float *w, void *ws) {
    op_state *s = fc_state(d);
    if (fc_bf16(d)) {
        fc_backward_data_bf16(d, s, dx, dy, w, ws);
        return;
    }
    float *out = fc_plain(d) ? dx : s->scratch_nchw[1];
    DN(dnnl_sgemm('N', 'N', d->n, d->in, d->out, 1.0f, dy, d->out, w, d->in, 0.0f, out, d->in));
    if (!fc_plain(d)) ours_from_nchw(d->op.ctx, dx, out, d->n, d->c, d->h, d->w);
}

/* dw (out, in) += dy^T x;  db += column sums of dy */
static void fc_backward_weights(fc_desc *d, float *dw, float *db, const float *dy, const float *x,
                                void *ws) {
    op_state *s = fc_state(d);
    if (fc_bf16(d)) {
        fc_backward_weights_bf16(d, s, dw, dy, x, ws);
    } else {
        const float *xp = fc_plain_input(d, s, x);
        DN(dnnl_sgemm('T', 'N', d->out, d->in, d->n, 1.0f, dy, d->out, xp, d->in, 1.0f, dw, d->in));
    }
    if (db)
        for (int i = 0; i < d->n; i++)
            for (int o = 0; o < d->out; o++) db[o] += dy[(size_t)i * d->out + o];
}

/* ---- elementwise: memory-bound loops, any layout (padding stays zero) -------------------- */

static size_t count_of(act_shape s) {
    return act_elems(s.n, s.c, s.h, s.w);
}

static void relu_forward(act_shape s, float *y, const float *x) {
    size_t count = count_of(s);
#pragma omp parallel for schedule(static) if (count > 65536)
    for (size_t i = 0; i < count; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

/* branch-free so it vectorises (a branchy loop was 10x slower on random signs) */
static void relu_mask(act_shape s, float *dx, const float *dy, const float *y) {
    size_t count = count_of(s);
#pragma omp parallel for schedule(static) if (count > 65536)
    for (size_t i = 0; i < count; i++) {
        float g = dy[i]; /* unconditional loads: the select vectorises */
        dx[i] = y[i] > 0 ? g : 0.0f;
    }
}

static void mul(act_shape s, float *y, const float *x, const float *mask) {
    size_t count = count_of(s);
#pragma omp parallel for schedule(static) if (count > 65536)
    for (size_t i = 0; i < count; i++) y[i] = x[i] * mask[i];
}

/* the bf16 backend's: bfloat16 loops where it holds the activation so */
static void relu_forward_bf16(act_shape s, float *y, const float *x) {
    if (half(s.h, s.w))
        zf_bf16_relu(count_of(s), (uint16_t *)y, (const uint16_t *)x);
    else
        relu_forward(s, y, x);
}

static void relu_mask_bf16(act_shape s, float *dx, const float *dy, const float *y) {
    if (half(s.h, s.w))
        zf_bf16_relu_mask(count_of(s), (uint16_t *)dx, (const uint16_t *)dy, (const uint16_t *)y);
    else
        relu_mask(s, dx, dy, y);
}

static void mul_bf16(act_shape s, float *y, const float *x, const float *mask) {
    if (half(s.h, s.w))
        zf_bf16_mul(count_of(s), (uint16_t *)y, (const uint16_t *)x, mask);
    else
        mul(s, y, x, mask);
}

/* the ops both backends share */
#define DNNL_OPS                                                                                   \
    .ctx_free = ctx_free, .state_free = state_free, .act_elems = act_elems,                        \
    .conv_workspace = conv_workspace, .conv_forward = conv_forward,                                \
    .conv_backward_data = conv_backward_data, .conv_backward_weights = conv_backward_weights,      \
    .pool_aux_bytes = pool_aux_bytes, .pool_workspace = pool_workspace,                            \
    .pool_forward = pool_forward, .pool_backward = pool_backward, .lrn_aux_bytes = lrn_aux_bytes,  \
    .lrn_workspace = lrn_workspace, .lrn_forward = lrn_forward, .lrn_backward = lrn_backward,      \
    .fc_workspace = fc_workspace, .fc_forward = fc_forward, .fc_backward_data = fc_backward_data,  \
    .fc_backward_weights = fc_backward_weights, .softmax_forward = zf_ref_softmax_forward_f32,     \
    .softmax_backward = zf_ref_softmax_backward_f32

static const zf_backend dnnl_backend = {
    .name = "dnnl",
    .ctx_create = ctx_create,
    .act_bytes = act_bytes,
    .to_nchw = to_nchw,
    .from_nchw = from_nchw,
    .relu_forward = relu_forward,
    .relu_mask = relu_mask,
    .mul = mul,
    DNNL_OPS,
};

static const zf_backend dnnl_bf16_backend = {
    .name = "dnnl",
    .ctx_create = ctx_create_bf16,
    .act_bytes = act_bytes_bf16,
    .to_nchw = to_nchw_bf16,
    .from_nchw = from_nchw_bf16,
    .relu_forward = relu_forward_bf16,
    .relu_mask = relu_mask_bf16,
    .mul = mul_bf16,
    DNNL_OPS,
};

const zf_backend *zf_backend_dnnl(void) {
    return &dnnl_backend;
}

const zf_backend *zf_backend_dnnl_bf16(void) {
    return &dnnl_bf16_backend;
}
