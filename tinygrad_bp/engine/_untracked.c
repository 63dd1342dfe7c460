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
 * `object.__new__(cls)` followed by the stores of None. `recorder(...)` gives a
 * function that makes an operation's recorded node (its attributes set from its
 * arguments) in one call, and calls its Python fallback in every other case.
 * `structure_reader(...)` gives a function that reads the key of a graph's
 * structure (tensor_compile's `_structure`) in one pass; where the graph is not
 * what it can read safely (a node of another class, a list of nodes or a mark
 * changed by Python code that the read runs) it gives None: the graph is walked.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

static void node_dealloc(PyObject *self);

/* the object field of `obj` at byte `offset` (see field_offset) */
#define FIELD(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

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

/* The place of the attribute `name` of `cls`, a class made by make_type: one of the
   object fields that make_type laid out after the header (its member descriptor's). */
static Py_ssize_t
field_offset(PyObject *cls, PyObject *name)
{
    PyObject *descr = PyObject_GetAttr(cls, name);
    Py_ssize_t offset = -1;
    if (descr != NULL && Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == T_OBJECT_EX) {
            offset = member->offset;
        }
    }
    Py_XDECREF(descr);
    PyErr_Clear();
    if (offset < (Py_ssize_t)sizeof(PyObject) || offset >= ((PyTypeObject *)cls)->tp_basicsize ||
        (offset - (Py_ssize_t)sizeof(PyObject)) % (Py_ssize_t)sizeof(PyObject *)) {
        PyErr_SetString(PyExc_ValueError, "a name is not an attribute of the class");
        return -1;
    }
    return offset;
}

/* The node of an operation that records the graph, made in one call: the common case
   of `Tensor._result` (see `recorder` in untracked.py), which it calls for every other. */

#define RECORDED 8 /* data, _op, _seq, requires_grad, _parents, _vjp, _redo, _args */
#define RECORDER_NAME "tinygrad_bp.engine._untracked.recorder"

typedef struct {
    PyTypeObject *cls;
    PyTypeObject *array_type;
    PyObject *mode;     /* a ContextVar holding an int of mode bits */
    PyObject *next_seq; /* called for each node's creation number */
    PyObject *fallback; /* called with the same arguments in every other case */
    long record, slow;  /* record: the bit that must be set; slow: bits that must not */
    Py_ssize_t offsets[RECORDED];
} Recorder;

/* `def` as a function whose self is a capsule of `state`, named `name`: `release` frees
   the state when the function is freed (through `destructor`, which calls it), or at
   once if the function cannot be made. */
static PyObject *
bound_function(PyMethodDef *def, void *state, const char *name,
               PyCapsule_Destructor destructor, void (*release)(void *))
{
    PyObject *capsule = PyCapsule_New(state, name, destructor);
    if (capsule == NULL) {
        release(state);
        return NULL;
    }
    PyObject *fn = PyCFunction_New(def, capsule);
    Py_DECREF(capsule);
    return fn;
}

static void
recorder_release(void *state)
{
    Recorder *r = state;
    Py_XDECREF(r->cls);
    Py_XDECREF(r->array_type);
    Py_XDECREF(r->mode);
    Py_XDECREF(r->next_seq);
    Py_XDECREF(r->fallback);
    PyMem_Free(r);
}

static void
recorder_free(PyObject *capsule)
{
    Recorder *r = PyCapsule_GetPointer(capsule, RECORDER_NAME);
    if (r != NULL) {
        recorder_release(r);
    }
}

static PyObject *
record_node(PyObject *capsule, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Recorder *r = PyCapsule_GetPointer(capsule, RECORDER_NAME);
    if (r == NULL) {
        return NULL;
    }
    /* (data, parents, vjp, op, grad, kernel, static, args), all by position */
    if (nargs != 8 || kwnames != NULL || args[4] != Py_True ||
        Py_TYPE(args[0]) != r->array_type || !PyTuple_CheckExact(args[7])) {
        return PyObject_Vectorcall(r->fallback, args, (size_t)nargs, kwnames);
    }
    PyObject *mode;
    if (PyContextVar_Get(r->mode, NULL, &mode) < 0) {
        return NULL;
    }
    /* the mode's bits, if they are an int that fits a C long (it has no other bits);
       else (no value, another type, wider) the Python code says what to do */
    int wide = 1;
    long bits = 0;
    if (mode != NULL && PyLong_CheckExact(mode)) {
        bits = PyLong_AsLongAndOverflow(mode, &wide); /* no error for an exact int */
    }
    Py_XDECREF(mode);
    if (wide || !(bits & r->record) || (bits & r->slow)) {
        return PyObject_Vectorcall(r->fallback, args, (size_t)nargs, NULL);
    }
    PyObject *values[RECORDED] = {NULL};
    PyObject *operands = args[7];
    Py_ssize_t n = PyTuple_GET_SIZE(operands);
    values[2] = PyObject_CallNoArgs(r->next_seq);
    values[6] = PyTuple_Pack(2, args[5], args[6]);
    values[7] = PyTuple_New(n + 1);
    PyObject *obj = NULL;
    if (values[2] == NULL || values[6] == NULL || values[7] == NULL) {
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(operands, i);
        Py_INCREF(item);
        PyTuple_SET_ITEM(values[7], i, item);
    }
    Py_INCREF(args[0]);
    PyTuple_SET_ITEM(values[7], n, args[0]);
    obj = make_blank((PyObject *)r->cls, NULL);
    if (obj == NULL) {
        goto fail;
    }
    values[0] = Py_NewRef(args[0]);
    values[1] = Py_NewRef(args[3]);
    values[3] = Py_NewRef(Py_True);
    values[4] = Py_NewRef(args[1]);
    values[5] = Py_NewRef(args[2]);
    for (int i = 0; i < RECORDED; i++) {
        Py_SETREF(FIELD(obj, r->offsets[i]), values[i]); /* the None it held */
    }
    return obj;
fail:
    for (int i = 0; i < RECORDED; i++) {
        Py_XDECREF(values[i]);
    }
    return NULL;
}

static PyMethodDef record_def = {
    "record", (PyCFunction)(void (*)(void))record_node, METH_FASTCALL | METH_KEYWORDS,
    "record(data, parents, vjp, op, grad, kernel, static, args) -> node",
};

PyDoc_STRVAR(recorder_doc,
"recorder(cls, fields, array_type, mode, record, slow, next_seq, fallback) -> function\n\n"
"A function f(data, parents, vjp, op, grad, kernel, static, args) that makes a recorded\n"
"node of `cls` (a class made by make_type) when grad is True, data an instance of\n"
"exactly `array_type`, args a tuple, and the int in the ContextVar `mode` has the bit\n"
"`record` and none of the bits `slow`: the attributes named by `fields` (8 names) get\n"
"data, op, next_seq(), True, parents, vjp, (kernel, static) and args + (data,), the\n"
"others None. In every other case it returns fallback(the same arguments).");

static PyObject *
recorder(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *cls, *fields, *array_type, *mode, *next_seq, *fallback;
    long record, slow;
    if (!PyArg_ParseTuple(args, "OO!OOllOO:recorder", &cls, &PyTuple_Type, &fields, &array_type,
                          &mode, &record, &slow, &next_seq, &fallback)) {
        return NULL;
    }
    if (!PyType_Check(cls) || ((PyTypeObject *)cls)->tp_dealloc != node_dealloc) {
        PyErr_SetString(PyExc_TypeError, "recorder needs a class made by make_type");
        return NULL;
    }
    if (!PyType_Check(array_type) || !PyContextVar_CheckExact(mode) ||
        !PyCallable_Check(next_seq) || !PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError,
                        "recorder needs a type, a ContextVar and two callables");
        return NULL;
    }
    if (PyTuple_GET_SIZE(fields) != RECORDED) {
        PyErr_SetString(PyExc_ValueError, "recorder needs 8 attribute names");
        return NULL;
    }
    Recorder *r = PyMem_Calloc(1, sizeof(Recorder));
    if (r == NULL) {
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < RECORDED; i++) {
        r->offsets[i] = field_offset(cls, PyTuple_GET_ITEM(fields, i));
        if (r->offsets[i] < 0) {
            PyMem_Free(r);
            return NULL;
        }
    }
    r->cls = (PyTypeObject *)Py_NewRef(cls);
    r->array_type = (PyTypeObject *)Py_NewRef(array_type);
    r->mode = Py_NewRef(mode);
    r->next_seq = Py_NewRef(next_seq);
    r->fallback = Py_NewRef(fallback);
    r->record = record;
    r->slow = slow;
    return bound_function(&record_def, r, RECORDER_NAME, recorder_free, recorder_release);
}

/* The structure of a graph, read in one pass: `_structure` in tensor_compile.py, which
   the Python code keeps for an interpreter without this helper. */

#define READ_FIELDS 6 /* _parents, _redo, _args, _seq, _g, data */
#define READER_NAME "tinygrad_bp.engine._untracked.structure_reader"

typedef struct {
    PyTypeObject *cls;
    PyObject *keyed; /* the kernels whose operations may be keyed */
    PyObject *names; /* the attributes read (a tuple of str) */
    Py_ssize_t parents, redo, args, seq, g, data;
} Reader;

static PyObject *shape_name, *dtype_name;

static void
reader_release(void *state)
{
    Reader *r = state;
    Py_XDECREF(r->cls);
    Py_XDECREF(r->keyed);
    Py_XDECREF(r->names);
    PyMem_Free(r);
}

static void
reader_free(PyObject *capsule)
{
    Reader *r = PyCapsule_GetPointer(capsule, READER_NAME);
    if (r != NULL) {
        reader_release(r);
    }
}

/* Whether `obj` is a node whose attributes read are its slots: one of `cls`, or of a
   subclass that overrides none of those attributes, nor how attributes are read. */
static int
is_node(Reader *r, PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp == r->cls) {
        return 1;
    }
    if (!PyType_IsSubtype(tp, r->cls) || tp->tp_getattro != PyObject_GenericGetAttr) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < READ_FIELDS; i++) {
        PyObject *name = PyTuple_GET_ITEM(r->names, i);
        if (_PyType_Lookup(tp, name) != _PyType_Lookup(r->cls, name)) {
            return 0;
        }
    }
    return 1;
}

/* parts += a.shape, a.dtype */
static int
append_shape_dtype(PyObject *parts, PyObject *a)
{
    PyObject *shape = PyObject_GetAttr(a, shape_name);
    if (shape == NULL) {
        return -1;
    }
    int failed = PyList_Append(parts, shape);
    Py_DECREF(shape);
    if (failed) {
        return -1;
    }
    PyObject *dtype = PyObject_GetAttr(a, dtype_name);
    if (dtype == NULL) {
        return -1;
    }
    failed = PyList_Append(parts, dtype);
    Py_DECREF(dtype);
    return failed ? -1 : 0;
}

/* j if `place` (a node's _g) is an int j and nodes[j] is the node `p`, else -1 */
static Py_ssize_t
place_of(PyObject *nodes, PyObject *place, PyObject *p)
{
    if (place == NULL || !PyLong_CheckExact(place)) {
        return -1;
    }
    int wide;
    long j = PyLong_AsLongAndOverflow(place, &wide); /* no error for an exact int */
    if (wide || j < 0 || j >= PyList_GET_SIZE(nodes) || PyList_GET_ITEM(nodes, j) != p) {
        return -1;
    }
    return j;
}

/* The operands of a computed node (its parents `ps`, the arrays `args` it read, its
   creation number `seq`): 1 read on, 0 the graph is not keyed (None), -1 an error. */
static int
read_operands(Reader *r, PyObject *nodes, PyObject *parts, PyObject *ps, PyObject *args,
              PyObject *seq, Py_ssize_t *found, Py_ssize_t max_nodes)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(ps); i++) {
        PyObject *p = PyTuple_GET_ITEM(ps, i), *a = PyTuple_GET_ITEM(args, i);
        if (!is_node(r, p)) {
            return 0;
        }
        PyObject *place = FIELD(p, r->g);
        if (place == NULL) {
            return 0;
        }
        if (place != Py_None && place_of(nodes, place, p) < 0) {
            return 0; /* marked by another walk (a backward run from inside this read) */
        }
        if (place == Py_None) { /* found now: its place is the next one */
            if (*found >= max_nodes) {
                return 0;
            }
            place = PyLong_FromSsize_t((*found)++);
            if (place == NULL) {
                return -1;
            }
            Py_SETREF(FIELD(p, r->g), place);
            if (PyList_Append(nodes, p)) {
                return -1;
            }
        }
        if (PyList_Append(parts, place)) {
            return -1;
        }
        PyObject *pps = FIELD(p, r->parents);
        if (pps == NULL || !PyTuple_CheckExact(pps)) {
            return 0;
        }
        if (PyTuple_GET_SIZE(pps) == 0) { /* a leaf: the array the operation read */
            if (append_shape_dtype(parts, a)) {
                return -1;
            }
            continue;
        }
        PyObject *pargs = FIELD(p, r->args), *pseq = FIELD(p, r->seq);
        if (pargs == NULL || !PyTuple_CheckExact(pargs) || PyTuple_GET_SIZE(pargs) == 0 ||
            PyTuple_GET_ITEM(pargs, PyTuple_GET_SIZE(pargs) - 1) != a) {
            return 0; /* it read another array than the operand's result */
        }
        if (pseq == NULL || !PyLong_CheckExact(pseq)) {
            return 0;
        }
        PyObject *distance = PyNumber_Subtract(pseq, seq); /* two ints: no Python code */
        if (distance == NULL) {
            return -1;
        }
        int failed = PyList_Append(parts, distance);
        Py_DECREF(distance);
        if (failed) {
            return -1;
        }
    }
    return 1;
}

/* One node found: 1 read on, 0 the graph is not keyed (None), -1 an error. What the
   node holds is held here while it is read, as reading a shape or looking a kernel up
   may run Python code that could rebind the node's attributes. */
static int
read_node(Reader *r, PyObject *nodes, PyObject *parts, PyObject *node, Py_ssize_t *found,
          Py_ssize_t max_nodes)
{
    PyObject *ps = FIELD(node, r->parents);
    if (ps == NULL || !PyTuple_CheckExact(ps)) {
        return 0;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(ps);
    if (count == 0) {
        return PyList_Append(parts, Py_None) ? -1 : 1;
    }
    PyObject *redo = FIELD(node, r->redo), *args = FIELD(node, r->args);
    PyObject *seq = FIELD(node, r->seq);
    if (redo == NULL || !PyTuple_CheckExact(redo) || PyTuple_GET_SIZE(redo) < 1 ||
        args == NULL || !PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) < count ||
        seq == NULL || !PyLong_CheckExact(seq)) {
        return 0;
    }
    Py_INCREF(ps);
    Py_INCREF(redo);
    Py_INCREF(args);
    Py_INCREF(seq);
    int more = PySet_Contains(r->keyed, PyTuple_GET_ITEM(redo, 0));
    if (more > 0) {
        more = PyList_Append(parts, redo) ? -1 : 1;
    }
    if (more > 0) {
        more = read_operands(r, nodes, parts, ps, args, seq, found, max_nodes);
    }
    Py_DECREF(ps);
    Py_DECREF(redo);
    Py_DECREF(args);
    Py_DECREF(seq);
    return more;
}

static PyObject *
read_structure(PyObject *capsule, PyObject *const *args, Py_ssize_t nargs)
{
    Reader *r = PyCapsule_GetPointer(capsule, READER_NAME);
    if (r == NULL) {
        return NULL;
    }
    Py_ssize_t max_nodes;
    if (nargs != 2 || !PyList_CheckExact(args[0]) || PyList_GET_SIZE(args[0]) != 1 ||
        (max_nodes = PyLong_AsSsize_t(args[1])) == -1) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "read(nodes, max_nodes): nodes a list of the root");
        }
        return NULL;
    }
    PyObject *nodes = args[0], *root = PyList_GET_ITEM(nodes, 0);
    if (!is_node(r, root) || FIELD(root, r->data) == NULL ||
        FIELD(root, r->g) == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *zero = PyLong_FromLong(0), *parts = PyList_New(0);
    if (zero == NULL || parts == NULL) {
        Py_XDECREF(zero);
        Py_XDECREF(parts);
        return NULL;
    }
    PyObject *data = Py_NewRef(FIELD(root, r->data));
    Py_SETREF(FIELD(root, r->g), zero); /* the old one freed may run code: root read */
    int failed = append_shape_dtype(parts, data);
    Py_DECREF(data);
    if (failed) {
        goto error;
    }
    Py_ssize_t found = 1;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(nodes); k++) { /* grows while it is read */
        /* only nodes are put there, but Python code that the read runs (a shape) can
           reach the list (gc.get_referrers) and put anything there */
        PyObject *node = PyList_GET_ITEM(nodes, k);
        int more = is_node(r, node) ?
                       read_node(r, nodes, parts, node, &found, max_nodes) : 0;
        if (more < 0) {
            goto error;
        }
        if (more == 0) {
            Py_DECREF(parts);
            Py_RETURN_NONE;
        }
    }
    /* and if that Python code took nodes out of the list or moved them, a place in the
       key would name another node than the one it stood for when it was read */
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(nodes); k++) {
        PyObject *node = PyList_GET_ITEM(nodes, k);
        if (!is_node(r, node) || place_of(nodes, FIELD(node, r->g), node) != k) {
            Py_DECREF(parts);
            Py_RETURN_NONE;
        }
    }
    PyObject *key = PyList_AsTuple(parts);
    Py_DECREF(parts);
    return key;
error:
    Py_DECREF(parts);
    return NULL;
}

static PyMethodDef read_def = {
    "read", (PyCFunction)(void (*)(void))read_structure, METH_FASTCALL,
    "read(nodes, max_nodes) -> tuple or None",
};

PyDoc_STRVAR(structure_reader_doc,
"structure_reader(cls, fields, keyed) -> function\n\n"
"read(nodes, max_nodes): the key of the graph of nodes[0], as tensor_compile's\n"
"_structure gives it (nodes grows to every node found, each `_g` its place), or None.\n"
"`fields` names the attributes _parents, _redo, _args, _seq, _g and data of `cls`.");

static PyObject *
structure_reader(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *cls, *fields, *keyed;
    if (!PyArg_ParseTuple(args, "OO!O!:structure_reader", &cls, &PyTuple_Type, &fields,
                          &PyFrozenSet_Type, &keyed)) {
        return NULL;
    }
    if (!PyType_Check(cls) || ((PyTypeObject *)cls)->tp_dealloc != node_dealloc) {
        PyErr_SetString(PyExc_TypeError, "structure_reader needs a class made by make_type");
        return NULL;
    }
    if (PyTuple_GET_SIZE(fields) != READ_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "structure_reader needs 6 attribute names");
        return NULL;
    }
    Py_ssize_t offsets[READ_FIELDS];
    for (Py_ssize_t i = 0; i < READ_FIELDS; i++) {
        /* str exactly: is_node looks them up in classes, which runs no code then */
        offsets[i] = PyUnicode_CheckExact(PyTuple_GET_ITEM(fields, i)) ?
                         field_offset(cls, PyTuple_GET_ITEM(fields, i)) : -1;
        if (offsets[i] < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "structure_reader needs str attribute names");
            }
            return NULL;
        }
    }
    Reader *r = PyMem_Calloc(1, sizeof(Reader));
    if (r == NULL) {
        return PyErr_NoMemory();
    }
    r->parents = offsets[0];
    r->redo = offsets[1];
    r->args = offsets[2];
    r->seq = offsets[3];
    r->g = offsets[4];
    r->data = offsets[5];
    r->cls = (PyTypeObject *)Py_NewRef(cls);
    r->keyed = Py_NewRef(keyed);
    r->names = Py_NewRef(fields);
    return bound_function(&read_def, r, READER_NAME, reader_free, reader_release);
}

static PyMethodDef methods[] = {
    {"structure_reader", structure_reader, METH_VARARGS, structure_reader_doc},
    {"make_type", make_type, METH_VARARGS, make_type_doc},
    {"blank_maker", blank_maker, METH_O, blank_maker_doc},
    {"recorder", recorder, METH_VARARGS, recorder_doc},
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
    shape_name = PyUnicode_InternFromString("shape");
    dtype_name = PyUnicode_InternFromString("dtype");
    if (shape_name == NULL || dtype_name == NULL) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    /* the interface untracked.py expects: raised with every change to it (make_type's
       base argument is 2, recorder and structure_reader 3, the recorder's keyword
       arguments and the reader's checks of what Python code changed 4), so that a
       stale build is left unused rather than misused */
    if (module != NULL && PyModule_AddIntConstant(module, "API", 4) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
