"""acai-repro: adversarial autoencoders (AAE, ACAI, GAIA, MaskAAE) reproduced as a package and a book.

Shared pieces live once here (``data``, ``metrics``, ``training``, ``runner``); each paper's maths lives in its
own subpackage. Importing the package is cheap: submodules are imported where they are used.
"""

__version__ = "0.1.0"
