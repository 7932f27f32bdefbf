//! VRRP version 3 (RFC 5798): two directors elect a master that holds the
//! virtual addresses.

pub mod packet;
pub mod state;
