//! Helpers for Cinder's multi-process end-to-end tests.
