/* Node classes that Python's cyclic garbage collector does not track.
 *
 * A class written in Python always takes part in the cyclic collector: every
 * instance is tracked, so building a graph of N nodes triggers about N / 700
 * young collections and, once enough nodes survive them, full collections that
 * walk every object of the process. A graph node only ever points to nodes made
 * before it, so its references cannot form a cycle and the collector has
 * nothing to find there.
 *
 * `make_type(name, slots, base)` builds a class whose instances hold exactly the
 * named attributes (like `__slots__`), after those of its base class if that was
 * made here too, and no collector header. Its methods are
 * set on it from Python. Freeing a node frees the nodes that only it kept
 * alive with a loop instead of recursion, so a chain of 10^7 nodes is freed
 * without exhausting the C stack. `blank_maker(cls)` gives a function that
 * makes an instance with every attribute None, in about a third of the time of
 * `object.__new__(cls)` followed by the stores of None.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

static void node_dealloc(PyObject *self);

/* The attributes of a node of a class made here: they follow the object header. */
static PyObject **
fields_of(PyObject *obj, Py_ssize_t *count)
{
    PyTypeObject *tp = Py_TYPE(obj);
    /* a Python subclass may add its own attributes past ours: count ours only (those
       of a made base class included: every class made here holds only objects) */
    while (tp->tp_dealloc != node_dealloc) {
        tp = tp->tp_base;
    }
    *count = (tp->tp_basicsize - (Py_ssize_t)sizeof(PyObject)) / (Py_ssize_t)sizeof(PyObject *);
    return (PyObject **)((char *)obj + sizeof(PyObject));
}

static void
node_dealloc(PyObject *self)
{
    PyObject *local[64];
    PyObject **stack = local;
    Py_ssize_t depth = 0, room = 64;
    PyObject *obj = self;

    for (;;) {
        PyTypeObject *tp = Py_TYPE(obj);
        /* __del__ (set in the class or later; a subclass's dealloc has run it already) */
        if (tp->tp_dealloc == node_dealloc && tp->tp_finalize != NULL &&
            PyObject_CallFinalizerFromDealloc(obj) < 0) {
            goto next; /* resurrected: it lives on, whole */
        }
        Py_ssize_t count;
        PyObject **fields = fields_of(obj, &count);
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *v = fields[i];
            if (v == NULL) {
                continue;
            }
            fields[i] = NULL;
            /* A node of one of these classes that this field alone keeps alive is
               freed by this loop, not by a nested call. */
            if (Py_REFCNT(v) == 1 && Py_TYPE(v)->tp_dealloc == node_dealloc) {
                if (depth == room) {
                    Py_ssize_t bigger = room * 2;
                    PyObject **grown = PyMem_Malloc((size_t)bigger * sizeof(PyObject *));
                    if (grown == NULL) {
                        Py_DECREF(v); /* out of memory: free it the recursive way */
                        continue;
                    }
                    memcpy(grown, stack, (size_t)depth * sizeof(PyObject *));
                    if (stack != local) {
                        PyMem_Free(stack);
                    }
                    stack = grown;
                    room = bigger;
                }
                Py_SET_REFCNT(v, 0);
                stack[depth++] = v;
            }
            else {
                Py_DECREF(v);
            }
        }
        tp->tp_free(obj);
        Py_DECREF(tp); /* an instance of a heap type holds a reference to it */
    next:
        if (depth == 0) {
            break;
        }
        obj = stack[--depth];
    }
    if (stack != local) {
        PyMem_Free(stack);
    }
}

/* Instances of a class made here are never tracked, but those of a Python subclass
   are: the collector reaches our attributes of theirs through these, as for a slotted
   Python class, and the class through them (a subclass leaves that to its base). */
static int
node_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_ssize_t count;
    PyObject **fields = fields_of(self, &count);
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_VISIT(fields[i]);
    }
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int
node_clear(PyObject *self)
{
    Py_ssize_t count;
    PyObject **fields = fields_of(self, &count);
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_CLEAR(fields[i]);
    }
    return 0;
}

static char *
copy_text(PyObject *text)
{
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    if (utf8 == NULL) {
        return NULL;
    }
    char *out = PyMem_Malloc((size_t)size + 1);
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(out, utf8, (size_t)size + 1);
    return out;
}

static void
free_members(PyMemberDef *members, Py_ssize_t n)
{
    if (members != NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            PyMem_Free((char *)members[i].name);
        }
    }
    PyMem_Free(members);
}

PyDoc_STRVAR(make_type_doc,
"make_type(name, slots, base=None) -> type\n\n"
"A class named `name` (module.Class) whose instances hold the attributes\n"
"`slots` (a tuple of str) and are not tracked by the cyclic garbage collector.\n"
"`base`, a class made here, gives it a base class and that class's attributes first.");

static PyObject *
make_type(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *name, *slots, *base = Py_None;
    if (!PyArg_ParseTuple(args, "UO!|O:make_type", &name, &PyTuple_Type, &slots, &base)) {
        return NULL;
    }
    /* the attributes follow the header, then those of each class down from the base */
    Py_ssize_t start = (Py_ssize_t)sizeof(PyObject);
    if (base != Py_None) {
        if (!PyType_Check(base) || ((PyTypeObject *)base)->tp_dealloc != node_dealloc) {
            PyErr_SetString(PyExc_TypeError, "make_type: base must be a class made by make_type");
            return NULL;
        }
        start = ((PyTypeObject *)base)->tp_basicsize;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(slots);
    if (n < 1 || n > 64) {
        PyErr_SetString(PyExc_ValueError, "make_type needs 1 to 64 slot names");
        return NULL;
    }
    /* The class keeps pointing at these names: they live as long as the process,
       as the classes made here do (one per engine class, made at import). */
    PyMemberDef *members = PyMem_Calloc((size_t)n + 1, sizeof(PyMemberDef));
    char *type_name = copy_text(name);
    if (members == NULL || type_name == NULL) {
        PyMem_Free(members);
        PyMem_Free(type_name);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory(); /* a name not UTF-8: its error */
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *slot = PyTuple_GET_ITEM(slots, i);
        char *slot_name = NULL;
        if (!PyUnicode_Check(slot)) {
            PyErr_SetString(PyExc_TypeError, "make_type: slot names must be str");
        }
        else {
            slot_name = copy_text(slot);
        }
        if (slot_name == NULL) {
            free_members(members, i);
            PyMem_Free(type_name);
            return NULL;
        }
        members[i].name = slot_name;
        members[i].type = T_OBJECT_EX; /* unset: AttributeError, as with __slots__ */
        members[i].offset = start + i * (Py_ssize_t)sizeof(PyObject *);
        members[i].flags = 0;
        members[i].doc = NULL;
    }
    PyType_Slot type_slots[] = {
        {Py_tp_dealloc, (void *)node_dealloc},
        {Py_tp_traverse, (void *)node_traverse},
        {Py_tp_clear, (void *)node_clear},
        {Py_tp_members, members},
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = type_name,
        .basicsize = (int)(start + n * (Py_ssize_t)sizeof(PyObject *)),
        .itemsize = 0,
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
        .slots = type_slots,
    };
    PyObject *made;
    if (base == Py_None) {
        made = PyType_FromSpec(&spec);
    }
    else {
        PyObject *bases = PyTuple_Pack(1, base);
        made = bases == NULL ? NULL : PyType_FromSpecWithBases(&spec, bases);
        Py_XDECREF(bases);
    }
    if (made == NULL) {
        free_members(members, n);
        PyMem_Free(type_name);
        return NULL;
    }
    {
        /* messages name the class as they name a Python class: "Value", not
           "module.Value" (the type owns the buffer this points into) */
        PyTypeObject *tp = (PyTypeObject *)made;
        const char *dot = strrchr(tp->tp_name, '.');
        if (dot != NULL) {
            tp->tp_name = dot + 1;
        }
    }
    return made;
}

static PyObject *
make_blank(PyObject *cls, PyObject *Py_UNUSED(unused))
{
    PyTypeObject *tp = (PyTypeObject *)cls;
    PyObject *obj = tp->tp_alloc(tp, 0); /* zeroed; holds a reference to its class */
    if (obj == NULL) {
        return NULL;
    }
    Py_ssize_t count;
    PyObject **fields = fields_of(obj, &count);
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_INCREF(Py_None);
        fields[i] = Py_None;
    }
    return obj;
}

static PyMethodDef blank_def = {
    "blank", make_blank, METH_NOARGS, "A new instance with every attribute None.",
};

PyDoc_STRVAR(blank_maker_doc,
"blank_maker(cls) -> function\n\n"
"A function of no arguments that returns a new instance of `cls` (a class made by\n"
"make_type) with every attribute None.");

static PyObject *
blank_maker(PyObject *Py_UNUSED(module), PyObject *cls)
{
    if (!PyType_Check(cls) || ((PyTypeObject *)cls)->tp_dealloc != node_dealloc) {
        PyErr_SetString(PyExc_TypeError, "blank_maker needs a class made by make_type");
        return NULL;
    }
    return PyCFunction_New(&blank_def, cls);
}

static PyMethodDef methods[] = {
    {"make_type", make_type, METH_VARARGS, make_type_doc},
    {"blank_maker", blank_maker, METH_O, blank_maker_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tinygrad_bp.engine._untracked",
    .m_doc = "Node classes that the cyclic garbage collector does not track.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__untracked(void)
{
    PyObject *module = PyModule_Create(&module_def);
    /* the interface untracked.py expects: raised with every change to it (make_type's
       base argument is 2), so that a stale build is left unused rather than misused */
    if (module != NULL && PyModule_AddIntConstant(module, "API", 2) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
