//! The boot partition as the management subsystem's [`tls::Store`]: where
//! the box keeps the certificate it made, and reads the ones the config
//! names.

use std::io;

use crate::boot_partition::BootPartition;
use crate::management::tls;

/// The mounted boot partition.
pub(super) struct BootStore(BootPartition);

impl BootStore {
    /// The box's boot partition, when the box booted from one.
    pub(super) fn mounted() -> Option<BootStore> {
        match BootPartition::mounted() {
            Ok(partition) => partition.map(BootStore),
            Err(e) => {
                log::warn!("boot partition: {e}");
                None
            }
        }
    }

    pub(super) fn partition(&self) -> &BootPartition {
        &self.0
    }
}

impl tls::Store for BootStore {
    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        self.0.read(name).map_err(io::Error::other)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.0.replace(name, bytes, None).map_err(io::Error::other)
    }
}
