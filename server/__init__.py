"""Lenses server side: the gRPC edge, storage and the command line.

Protobuf and engine types meet only in ``convert``; everything below it uses
the engine's plain records.
"""
