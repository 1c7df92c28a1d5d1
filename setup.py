"""Build script: everything but the optional compiled loops lives in setup.cfg.

Three small C modules are optional: where no C compiler or headers are found, the build warns and
goes on, and etp_sync uses its Python implementation, with the same results.

- ``etp_sync.codec._varint_c`` encodes and decodes integer arrays (Avro varints) about five
  times faster than the numpy kernels.
- ``etp_sync._xmlscan_c`` reads a data object's identity and citation with expat's events
  handled in C (the embedded server's parse of every document it is sent); it needs expat's
  header, ``expat.h``.
- ``etp_sync.transport._spin_c`` polls a socket for a few microseconds without sleeping and
  without the GIL, so that a caller waiting alone catches a quick reply with no wake-up.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "etp_sync.codec._varint_c",
            sources=["etp_sync/codec/_varint_c.c"],
            optional=True,
        ),
        Extension(
            "etp_sync.transport._spin_c",
            sources=["etp_sync/transport/_spin_c.c"],
            optional=True,
        ),
        Extension(
            "etp_sync._xmlscan_c",
            sources=["etp_sync/_xmlscan_c.c"],
            optional=True,
        ),
    ]
)
