//! ipvsadm-save output or ipvsadm lines through `lvsinit import --from
//! ipvsadm`, and the router.toml it writes read back.
#![no_main]

use std::sync::OnceLock;

use lvsinit::import::{Format, GivenInterface, Options, import};

fn scratch() -> &'static std::path::Path {
    static FILE: OnceLock<std::path::PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        std::env::temp_dir().join(format!("lvsinit-fuzz-ipvsadm-{}", std::process::id()))
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let options = Options {
        interfaces: vec![GivenInterface::parse("eth0=192.168.1.1/24,192.168.1.100/24").unwrap()],
        config_id: None,
    };
    std::fs::write(scratch(), data).unwrap();
    if let Ok(done) = import(Format::Ipvsadm, scratch(), &options) {
        let _ = lvsinit::config::load("router.toml", &done.toml);
    }
});
