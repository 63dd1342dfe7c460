/* Elementwise loops over float64 arrays that numpy runs as several passes (and
   calls), each one pass here: the sigmoid of a few numbers, the gradient through a
   sigmoid or a tanh, and SGD's update (see ops.py, which states the math, and
   nn/optim.py; each is used only where it gives numpy's numbers). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* each product and difference rounded on its own, as numpy rounds it: no fused
   multiply-add (GCC contracts a * b + c by default where the target has one) */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* A C-contiguous float64 buffer of `obj` (writable if asked), or 0 with no error set
   when `obj` is not one (the caller then computes another way); -1 on an error. */
static int
float64_buffer(PyObject *obj, Py_buffer *view, int writable)
{
    if (!PyObject_CheckBuffer(obj)) {
        return 0;
    }
    /* any layout is given (numpy refuses a contiguous request with a ValueError); the
       layout is checked here. An array numpy cannot export (a datetime dtype: a
       ValueError) is left to numpy too. */
    if (PyObject_GetBuffer(obj, view, PyBUF_STRIDES | PyBUF_FORMAT) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError) &&
            !PyErr_ExceptionMatches(PyExc_BufferError) &&
            !PyErr_ExceptionMatches(PyExc_TypeError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    if (view->itemsize != (Py_ssize_t)sizeof(double) || view->format == NULL ||
        strcmp(view->format, "d") != 0 || !PyBuffer_IsContiguous(view, 'C') ||
        (writable && view->readonly)) {
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

/* Whether two buffers have one shape (not only one size: numpy broadcasts or refuses
   arrays of other shapes, it never pairs their entries in memory order). */
static int
same_shape(const Py_buffer *a, const Py_buffer *b)
{
    if (a->ndim != b->ndim) {
        return 0;
    }
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] != b->shape[i]) {
            return 0;
        }
    }
    return a->len == b->len;
}

/* The buffers of `count` float64 arrays of one shape, the one at `writable` writable:
   1, or 0 (none held, no error) when they are not such arrays, or -1 on an error. */
static int
same_buffers(PyObject *const *args, int count, int writable, Py_buffer *views)
{
    for (int i = 0; i < count; i++) {
        int got = float64_buffer(args[i], &views[i], i == writable);
        if (got <= 0 || (i && !same_shape(&views[i], &views[0]))) {
            for (int j = 0; j < i + (got > 0); j++) {
                PyBuffer_Release(&views[j]);
            }
            return got < 0 ? -1 : 0;
        }
    }
    return 1;
}

static void
release(Py_buffer *views, int count)
{
    for (int i = 0; i < count; i++) {
        PyBuffer_Release(&views[i]);
    }
}

/* sigmoid_into(x, out): out = 1 / (1 + e^-x) entry by entry, as numpy's four passes
   compute it; if e^-x overflows for an entry (x below about -709), every entry is
   computed as z = e^-|x|, then 1 / (1 + z) for x >= 0 and z / (1 + z) below, as the
   stable passes do. Returns out, or None (nothing written) when x and out are not
   C-contiguous float64 arrays of one shape (out writable). */
static PyObject *
sigmoid_into(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "sigmoid_into(x, out) takes two arrays");
        return NULL;
    }
    Py_buffer views[2];
    int got = same_buffers(args, 2, 1, views);
    if (got <= 0) {
        return got < 0 ? NULL : Py_NewRef(Py_None);
    }
    const double *x = views[0].buf;
    double *out = views[1].buf;
    Py_ssize_t n = views[0].len / (Py_ssize_t)sizeof(double);
    int overflow = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        double xi = x[i], e = exp(-xi);
        overflow |= isinf(e) && isfinite(xi);
        out[i] = 1.0 / (1.0 + e);
    }
    if (overflow) {
        for (Py_ssize_t i = 0; i < n; i++) {
            double xi = x[i], z = exp(-fabs(xi));
            out[i] = (xi >= 0.0 ? 1.0 : z) / (1.0 + z);
        }
    }
    release(views, 2);
    return Py_NewRef(args[1]);
}

/* G f'(x) through an activation whose derivative is read from its output y, in one
   pass: `name`(g, y, out) -> out, or None (nothing written) for other arrays. */
#define CHAIN(name, expression)                                                          \
    static PyObject *name(PyObject *Py_UNUSED(module), PyObject *const *args,            \
                          Py_ssize_t nargs)                                              \
    {                                                                                    \
        if (nargs != 3) {                                                                \
            PyErr_SetString(PyExc_TypeError, #name "(g, y, out) takes three arrays");    \
            return NULL;                                                                 \
        }                                                                                \
        Py_buffer views[3];                                                              \
        int got = same_buffers(args, 3, 2, views);                                       \
        if (got <= 0) {                                                                  \
            return got < 0 ? NULL : Py_NewRef(Py_None);                                  \
        }                                                                                \
        const double *g = views[0].buf, *y = views[1].buf;                               \
        double *out = views[2].buf;                                                      \
        Py_ssize_t n = views[0].len / (Py_ssize_t)sizeof(double);                        \
        for (Py_ssize_t i = 0; i < n; i++) {                                             \
            double yi = y[i];                                                            \
            out[i] = g[i] * (expression);                                                \
        }                                                                                \
        release(views, 3);                                                               \
        return Py_NewRef(args[2]);                                                       \
    }

CHAIN(sigmoid_chain, yi * (1.0 - yi)) /* sigmoid'(x) = y (1 - y) */
CHAIN(tanh_chain, 1.0 - yi * yi)      /* tanh'(x) = 1 - y^2 */

/* sgd_step(data, grad, lr): data -= lr grad entry by entry, in place (lr grad rounded,
   then the difference, as numpy's two passes round them). True, or None (nothing
   written) when lr is not a float, data and grad are not float64 arrays of one shape
   (data writable), or they overlap without being one array. */
static PyObject *
sgd_step(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "sgd_step(data, grad, lr) takes three arguments");
        return NULL;
    }
    if (!PyFloat_Check(args[2])) { /* numpy multiplies by any other kind of number */
        Py_RETURN_NONE;
    }
    double lr = PyFloat_AS_DOUBLE(args[2]);
    Py_buffer views[2];
    int got = same_buffers(args, 2, 0, views);
    if (got <= 0) {
        return got < 0 ? NULL : Py_NewRef(Py_None);
    }
    double *data = views[0].buf;
    const double *grad = views[1].buf;
    Py_ssize_t n = views[0].len / (Py_ssize_t)sizeof(double);
    uintptr_t d0 = (uintptr_t)data, g0 = (uintptr_t)grad, len = (uintptr_t)views[0].len;
    int done = d0 + len <= g0 || g0 + len <= d0 || d0 == g0; /* apart, or one array */
    if (done) {
        for (Py_ssize_t i = 0; i < n; i++) {
            data[i] -= lr * grad[i];
        }
    }
    release(views, 2);
    return Py_NewRef(done ? Py_True : Py_None);
}

static PyMethodDef methods[] = {
    {"sgd_step", (PyCFunction)(void (*)(void))sgd_step, METH_FASTCALL,
     "sgd_step(data, grad, lr) -> True or None: data -= lr grad for float64 arrays"},
    {"sigmoid_chain", (PyCFunction)(void (*)(void))sigmoid_chain, METH_FASTCALL,
     "sigmoid_chain(g, y, out) -> out or None: out = g (y (1 - y)) for float64 arrays"},
    {"tanh_chain", (PyCFunction)(void (*)(void))tanh_chain, METH_FASTCALL,
     "tanh_chain(g, y, out) -> out or None: out = g (1 - y y) for float64 arrays"},
    {"sigmoid_into", (PyCFunction)(void (*)(void))sigmoid_into, METH_FASTCALL,
     "sigmoid_into(x, out) -> out or None: out = 1 / (1 + e^-x) for float64 arrays"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tinygrad_bp.engine._kernels",
    .m_doc = "One-pass elementwise loops for small float64 arrays.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    PyObject *module = PyModule_Create(&module_def);
    /* the interface ops.py expects, raised with every change to it (2: the chains,
       3: sgd_step, 4: arrays of one size but other shapes left to numpy) */
    if (module != NULL && PyModule_AddIntConstant(module, "API", 4) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
