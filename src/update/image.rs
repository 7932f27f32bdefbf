//! What an uploaded system image must look like before it takes a slot:
//! an x86-64 EFI application (the firmware's PE/COFF format) that is also
//! a Linux kernel (the boot protocol's header), as `image/build` makes
//! `out/bzImage`. A router.img, a tarball or half a file is refused before
//! anything is written.

/// Why the bytes are not a system image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("{0} bytes: too short to be a kernel image")]
    TooShort(usize),
    #[error("not an EFI application (no MZ header): send out/bzImage, not the disk image")]
    NotPe,
    #[error("not an EFI application (no PE header where the MZ header points)")]
    NoPeHeader,
    #[error("an EFI application for another machine (type {0:#06x}), not x86-64")]
    Machine(u16),
    #[error("an EFI application, but not a Linux kernel (no HdrS boot header)")]
    NotLinux,
}

/// PE machine type of x86-64.
const AMD64: u16 = 0x8664;
/// Where the boot protocol's setup header says `HdrS`.
const HDRS_AT: usize = 0x202;

/// Check that `bytes` is an x86-64 EFI-stub Linux kernel.
pub fn check(bytes: &[u8]) -> Result<(), ImageError> {
    if bytes.len() < 4096 {
        return Err(ImageError::TooShort(bytes.len()));
    }
    if &bytes[..2] != b"MZ" {
        return Err(ImageError::NotPe);
    }
    let pe = u32::from_le_bytes(bytes[0x3c..0x40].try_into().unwrap()) as usize;
    let header = bytes.get(pe..pe + 6).ok_or(ImageError::NoPeHeader)?;
    if &header[..4] != b"PE\0\0" {
        return Err(ImageError::NoPeHeader);
    }
    let machine = u16::from_le_bytes([header[4], header[5]]);
    if machine != AMD64 {
        return Err(ImageError::Machine(machine));
    }
    if &bytes[HDRS_AT..HDRS_AT + 4] != b"HdrS" {
        return Err(ImageError::NotLinux);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The smallest bytes [`check`] takes: MZ, a PE header at 0x80 for
    /// x86-64, HdrS at 0x202.
    pub(crate) fn fake_kernel(len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; len];
        bytes[..2].copy_from_slice(b"MZ");
        bytes[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        bytes[0x80..0x84].copy_from_slice(b"PE\0\0");
        bytes[0x84..0x86].copy_from_slice(&AMD64.to_le_bytes());
        bytes[HDRS_AT..HDRS_AT + 4].copy_from_slice(b"HdrS");
        bytes
    }

    #[test]
    fn a_kernel_passes_and_other_files_do_not() {
        assert_eq!(check(&fake_kernel(8192)), Ok(()));
        assert_eq!(check(&[0; 100]), Err(ImageError::TooShort(100)));
        let mut gpt = fake_kernel(8192);
        gpt[..2].copy_from_slice(&[0, 0]);
        assert_eq!(check(&gpt), Err(ImageError::NotPe));
        let mut far = fake_kernel(8192);
        far[0x3c..0x40].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert_eq!(check(&far), Err(ImageError::NoPeHeader));
        let mut arm = fake_kernel(8192);
        arm[0x84..0x86].copy_from_slice(&0xaa64u16.to_le_bytes());
        assert_eq!(check(&arm), Err(ImageError::Machine(0xaa64)));
        let mut other = fake_kernel(8192);
        other[HDRS_AT] = b'X';
        assert_eq!(check(&other), Err(ImageError::NotLinux));
    }
}
