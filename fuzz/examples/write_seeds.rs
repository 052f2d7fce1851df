//! Writes the seeds of `gridbook_fuzz::seeds` into `corpus/<target>/`. Run in `fuzz/` after a
//! change to the fixtures or to sync-core's formats: `cargo run --example write_seeds
//! --no-default-features`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, name, data) in gridbook_fuzz::seeds() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(&name), &data)?;
        println!("{target}/{name}: {} bytes", data.len());
    }
    Ok(())
}
