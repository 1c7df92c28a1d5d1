/* Optional compiled fast paths of the reading of data object XML (etp_sync._xmlpeek):
 * scan() for the store, head() (further down) for the client's put.
 *
 * scan(data, fields) runs Python's own expat (reached through the pyexpat C API capsule, so
 * the parser is the very one xml.parsers.expat and ElementTree use) over a whole document with
 * handlers written in C, and keeps what etp_sync._xmlpeek's expat handlers keep: the root's
 * name (expat's "namespace}local" spelling), its attributes, and the leading text of the first
 * child of each name in ``fields`` of the root's first Citation child. It returns
 * (root name, attributes, citation texts) for a well-formed document that holds no reference,
 * no dataset and no document type declaration, and None for any other: the Python code then
 * decides (and words any error) exactly as it does without this module.
 *
 * "Holds no reference" is decided as etp_sync.server._xml._holds_no_references decides it: none
 * of the bytes UUID, Uuid, PathIn, <!DOCTYPE or NUL in the document. Without a NUL, a document
 * expat reads with no unknown-encoding handler is in UTF-8, ISO-8859-1 or US-ASCII (UTF-16
 * holds NULs), where a name spelt in ASCII shows as such in the bytes; a document in any
 * other encoding is refused here and goes to the Python code.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <expat.h>
#include <pyexpat.h>
#include <string.h>

#define NS_SEPARATOR '}'
#define MAX_FIELDS 16
#define MAX_ROOT_ATTRIBUTES 64 /* more: the Python code reads the document */

static struct PyExpat_CAPI *expat_capi;

/* A growable byte buffer. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} Buffer;

static int
buffer_add(Buffer *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) {
            cap *= 2;
        }
        char *grown = PyMem_Realloc(b->data, cap);
        if (grown == NULL) {
            return -1;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

typedef struct {
    XML_Parser parser;
    int depth;              /* of the element being read; the root is 1 */
    int unusable;           /* set: the Python code must read the document */
    int citation;           /* 0: not met yet, 1: inside the root's first Citation, 2: read */
    int field;              /* index into fields of the text being read, or -1 */
    Py_ssize_t nfields;
    const char *fields[MAX_FIELDS]; /* UTF-8 names of the citation fields */
    int seen[MAX_FIELDS];   /* whether the first child of that name was met */
    Buffer texts[MAX_FIELDS];
    Buffer root;            /* the root's name, then its attributes: NUL-terminated strings */
    int nattributes;
} Scan;

static const char *
local_name(const char *name)
{
    const char *sep = strrchr(name, NS_SEPARATOR);
    return sep == NULL ? name : sep + 1;
}

static void XMLCALL on_start(void *user, const XML_Char *name, const XML_Char **atts);
static void XMLCALL on_end(void *user, const XML_Char *name);

static void XMLCALL
on_text(void *user, const XML_Char *s, int len)
{
    Scan *scan = (Scan *)user;
    if (scan->field >= 0 && buffer_add(&scan->texts[scan->field], s, (size_t)len) < 0) {
        scan->unusable = 1;
    }
}

/* The leading text of the field being read ends (a child element starts, or it ends). */
static void
end_text(Scan *scan)
{
    scan->field = -1;
    expat_capi->SetCharacterDataHandler(scan->parser, NULL);
}

static void XMLCALL
on_start(void *user, const XML_Char *name, const XML_Char **atts)
{
    Scan *scan = (Scan *)user;
    if (scan->field >= 0) {
        end_text(scan);
    }
    scan->depth++;
    if (scan->depth == 1) {
        if (buffer_add(&scan->root, name, strlen(name) + 1) < 0) {
            scan->unusable = 1;
            return;
        }
        for (; atts[0] != NULL; atts += 2) {
            if (scan->nattributes == MAX_ROOT_ATTRIBUTES ||
                buffer_add(&scan->root, atts[0], strlen(atts[0]) + 1) < 0 ||
                buffer_add(&scan->root, atts[1], strlen(atts[1]) + 1) < 0) {
                scan->unusable = 1;
                return;
            }
            scan->nattributes++;
        }
        return;
    }
    if (scan->citation == 0) {
        if (scan->depth == 2 && strcmp(local_name(name), "Citation") == 0) {
            scan->citation = 1;
        }
        return;
    }
    if (scan->depth == 3) { /* scan->citation == 1: a child of the citation */
        const char *local = local_name(name);
        for (Py_ssize_t i = 0; i < scan->nfields; i++) {
            if (!scan->seen[i] && strcmp(local, scan->fields[i]) == 0) {
                scan->seen[i] = 1;
                scan->field = (int)i;
                expat_capi->SetCharacterDataHandler(scan->parser, on_text);
                break;
            }
        }
    }
}

static void XMLCALL
on_end(void *user, const XML_Char *name)
{
    Scan *scan = (Scan *)user;
    (void)name;
    if (scan->field >= 0) {
        end_text(scan);
    }
    scan->depth--;
    if (scan->citation == 1 && scan->depth == 1) {
        /* The citation is read: the rest of the document only needs checking by expat. */
        scan->citation = 2;
        expat_capi->SetElementHandler(scan->parser, NULL, NULL);
    }
}

static void XMLCALL
on_doctype(void *user, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
           int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    ((Scan *)user)->unusable = 1; /* the marks exclude it; kept for safety */
}

/* Whether the n bytes at data hold the m bytes of needle (m > 0). */
static int
holds(const char *data, size_t n, const char *needle, size_t m)
{
    const char *end = data + n;
    const char *p = data;
    while ((size_t)(end - p) >= m && (p = memchr(p, needle[0], (size_t)(end - p) - m + 1)) != NULL) {
        if (memcmp(p + 1, needle + 1, m - 1) == 0) {
            return 1;
        }
        p++;
    }
    return 0;
}

static int
has_mark(const char *data, Py_ssize_t n)
{
    static const char *const marks[] = {"UUID", "Uuid", "PathIn", "<!DOCTYPE"};
    if (memchr(data, 0, (size_t)n) != NULL) {
        return 1;
    }
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
        if (holds(data, (size_t)n, marks[i], strlen(marks[i]))) {
            return 1;
        }
    }
    return 0;
}

/* Check scan()'s and head()'s arguments (data: bytes, fields: a tuple of str) and set up a
 * Scan for them; 0 with an exception set when they are not such. */
static int
start_scan(Scan *scan, PyObject *const *args, Py_ssize_t nargs)
{
    memset(scan, 0, sizeof(*scan));
    scan->field = -1;
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyTuple_Check(args[1]) ||
        PyTuple_GET_SIZE(args[1]) > MAX_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "expected (data: bytes, fields: tuple[str, ...])");
        return 0;
    }
    scan->nfields = PyTuple_GET_SIZE(args[1]);
    for (Py_ssize_t i = 0; i < scan->nfields; i++) {
        PyObject *f = PyTuple_GET_ITEM(args[1], i);
        scan->fields[i] = PyUnicode_Check(f) ? PyUnicode_AsUTF8(f) : NULL;
        if (scan->fields[i] == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "fields must be str");
            }
            return 0;
        }
    }
    return 1;
}

static void
end_scan(Scan *scan)
{
    PyMem_Free(scan->root.data);
    for (Py_ssize_t i = 0; i < scan->nfields; i++) {
        PyMem_Free(scan->texts[i].data);
    }
}

/* Put the texts of the fields seen into citation (keyed by the str of the tuple fields). */
static int
fill_citation(Scan *scan, PyObject *fields, PyObject *citation)
{
    for (Py_ssize_t i = 0; i < scan->nfields; i++) {
        if (!scan->seen[i]) {
            continue;
        }
        Buffer *t = &scan->texts[i];
        PyObject *v = PyUnicode_DecodeUTF8(t->len ? t->data : "", (Py_ssize_t)t->len, "strict");
        int bad = v == NULL || PyDict_SetItem(citation, PyTuple_GET_ITEM(fields, i), v) < 0;
        Py_XDECREF(v);
        if (bad) {
            return -1;
        }
    }
    return 0;
}

/* A new dict of the citation texts; NULL with an exception set on failure. */
static PyObject *
citation_dict(Scan *scan, PyObject *fields)
{
    PyObject *citation = PyDict_New();
    if (citation != NULL && fill_citation(scan, fields, citation) < 0) {
        Py_CLEAR(citation);
    }
    return citation;
}

/* (root name, attributes, citation texts) from what the handlers kept. */
static PyObject *
scan_result(Scan *scan, PyObject *fields)
{
    PyObject *name = NULL, *attributes = NULL, *citation = NULL;
    const char *p = scan->root.data;
    name = PyUnicode_DecodeUTF8(p, (Py_ssize_t)strlen(p), "strict");
    attributes = PyDict_New();
    citation = citation_dict(scan, fields);
    if (name == NULL || attributes == NULL || citation == NULL) {
        goto fail;
    }
    p += strlen(p) + 1;
    for (int i = 0; i < scan->nattributes; i++) {
        const char *value = p + strlen(p) + 1;
        PyObject *k = PyUnicode_DecodeUTF8(p, (Py_ssize_t)strlen(p), "strict");
        PyObject *v = PyUnicode_DecodeUTF8(value, (Py_ssize_t)strlen(value), "strict");
        int bad = k == NULL || v == NULL || PyDict_SetItem(attributes, k, v) < 0;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (bad) {
            goto fail;
        }
        p = value + strlen(value) + 1;
    }
    return Py_BuildValue("(NNN)", name, attributes, citation);
fail:
    Py_XDECREF(name);
    Py_XDECREF(attributes);
    Py_XDECREF(citation);
    return NULL;
}

PyDoc_STRVAR(scan_doc,
             "scan(data: bytes, fields: tuple[str, ...]) -> tuple[str, dict, dict] | None\n\n"
             "(root name, root attributes, citation texts by field) of a well-formed document\n"
             "holding no reference, dataset or document type declaration; None otherwise.");

static PyObject *
scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    Scan scan;
    if (!start_scan(&scan, args, nargs)) {
        return NULL;
    }
    const char *data = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    if (n > INT_MAX || has_mark(data, n)) {
        end_scan(&scan);
        Py_RETURN_NONE;
    }
    XML_Char separator[2] = {NS_SEPARATOR, 0};
    scan.parser = expat_capi->ParserCreate_MM(NULL, NULL, separator);
    if (scan.parser == NULL) {
        end_scan(&scan);
        return PyErr_NoMemory();
    }
    expat_capi->SetUserData(scan.parser, &scan);
    expat_capi->SetElementHandler(scan.parser, on_start, on_end);
    expat_capi->SetStartDoctypeDeclHandler(scan.parser, on_doctype);
    int ok = expat_capi->Parse(scan.parser, data, (int)n, 1) == XML_STATUS_OK;
    expat_capi->ParserFree(scan.parser);
    PyObject *result = NULL;
    if (ok && !scan.unusable && scan.root.len > 0) {
        result = scan_result(&scan, args[1]);
        if (result == NULL && PyErr_ExceptionMatches(PyExc_UnicodeError)) {
            PyErr_Clear(); /* expat passes UTF-8 on; should a name not be, Python reads it */
            result = Py_NewRef(Py_None);
        }
    }
    else {
        result = Py_NewRef(Py_None);
    }
    end_scan(&scan);
    return result;
}

/* -- head(): the usual document's head, read off its bytes without a parser ----------------
 *
 * For the client's put: the root's uuid attribute and the citation texts of a document whose
 * first child is a citation in the simplest form. Every byte read is checked against that form
 * and anything else (comments, a DTD, entity or character references, carriage returns,
 * attributes on the citation, nested markup, a declared encoding other than UTF-8, bytes that
 * are not UTF-8) gives None: the Python code then reads the document. For a well-formed
 * document the values are the ones expat reports; the rest of the document is not read (the
 * store checks every document it is sent). */

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} Cursor;

static int
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
skip_space(Cursor *c)
{
    while (c->p < c->end && is_space(*c->p)) {
        c->p++;
    }
}

/* A name: the bytes up to white space, '/', '>' or '=' (at least one; none of <&'"?!).
 * Sets *name and *len; 0 when there is none. */
static int
read_name(Cursor *c, const unsigned char **name, Py_ssize_t *len)
{
    const unsigned char *start = c->p;
    while (c->p < c->end && !is_space(*c->p) && *c->p != '/' && *c->p != '>' && *c->p != '=') {
        unsigned char ch = *c->p;
        if (ch == '<' || ch == '&' || ch == '"' || ch == '\'' || ch == '?' || ch == '!') {
            return 0;
        }
        c->p++;
    }
    *name = start;
    *len = c->p - start;
    return *len > 0;
}

/* Whether a name's local part (after its prefix) is local. */
static int
local_is(const unsigned char *name, Py_ssize_t len, const char *local)
{
    const unsigned char *colon = memchr(name, ':', (size_t)len);
    if (colon != NULL) {
        len -= colon + 1 - name;
        name = colon + 1;
    }
    return (size_t)len == strlen(local) && memcmp(name, local, (size_t)len) == 0;
}

static int
ascii_lower_equal(const unsigned char *s, Py_ssize_t len, const char *lower)
{
    if ((size_t)len != strlen(lower)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char ch = s[i];
        if (ch >= 'A' && ch <= 'Z') {
            ch = (unsigned char)(ch - 'A' + 'a');
        }
        if (ch != (unsigned char)lower[i]) {
            return 0;
        }
    }
    return 1;
}

/* The XML declaration, if any: 1 when there is none, or it declares UTF-8 or no encoding. */
static int
read_declaration(Cursor *c)
{
    if (c->end - c->p < 6 || memcmp(c->p, "<?xml", 5) != 0 || !is_space(c->p[5])) {
        return 1; /* none (a later "<?" is no root: read_root refuses it) */
    }
    const unsigned char *close = NULL;
    for (const unsigned char *q = c->p; q + 1 < c->end; q++) {
        if (q[0] == '?' && q[1] == '>') {
            close = q;
            break;
        }
    }
    if (close == NULL) {
        return 0;
    }
    const unsigned char *q = c->p + 5;
    c->p = close + 2;
    for (; q + 8 <= close; q++) {
        if (memcmp(q, "encoding", 8) == 0) {
            Cursor v = {q + 8, close};
            skip_space(&v);
            if (v.p >= v.end || *v.p != '=') {
                return 0;
            }
            v.p++;
            skip_space(&v);
            if (v.p >= v.end || (*v.p != '"' && *v.p != '\'')) {
                return 0;
            }
            unsigned char quote = *v.p++;
            const unsigned char *value = v.p;
            while (v.p < v.end && *v.p != quote) {
                v.p++;
            }
            return v.p < v.end && ascii_lower_equal(value, v.p - value, "utf-8");
        }
    }
    return 1;
}

/* An attribute value in quotes, taken as it is: 0 when it holds a reference, '<' or white
 * space XML would normalise (tab, CR, LF). */
static int
read_value(Cursor *c, const unsigned char **value, Py_ssize_t *len)
{
    if (c->p >= c->end || (*c->p != '"' && *c->p != '\'')) {
        return 0;
    }
    unsigned char quote = *c->p++;
    const unsigned char *start = c->p;
    while (c->p < c->end && *c->p != quote) {
        unsigned char ch = *c->p;
        if (ch == '<' || ch == '&' || ch == '\t' || ch == '\r' || ch == '\n') {
            return 0;
        }
        c->p++;
    }
    if (c->p >= c->end) {
        return 0;
    }
    *value = start;
    *len = c->p - start;
    c->p++;
    return 1;
}

/* The root's start tag: its one unprefixed uuid attribute into *uuid. */
static int
read_root(Cursor *c, const unsigned char **uuid, Py_ssize_t *uuid_len)
{
    const unsigned char *name;
    Py_ssize_t len;
    if (c->p >= c->end || *c->p != '<') {
        return 0;
    }
    c->p++;
    if (!read_name(c, &name, &len)) {
        return 0;
    }
    *uuid = NULL;
    for (;;) {
        const unsigned char *before = c->p;
        skip_space(c);
        if (c->p >= c->end) {
            return 0;
        }
        if (*c->p == '>') {
            c->p++;
            return *uuid != NULL;
        }
        if (c->p == before || !read_name(c, &name, &len)) {
            return 0; /* attributes are separated by white space; "/>": no citation */
        }
        skip_space(c);
        if (c->p >= c->end || *c->p != '=') {
            return 0;
        }
        c->p++;
        skip_space(c);
        const unsigned char *value;
        Py_ssize_t value_len;
        if (!read_value(c, &value, &value_len)) {
            return 0;
        }
        if (len == 4 && memcmp(name, "uuid", 4) == 0) {
            if (*uuid != NULL) {
                return 0;
            }
            *uuid = value;
            *uuid_len = value_len;
        }
    }
}

/* A child of the citation, its '<' read: its name and its text (no markup, no reference, no
 * CR), up to and with its end tag. */
static int
read_child(Cursor *c, const unsigned char **name, Py_ssize_t *len, const unsigned char **text,
           Py_ssize_t *text_len)
{
    if (!read_name(c, name, len)) {
        return 0;
    }
    skip_space(c);
    if (c->end - c->p >= 2 && c->p[0] == '/' && c->p[1] == '>') {
        c->p += 2;
        *text = c->p;
        *text_len = 0;
        return 1;
    }
    if (c->p >= c->end || *c->p != '>') {
        return 0;
    }
    c->p++;
    *text = c->p;
    while (c->p < c->end && *c->p != '<') {
        if (*c->p == '&' || *c->p == '\r') {
            return 0;
        }
        c->p++;
    }
    *text_len = c->p - *text;
    if (c->end - c->p < 2 + *len || c->p[1] != '/' ||
        memcmp(c->p + 2, *name, (size_t)*len) != 0) {
        return 0;
    }
    c->p += 2 + *len;
    skip_space(c);
    if (c->p >= c->end || *c->p != '>') {
        return 0;
    }
    c->p++;
    return 1;
}

/* The citation, the root's first child: the first text of each field into scan's texts. */
static int
read_citation(Cursor *c, Scan *scan)
{
    const unsigned char *name;
    Py_ssize_t len;
    skip_space(c);
    if (c->p >= c->end || *c->p != '<') {
        return 0;
    }
    c->p++;
    if (!read_name(c, &name, &len) || !local_is(name, len, "Citation")) {
        return 0;
    }
    const unsigned char *citation = name;
    Py_ssize_t citation_len = len;
    skip_space(c);
    if (c->end - c->p >= 2 && c->p[0] == '/' && c->p[1] == '>') {
        return 1;
    }
    if (c->p >= c->end || *c->p != '>') {
        return 0;
    }
    c->p++;
    for (;;) {
        skip_space(c);
        if (c->end - c->p < 2 || *c->p != '<') {
            return 0;
        }
        if (c->p[1] == '/') { /* the citation's end tag */
            c->p += 2;
            if (!read_name(c, &name, &len) || len != citation_len ||
                memcmp(name, citation, (size_t)len) != 0) {
                return 0;
            }
            skip_space(c);
            return c->p < c->end && *c->p == '>';
        }
        c->p++;
        const unsigned char *text;
        Py_ssize_t text_len;
        if (!read_child(c, &name, &len, &text, &text_len)) {
            return 0;
        }
        for (Py_ssize_t i = 0; i < scan->nfields; i++) {
            if (!scan->seen[i] && local_is(name, len, scan->fields[i])) {
                scan->seen[i] = 1;
                if (buffer_add(&scan->texts[i], (const char *)text, (size_t)text_len) < 0) {
                    return 0;
                }
                break;
            }
        }
    }
}

PyDoc_STRVAR(head_doc,
             "head(data: bytes, fields: tuple[str, ...]) -> tuple[str, dict] | None\n\n"
             "(the root's uuid attribute, citation texts by field) of a document in the usual\n"
             "form, read off its first bytes; None for any other (see the source).");

static PyObject *
head(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    Scan scan;
    if (!start_scan(&scan, args, nargs)) {
        return NULL;
    }
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Cursor c = {data, data + PyBytes_GET_SIZE(args[0])};
    if (c.end - c.p >= 3 && memcmp(c.p, "\xef\xbb\xbf", 3) == 0) {
        c.p += 3;
    }
    const unsigned char *uuid = NULL;
    Py_ssize_t uuid_len = 0;
    PyObject *result = NULL;
    int usual = read_declaration(&c);
    if (usual) {
        skip_space(&c);
        usual = read_root(&c, &uuid, &uuid_len) && read_citation(&c, &scan);
    }
    if (usual) {
        PyObject *citation = citation_dict(&scan, args[1]);
        PyObject *id = NULL;
        if (citation != NULL) {
            id = PyUnicode_DecodeUTF8((const char *)uuid, uuid_len, "strict");
        }
        if (id != NULL) {
            result = Py_BuildValue("(NN)", id, citation);
        }
        else {
            Py_XDECREF(citation);
        }
        if (result == NULL && PyErr_ExceptionMatches(PyExc_UnicodeError)) {
            PyErr_Clear(); /* not UTF-8: the Python code reads the document */
            result = Py_NewRef(Py_None);
        }
    }
    else {
        result = Py_NewRef(Py_None);
    }
    end_scan(&scan);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL, scan_doc},
    {"head", (PyCFunction)(void (*)(void))head, METH_FASTCALL, head_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_xmlscan_c",
    "Compiled scan of a data object's identity and citation (see etp_sync._xmlscan).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__xmlscan_c(void)
{
    expat_capi = (struct PyExpat_CAPI *)PyCapsule_Import(PyExpat_CAPSULE_NAME, 0);
    if (expat_capi == NULL) {
        return NULL;
    }
    if (strcmp(expat_capi->magic, PyExpat_CAPI_MAGIC) != 0 ||
        (size_t)expat_capi->size < sizeof(struct PyExpat_CAPI)) {
        PyErr_SetString(PyExc_ImportError, "pyexpat's C API is not the one compiled against");
        return NULL;
    }
    return PyModule_Create(&module_def);
}
