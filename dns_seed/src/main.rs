//! The Cinder DNS seed arrives with the network milestone (relay and sync).
fn main() {
    eprintln!("dns-server: not built yet; it arrives with the network milestone");
    std::process::exit(1);
}
