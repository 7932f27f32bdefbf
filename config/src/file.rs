//! Reading a router.toml, wherever it comes from (fw_cfg, the boot
//! partition, the built-in default, `lvsinit check`, later the API), with
//! a bound: a file over [`MAX_BYTES`] is refused before it is read whole
//! or parsed, so that a broken or hostile file cannot take PID 1's memory.
//! The biggest real configs (10,000 services) are under 2 MB.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The most bytes a router.toml may have: 4 MiB.
pub const MAX_BYTES: usize = 4 << 20;

/// What a file over [`MAX_BYTES`] is told.
pub(crate) fn too_big(bytes: usize) -> String {
    format!(
        "the file is {bytes} bytes or more; a router.toml may have at most 4 MiB ({MAX_BYTES} bytes)"
    )
}

/// All of `reader` as UTF-8 text, reading at most one byte past
/// [`MAX_BYTES`] to tell a file that is too big.
pub fn read_bounded(reader: impl Read) -> io::Result<String> {
    let mut bytes = Vec::new();
    reader.take(MAX_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > MAX_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            too_big(bytes.len()),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let message = format!("the file is not UTF-8 text (byte {at} is not)");
        io::Error::new(io::ErrorKind::InvalidData, message)
    })
}

/// [`read_bounded`] of the file at `path`.
pub fn read_file(path: &Path) -> io::Result<String> {
    read_bounded(File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_bound_and_no_further() {
        let fits = "#".repeat(MAX_BYTES);
        assert_eq!(read_bounded(fits.as_bytes()).unwrap().len(), MAX_BYTES);
        // An endless reader is cut off one byte past the bound.
        let endless = io::repeat(b'#');
        let error = read_bounded(endless).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            error.to_string(),
            "the file is 4194305 bytes or more; a router.toml may have at most 4 MiB (4194304 bytes)"
        );
    }

    #[test]
    fn says_where_the_text_stops_being_utf8() {
        let error = read_bounded(&b"hostname = \"a\xff\"\n"[..]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the file is not UTF-8 text (byte 13 is not)"
        );
    }
}
