"""Errors of the board backends: each message says which layer, call and register state, and what to do."""

from __future__ import annotations


class BoardError(RuntimeError):
    """The board, its overlay or a transfer failed (the message says which layer/call and why)."""


class OverlayError(BoardError):
    """The overlay files are missing or were built for another configuration."""


class DmaError(BoardError):
    """An AXI DMA channel reported an error or could not be started."""


class KernelTimeout(BoardError):
    """A DMA transfer or the kernel's ap_done did not complete within the timeout."""
