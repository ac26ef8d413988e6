//! Writes the served OpenAPI documents to a directory, laid out like the URL paths
//! (`openapi/v2`, `openapi/v3`, `openapi/v3/api/v1`, ...), for inspection or for pointing a
//! real client at a static server.
//!
//! `cargo run -p rudder-openapi --example dump_openapi -- /tmp/openapi-dump`

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "openapi-dump".into()),
    );
    let v3 = out.join("openapi/v3");
    std::fs::create_dir_all(&v3)?;
    std::fs::write(out.join("openapi/v2.json"), rudder_openapi::v2())?;
    let root = rudder_openapi::v3_root();
    std::fs::write(
        out.join("openapi/v3.json"),
        serde_json::to_vec_pretty(&root)?,
    )?;
    if let Some(paths) = root["paths"].as_object() {
        for key in paths.keys() {
            if let Some(doc) = rudder_openapi::v3_document(key) {
                let file = v3.join(format!("{key}.json"));
                if let Some(dir) = file.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(file, doc)?;
            }
        }
    }
    println!("wrote {}", out.display());
    Ok(())
}
