"""The compiled part of Shieldwall, the hunt's scanner of JSON lines (detection/_scan.c);
everything else about the package is declared in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "shieldwall.detection._scan",
            ["src/shieldwall/detection/_scan.c"],
            extra_compile_args=["-O3"],
        )
    ]
)
