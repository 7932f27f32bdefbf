//! PID 1 of the lvsinit appliance (placeholder while the library lands).
fn main() {
    println!("lvsinit: placeholder");
}
