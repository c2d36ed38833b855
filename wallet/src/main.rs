//! The Cinder wallet (in progress).
fn main() {}
