/* Polling a socket for a short while without sleeping and without the GIL (an optional fast
 * path of etp_sync.transport._frame_reader).
 *
 * A caller that sleeps in poll() until its reply comes is woken by the kernel when the reply
 * arrives; on a virtual machine whose idle CPU halted, that wake-up is tens of microseconds,
 * a large share of a small request to a nearby server. Polling with a zero timeout for a short,
 * bounded time first catches a quick reply with no wake-up at all. This loop runs with the GIL
 * released, so other Python threads (an embedded server in the same process, say) run freely
 * meanwhile; a loop in Python would hold the GIL between its polls and starve them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <poll.h>
#include <time.h>

static double
monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

PyDoc_STRVAR(poll_briefly_doc,
"poll_briefly(fd, seconds, /) -> bool\n\n"
"Whether ``fd`` became readable (or has an error or hang-up to report) within ``seconds``,\n"
"polled with a zero timeout in a loop, the GIL released: never sleeps. False when the time\n"
"ran out first, or at once for a non-positive ``seconds`` when nothing is there yet.");

static PyObject *
poll_briefly(PyObject *self, PyObject *args)
{
    int fd;
    double seconds;
    int ready = 0;
    if (!PyArg_ParseTuple(args, "id:poll_briefly", &fd, &seconds)) {
        return NULL;
    }
    if (fd < 0) {
        PyErr_SetString(PyExc_ValueError, "poll_briefly: a negative file descriptor");
        return NULL;
    }
    if (!(seconds <= 1.0)) { /* NaN too: this is for microseconds, never for a real wait */
        PyErr_SetString(PyExc_ValueError, "poll_briefly: seconds must be at most 1");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    struct pollfd entry;
    double until = monotonic_seconds() + seconds;
    for (;;) {
        entry.fd = fd;
        entry.events = POLLIN;
        entry.revents = 0;
        int got = poll(&entry, 1, 0);
        if (got > 0 || (got < 0 && errno != EINTR)) {
            ready = 1; /* an error too: the receive that follows reports it */
            break;
        }
        if (monotonic_seconds() >= until) {
            break;
        }
    }
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(ready);
}

static PyMethodDef methods[] = {
    {"poll_briefly", poll_briefly, METH_VARARGS, poll_briefly_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "etp_sync.transport._spin_c",
    "Polling a socket briefly without sleeping or holding the GIL (an optional fast path).",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__spin_c(void)
{
    return PyModule_Create(&module);
}
