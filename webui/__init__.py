"""A local Stable Diffusion web UI in the style of AUTOMATIC1111."""

VERSION = "0.1.0"
