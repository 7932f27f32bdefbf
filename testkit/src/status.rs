//! `/status` answers checked against `src/management/status.schema.json`
//! by an independent validator (Debian's python3-jsonschema).

use std::path::Path;
use std::process::Command;

use crate::repo;

/// Validate a `/status` answer against the schema; the answer parsed.
/// `dir` holds the answer's file for the validator.
pub fn valid(dir: &Path, body: &str) -> serde_json::Value {
    let file = dir.join("status.json");
    std::fs::write(&file, body).expect("write the answer");
    let schema = repo().join("src/management/status.schema.json");
    let script = "import json, sys, jsonschema\n\
                  schema = json.load(open(sys.argv[1]))\n\
                  jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))\n\
                  print('ok')\n";
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("/usr/bin/python3 is required (with python3-jsonschema)");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "/status does not match the schema:\n{}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(body).expect("/status is JSON")
}
