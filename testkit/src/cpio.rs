//! A newc cpio archive, the format the kernel unpacks an initramfs from:
//! enough to add files to a VM's initrd from a test. The kernel unpacks
//! archives one after the other, so this one (uncompressed) may follow
//! the gzip'd test layer in the same initrd file.

use std::fs;
use std::io;
use std::path::Path;

/// An archive being written: directories and regular files, owned by root.
#[derive(Default)]
pub struct Cpio {
    data: Vec<u8>,
    ino: u32,
    dirs: Vec<String>,
}

impl Cpio {
    /// Add `path` in the archive (absolute, like `/usr/sbin/keepalived`)
    /// with the contents of `source` on this machine (links followed),
    /// its parent directories first.
    pub fn file(&mut self, path: &str, source: &Path) -> io::Result<()> {
        let body = fs::read(source)?;
        let mut parent = String::new();
        for part in path
            .trim_start_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .unwrap()
            .1
        {
            parent.push('/');
            parent.push_str(part);
            if !self.dirs.contains(&parent) {
                self.dirs.push(parent.clone());
                self.entry(&parent, 0o040755, &[]);
            }
        }
        self.entry(path, 0o100755, &body);
        Ok(())
    }

    /// The archive with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[]);
        self.data
    }

    fn entry(&mut self, path: &str, mode: u32, body: &[u8]) {
        self.ino += 1;
        let name = path.trim_start_matches('/');
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            body.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        self.data.extend_from_slice(b"070701");
        for f in fields {
            self.data.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.data.extend_from_slice(name.as_bytes());
        self.data.push(0);
        self.pad();
        self.data.extend_from_slice(body);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
    }
}
