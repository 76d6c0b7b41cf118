"""The C inference kernel (src/tradingmodel/model/_lstm.c); everything else is in pyproject.toml.

Optional: without a C compiler the install goes on and inference runs the numba twin (same bits, slower)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "tradingmodel.model._lstm",
            ["src/tradingmodel/model/_lstm.c"],
            # no fused multiply-add but the kernel's explicit fmaf, no fast-math: the bits must not depend on the
            # instruction set
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-fast-math"],
            libraries=["m"],
            optional=True,
        )
    ]
)
