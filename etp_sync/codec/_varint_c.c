/* Optional compiled fast path of the Avro zig-zag varint array codec (etp_sync.codec).
 *
 * Three loops over plain buffers, run without the GIL: the varint size of an int64 array,
 * its encoding, and the decoding of a run of varints into int64 or int32 values. Nothing here
 * explains an error: decode reports only that the input is not a run of valid varints, and
 * the numpy implementation (the reference) then decodes the same bytes and raises the precise
 * ETPDecodeError. The Python side (_varint_arrays.py) checks dtypes, contiguity and sizes
 * before it calls in; the loops still check every bound they rely on.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER)
#include <intrin.h>
static inline int
clz64(uint64_t x) /* x != 0 */
{
    unsigned long i;
    _BitScanReverse64(&i, x);
    return 63 - (int)i;
}
static inline int
ctz64(uint64_t x) /* x != 0 */
{
    unsigned long i;
    _BitScanForward64(&i, x);
    return (int)i;
}
#else
#define clz64(x) __builtin_clzll(x)
#define ctz64(x) __builtin_ctzll(x)
#endif

/* Eight bytes as a little-endian word, and back (memcpy compiles to one load or store). */
static inline uint64_t
load_le64(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    uint64_t w = 0;
    for (int k = 7; k >= 0; k--) {
        w = (w << 8) | p[k];
    }
    return w;
#else
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
#endif
}

static inline void
store_le64(uint8_t *p, uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (int k = 0; k < 8; k++) {
        p[k] = (uint8_t)(w >> (8 * k));
    }
#else
    memcpy(p, &w, 8);
#endif
}

#define HIGH_BITS UINT64_C(0x8080808080808080)

/* Bytes of the varint of zig-zag value z: one per started group of 7 significant bits. */
static inline Py_ssize_t
varint_len(uint64_t z)
{
    return (Py_ssize_t)((64 - clz64(z | 1) + 6) / 7);
}

static inline uint64_t
zigzag(int64_t x)
{
    uint64_t u = (uint64_t)x;
    return (u << 1) ^ (0 - (u >> 63));
}

/* The low 56 bits of z as eight 7-bit groups, one per byte (high bits clear). */
static inline uint64_t
spread56(uint64_t z)
{
    uint64_t x = z & UINT64_C(0x00FFFFFFFFFFFFFF);
    x = (x & UINT64_C(0x000000000FFFFFFF)) | ((x & UINT64_C(0x00FFFFFFF0000000)) << 4);
    x = (x & UINT64_C(0x00003FFF00003FFF)) | ((x & UINT64_C(0x0FFFC0000FFFC000)) << 2);
    x = (x & UINT64_C(0x007F007F007F007F)) | ((x & UINT64_C(0x3F803F803F803F80)) << 1);
    return x;
}

/* The inverse of spread56: eight 7-bit groups (high bits clear) back into 56 bits. */
static inline uint64_t
squeeze56(uint64_t x)
{
    x = (x & UINT64_C(0x007F007F007F007F)) | ((x & UINT64_C(0x7F007F007F007F00)) >> 1);
    x = (x & UINT64_C(0x00003FFF00003FFF)) | ((x & UINT64_C(0x3FFF00003FFF0000)) >> 2);
    x = (x & UINT64_C(0x000000000FFFFFFF)) | ((x & UINT64_C(0x0FFFFFFF00000000)) >> 4);
    return x;
}

/* Write the varint of z at p, which has room for 10 bytes (the bytes past the varint's end
 * are scratch); its length. Small values (1 or 2 bytes) take a short path; longer ones are
 * spread by bit tricks, whatever their length. */
static inline Py_ssize_t
put_varint10(uint8_t *p, uint64_t z)
{
    if (z < 0x4000) { /* small values: 1 or 2 bytes, the common case of bulk integers */
        p[0] = (uint8_t)(z | 0x80);
        p[1] = (uint8_t)(z >> 7);
        if (z < 0x80) {
            p[0] = (uint8_t)z;
            return 1;
        }
        return 2;
    }
    Py_ssize_t n = varint_len(z);
    uint64_t w = spread56(z) | HIGH_BITS;
    if (n <= 8) {
        store_le64(p, w & ~(UINT64_C(0x80) << (8 * (n - 1))));
    }
    else {
        store_le64(p, w);
        p[8] = (uint8_t)(((z >> 56) & 0x7F) | (n == 10 ? 0x80 : 0));
        p[9] = (uint8_t)(z >> 63);
    }
    return n;
}

/* Write the varint of z at p byte by byte (near the end of the output); its length. */
static inline Py_ssize_t
put_varint(uint8_t *p, uint64_t z)
{
    Py_ssize_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

/* Whether a buffer's items are native signed integers of ``itemsize`` bytes (struct module
 * format codes, as numpy gives them: 'q' or 'l' for int64, 'i' or 'l' for int32). */
static int
native_signed(const char *format, Py_ssize_t itemsize)
{
    if (format == NULL) {
        return 0;
    }
    if (*format == '@' || *format == '=') {
        format++;
    }
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    else if (*format == '<') {
        format++;
    }
#endif
    if (format[0] == '\0' || format[1] != '\0') {
        return 0;
    }
    switch (format[0]) {
    case 'q':
        return itemsize == 8;
    case 'l':
        return itemsize == (Py_ssize_t)sizeof(long);
    case 'i':
        return itemsize == 4;
    default:
        return 0;
    }
}

/* A C-contiguous buffer of native int64 items (``flags`` may add PyBUF_WRITABLE); 0 on
 * success, else -1 with TypeError set. */
static int
get_ints(PyObject *obj, Py_buffer *view, int flags, int allow_int32)
{
    if (PyObject_GetBuffer(obj, view, flags | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        return -1;
    }
    if (!(native_signed(view->format, 8) && view->itemsize == 8) &&
        !(allow_int32 && native_signed(view->format, 4) && view->itemsize == 4)) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_TypeError,
                        allow_int32 ? "expected a contiguous buffer of native int64 or int32"
                                    : "expected a contiguous buffer of native int64");
        return -1;
    }
    return 0;
}

static int
get_int64s(PyObject *obj, Py_buffer *view)
{
    return get_ints(obj, view, 0, 0);
}

PyDoc_STRVAR(size_doc,
             "size(values) -> int\n\n"
             "Bytes of the zig-zag varints of ``values`` (a C-contiguous native int64 buffer).\n"
             "TypeError for any other buffer.");

static PyObject *
varint_size(PyObject *self, PyObject *arg)
{
    Py_buffer v;
    if (get_int64s(arg, &v) < 0) {
        return NULL;
    }
    const int64_t *x = (const int64_t *)v.buf;
    Py_ssize_t n = v.len / 8, total = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        total += varint_len(zigzag(x[i]));
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&v);
    return PyLong_FromSsize_t(total);
}

PyDoc_STRVAR(encode_doc,
             "encode(values, out) -> int\n\n"
             "Write the zig-zag varints of ``values`` (a C-contiguous native int64 buffer) into\n"
             "``out`` (a writable contiguous byte buffer); the bytes written. ValueError when\n"
             "``out`` is too small (nothing past its end is written).");

static PyObject *
varint_encode(PyObject *self, PyObject *args)
{
    PyObject *values, *target;
    if (!PyArg_ParseTuple(args, "OO:encode", &values, &target)) {
        return NULL;
    }
    Py_buffer v, o;
    if (get_int64s(values, &v) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(target, &o, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&v);
        return NULL;
    }
    const int64_t *x = (const int64_t *)v.buf;
    Py_ssize_t n = v.len / 8;
    uint8_t *p = (uint8_t *)o.buf, *end = p + o.len;
    int full = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t z = zigzag(x[i]);
        if (end - p >= 10) {
            p += put_varint10(p, z);
        }
        else if (end - p >= varint_len(z)) {
            p += put_varint(p, z);
        }
        else {
            full = 1;
            break;
        }
    }
    Py_END_ALLOW_THREADS
    Py_ssize_t written = p - (uint8_t *)o.buf;
    PyBuffer_Release(&o);
    PyBuffer_Release(&v);
    if (full) {
        PyErr_SetString(PyExc_ValueError, "output buffer too small for the varints");
        return NULL;
    }
    return PyLong_FromSsize_t(written);
}

/* Decode the varint at p, of which 10 bytes are readable: its length (1..10) with its value
 * in *z, or 0 when it is longer than 10 bytes or needs more than 64 bits. Branches for the
 * 1 and 2 byte varints that small integers take (well predicted on bulk data, so that the
 * next varint's start is known ahead), bit tricks for the rest; the choice between 9 and 10
 * bytes, a coin toss on random 64-bit values, takes no branch. */
static inline Py_ssize_t
get_varint10(const uint8_t *p, uint64_t *z)
{
    uint64_t w = load_le64(p);
    if (!(w & 0x80)) {
        *z = w & 0x7F;
        return 1;
    }
    if (!(w & 0x8000)) {
        *z = (w & 0x7F) | ((w >> 1) & 0x3F80);
        return 2;
    }
    uint64_t ends = ~w & HIGH_BITS; /* the high bit of every terminator byte */
    if (ends) {
        int n = (ctz64(ends) >> 3) + 1;
        *z = squeeze56(w & ~HIGH_BITS & (~UINT64_C(0) >> (64 - 8 * n)));
        return n;
    }
    uint64_t b8 = p[8], ten = b8 >> 7, b9 = p[9] & (0 - ten);
    *z = squeeze56(w & ~HIGH_BITS) | ((b8 & 0x7F) << 56) | (b9 << 63);
    return b9 > 1 ? 0 : (Py_ssize_t)(9 + ten);
}

/* Decode the varint at p byte by byte, reading fewer than ``avail`` + 1 bytes and at most
 * ``max_bytes``: its length and value as get_varint10, or 0 when truncated or too long. */
static inline Py_ssize_t
get_varint(const uint8_t *p, Py_ssize_t avail, int max_bytes, uint64_t *z)
{
    Py_ssize_t limit = avail < max_bytes ? avail : max_bytes;
    uint64_t v = 0;
    for (Py_ssize_t n = 0; n < limit; n++) {
        uint8_t b = p[n];
        if (n == 9 && b > 1) {
            return 0;
        }
        v |= (uint64_t)(b & 0x7F) << (7 * n);
        if (!(b & 0x80)) {
            *z = v;
            return n + 1;
        }
    }
    return 0;
}

/* Store the value of zig-zag z as item i of out (int64 when wide, else int32); 0 when it does
 * not fit an int32. */
static inline int
store(void *out, int wide, Py_ssize_t i, uint64_t z)
{
    int64_t value = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    if (wide) {
        ((int64_t *)out)[i] = value;
        return 1;
    }
    if (value < INT32_MIN || value > INT32_MAX) {
        return 0;
    }
    ((int32_t *)out)[i] = (int32_t)value;
    return 1;
}

PyDoc_STRVAR(decode_doc,
             "decode(data, offset, count, out, max_bytes) -> int\n\n"
             "Decode ``count`` zig-zag varints of ``data`` (a contiguous byte buffer) from\n"
             "``offset`` into ``out`` (a writable C-contiguous buffer of at least ``count``\n"
             "native int64 or int32 items); the end offset, or -1 when the bytes are not\n"
             "``count`` valid varints of at most ``max_bytes`` (1..10) bytes whose values fit\n"
             "``out`` (and an Avro int, for ``max_bytes`` 5). On -1, ``out`` may be partly\n"
             "written.");

static PyObject *
varint_decode(PyObject *self, PyObject *args)
{
    PyObject *source, *target;
    Py_ssize_t offset, count;
    int max_bytes;
    if (!PyArg_ParseTuple(args, "OnnOi:decode", &source, &offset, &count, &target, &max_bytes)) {
        return NULL;
    }
    if (max_bytes < 1 || max_bytes > 10) {
        PyErr_SetString(PyExc_ValueError, "max_bytes must be 1..10");
        return NULL;
    }
    Py_buffer d, o;
    if (PyObject_GetBuffer(source, &d, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (get_ints(target, &o, PyBUF_WRITABLE, 1) < 0) {
        PyBuffer_Release(&d);
        return NULL;
    }
    int wide = o.itemsize == 8;
    if (count < 0 || o.len / o.itemsize < count ||
        offset < 0 || offset > d.len) {
        PyBuffer_Release(&o);
        PyBuffer_Release(&d);
        PyErr_SetString(PyExc_ValueError, "bad offset, count or output buffer");
        return NULL;
    }
    const uint8_t *data = (const uint8_t *)d.buf;
    Py_ssize_t size = d.len, pos = offset;
    /* The largest zig-zag value allowed: an Avro int's for 1..5 bytes, else 64 bits. */
    uint64_t zmax = max_bytes <= 5 ? UINT64_C(0xFFFFFFFF) : UINT64_MAX;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        uint64_t z = 0;
        Py_ssize_t n = size - pos >= 10 ? get_varint10(data + pos, &z)
                                        : get_varint(data + pos, size - pos, max_bytes, &z);
        if (n == 0 || n > max_bytes || z > zmax || !store(o.buf, wide, i, z)) {
            bad = 1;
            break;
        }
        pos += n;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&o);
    PyBuffer_Release(&d);
    return PyLong_FromSsize_t(bad ? -1 : pos);
}

static PyMethodDef methods[] = {
    {"size", varint_size, METH_O, size_doc},
    {"encode", varint_encode, METH_VARARGS, encode_doc},
    {"decode", varint_decode, METH_VARARGS, decode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "etp_sync.codec._varint_c",
    "Compiled loops of the Avro varint array codec (an optional fast path).",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__varint_c(void)
{
    return PyModule_Create(&module);
}
