//! router.toml: read and validated as the box and `lvsinit check` do.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The box refuses what is not UTF-8 before parsing; the parser gets
    // text.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = lvsinit::config::load("router.toml", text);
    }
});
