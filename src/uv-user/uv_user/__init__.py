"""uv-user: uv with a user-owned project environment outside the workspace.

Everything in this package runs inside the dev container on the image's own
python3 (3.8 or newer) and uses the standard library only: a feature must not
pip-install anything into the user's image to install itself.
"""

__all__ = ["__version__"]

# Kept equal to "version" in devcontainer-feature.json (a unit test checks).
__version__ = "1.1.0"
