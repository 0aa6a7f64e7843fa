//! The baseline: std alone, printing the line every program prints.
fn main() {
    println!("done");
}
