"""sngan_teach: the small helper package shared by the lessons of sngan-teach.

Each module holds one concern and says which lesson introduces it. Import from the
modules directly, for example ``from sngan_teach.runtime import pick``.
"""

__version__ = "0.1.0"
