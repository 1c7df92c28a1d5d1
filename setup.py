"""Build script: everything but the optional compiled varint loops lives in setup.cfg.

``etp_sync.codec._varint_c`` encodes and decodes integer arrays (Avro varints)
about five times faster than the numpy kernels. It is
optional: where no C compiler or Python headers are found, the build warns and goes on, and
etp_sync uses its numpy implementation, with the same results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "etp_sync.codec._varint_c",
            sources=["etp_sync/codec/_varint_c.c"],
            optional=True,
        )
    ]
)
