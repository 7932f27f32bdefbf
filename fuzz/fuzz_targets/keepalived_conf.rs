//! keepalived.conf through `lvsinit import` (includes, @conditionals,
//! $PARAMETERs and all), and the router.toml it writes read back.
#![no_main]

use std::sync::OnceLock;

use lvsinit::import::{Format, GivenInterface, Options, import};

fn scratch() -> &'static std::path::Path {
    static FILE: OnceLock<std::path::PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        std::env::temp_dir().join(format!("lvsinit-fuzz-keepalived-{}", std::process::id()))
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let options = Options {
        interfaces: vec![GivenInterface::parse("eth0=192.168.200.2/24").unwrap()],
        config_id: Some("high".into()),
    };
    std::fs::write(scratch(), data).unwrap();
    if let Ok(done) = import(Format::Keepalived, scratch(), &options) {
        let _ = lvsinit::config::load("router.toml", &done.toml);
    }
});
